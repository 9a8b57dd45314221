"""Building blocks shared by every architecture in :mod:`models`.

Everything that more than one model needs lives here exactly once: the in-model
input normalization, the conv+BN(+ReLU) unit and the weight initialisation.
Models are built only from ``nn.Conv2d`` (always ``bias=False``, since each conv is
followed by BN), ``nn.BatchNorm2d`` and a single ``nn.Linear`` classifier, because
the pruning code selects prunable tensors as *every* ``nn.Conv2d`` weight by
``isinstance`` and leaves BN and the classifier dense.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` for inputs in ``[0, 1]``.

    Placed as the first submodule of every model so that callers (training,
    adversarial attacks, corruption robustness) always feed raw ``[0, 1]`` images
    and can bound perturbations in pixel space. ``mean``/``std`` are buffers of
    shape ``[1, C, 1, 1]``, so they follow ``.to(device)`` and are saved in the
    ``state_dict``. ``mean=None``/``std=None`` mean the identity (0 and 1).
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        num_channels: int,
        mean: Optional[Sequence[float]] = None,
        std: Optional[Sequence[float]] = None,
    ) -> None:
        super().__init__()
        self.register_buffer("mean", _channel_stat(mean, 0.0, num_channels, "mean"))
        self.register_buffer("std", _channel_stat(std, 1.0, num_channels, "std"))
        if bool((self.std <= 0).any()):
            raise ValueError(f"std must be positive, got {self.std.flatten().tolist()}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


def _channel_stat(
    values: Optional[Sequence[float]], default: float, num_channels: int, what: str
) -> torch.Tensor:
    """Turn ``values`` into a ``[1, C, 1, 1]`` float tensor; a single value is broadcast."""
    if values is None:
        values = [default] * num_channels
    values = [float(v) for v in values]
    if len(values) == 1:
        values = values * num_channels
    if len(values) != num_channels:
        raise ValueError(f"{what} has {len(values)} entries but the model has {num_channels} input channels")
    return torch.tensor(values, dtype=torch.float32).view(1, num_channels, 1, 1)


#: ``f(in_channels, out_channels, kernel_size, stride) -> module``: how a model variant builds its convolutions
#: (plain, harmonic, full-padding); every architecture takes one, so a variant changes this and nothing else.
ConvFactory = Callable[[int, int, int, int], nn.Module]


def plain_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.Conv2d:
    """``Conv2d(bias=False)`` with 'same'-style padding ``kernel_size // 2``."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)


def conv_bn(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    relu: bool = False,
    conv: ConvFactory = plain_conv,
) -> nn.Sequential:
    """``conv (bias-free, plain_conv by default) -> BatchNorm2d [-> ReLU]``."""
    layers: list[nn.Module] = [conv(in_channels, out_channels, kernel_size, stride), nn.BatchNorm2d(out_channels)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal (fan_out, ReLU) convs, BN weight 1 / bias 0; Linear keeps PyTorch's default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def check_positive(**kwargs: int) -> None:
    """Raise ``ValueError`` for any non-positive integer hyper-parameter."""
    for key, value in kwargs.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
