"""Harmonic ResNet-18 (after Ulicny, Krylov and Dahyot, "Harmonic convolutional networks based on discrete
cosine transform", Pattern Recognition 2022).

Each k x k convolution (k > 1) is a learned combination of the fixed k x k DCT-II basis: the filter from input
channel i to output channel o is ``sum_b coefficients[o, i, b] * basis[b]``. The learned tensor is
``coefficients`` ``[out, in, k*k]`` (one weight per frequency), and that is what IMP ranks and prunes: pruning
removes frequencies of a filter, not pixels. 1x1 convolutions (the projection shortcuts) have a one-element
basis, so they stay plain ``nn.Conv2d``.

Computed as the paper's harmonic block would be (a depthwise DCT, then a 1x1 combination) the cost would be
k*k times that of a plain convolution; building the filter first (a ``[out*in, k*k] @ [k*k, k*k]`` product)
and running one ordinary convolution costs the same as the plain model.

The basis (``BASES``, ``--harmonic-basis``) is by default orthonormal and complete, so coefficients drawn i.i.d.
normal give filters with the same i.i.d. normal distribution: the harmonic model starts from the plain model's
Kaiming initialisation, in another basis. That is a departure from the released code, whose DCT filters are each
L1-normalised (``l1``: absolute values summing to 1), and it is the default on purpose: IMP ranks coefficients by
magnitude, and only in an orthonormal basis is a coefficient's magnitude its frequency's share of the filter
(Parseval). L1-normalised filters have L2 norms from 1/3 (the mean filter) to 1/2, so the same coefficient
magnitude means up to 1.5 times more filter energy at some frequencies than at others, and magnitude pruning
would favour keeping the mean filter's coefficients for their basis's scale rather than their use; the filters
also start about 2.5 times smaller than Kaiming's (BatchNorm follows every conv, so the forward pass does not
care, but weight decay and the learning rate act at another relative scale).
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from .common import plain_conv
from .resnet import ResNet, resnet18


def dct_basis(k: int, basis: str = "orthonormal") -> torch.Tensor:
    """The 2-D DCT-II basis of k x k filters, ``[k*k, k, k]`` (frequency ``(u, v)`` at ``u*k + v``), each filter
    normalised as ``basis`` says (``BASES``)."""
    pos = torch.arange(k, dtype=torch.float64)
    freq = torch.arange(k, dtype=torch.float64)[:, None]
    one_d = torch.cos(math.pi * (2 * pos + 1) * freq / (2 * k)) * math.sqrt(2 / k)
    one_d[0] /= math.sqrt(2)
    filters = torch.einsum("ux,vy->uvxy", one_d, one_d).reshape(k * k, k, k)
    if basis == "l1":
        filters = filters / filters.abs().sum((1, 2), keepdim=True)
    elif basis != "orthonormal":
        raise ValueError(f"unknown harmonic basis {basis!r}; choices: {', '.join(BASES)}")
    return filters.float()


#: ``--harmonic-basis``: ``orthonormal`` (the default, see the module docstring) or ``l1`` (the released code's).
BASES = ("orthonormal", "l1")


class HarmonicConv2d(nn.Module):
    """A bias-free k x k convolution whose filters are learned coefficients of the fixed DCT basis."""

    #: parameters that ``pruning.prunable_names`` prunes (it prunes every ``nn.Conv2d`` weight on its own)
    prunable_parameters = ("coefficients",)

    basis: torch.Tensor

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 basis: str = "orthonormal") -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding = stride, kernel_size // 2  # 'same' padding, as plain_conv
        self.basis_kind = basis
        self.register_buffer("basis", dct_basis(kernel_size, basis).reshape(kernel_size ** 2, kernel_size ** 2),
                             persistent=False)  # fixed, and rebuilt identically: not part of the state dict
        self.coefficients = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size ** 2))
        # fan_out = out * k*k, as for the plain conv's Kaiming init (see the module docstring)
        nn.init.kaiming_normal_(self.coefficients, mode="fan_out", nonlinearity="relu")

    def filters(self) -> torch.Tensor:
        """The spatial filters ``[out, in, k, k]`` the coefficients stand for."""
        k = self.kernel_size
        return (self.coefficients @ self.basis.to(self.coefficients.dtype)).view(self.out_channels,
                                                                                 self.in_channels, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.filters()
        if x.is_contiguous(memory_format=torch.channels_last):
            weight = weight.contiguous(memory_format=torch.channels_last)
        return F.conv2d(x, weight, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, basis=DCT-II {self.basis_kind}")


def harmonic_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int,
                  basis: str = "orthonormal") -> nn.Module:
    """The ``ConvFactory`` of the harmonic ResNet: DCT-parametrised for k > 1, plain for 1x1."""
    if kernel_size == 1:
        return plain_conv(in_channels, out_channels, kernel_size, stride)
    return HarmonicConv2d(in_channels, out_channels, kernel_size, stride, basis)


def hresnet18(num_classes: int, basis: str = "orthonormal", **kwargs) -> ResNet:
    """Harmonic ResNet-18: ResNet-18 with every 3x3 (and the ImageNet stem's 7x7) conv harmonic, in ``basis``."""
    return resnet18(num_classes, conv=functools.partial(harmonic_conv, basis=basis), **kwargs)
