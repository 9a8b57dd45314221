"""Masks are data: a dict from parameter name to a bool tensor (True = kept).

``Mask.apply_`` is the one place pruned weights are zeroed. The training loop calls it after every optimizer
step (through ``applier``, a fused foreach version), and the IMP loop after every load or rewind. A mask is
never derived from weight values.
"""
from __future__ import annotations

import os

import torch
from torch import nn

from utils.io import load_torch, save_torch


def prunable_names(model: nn.Module) -> list[str]:
    """Every convolution weight (stem and shortcut convs included), and the parameters a module lists in its
    ``prunable_parameters`` (the DCT coefficients of ``models.HarmonicConv2d``); classifier and BatchNorm are not
    pruned."""
    names = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            names.append(f"{name}.weight")
        names.extend(f"{name}.{p}" for p in getattr(module, "prunable_parameters", ()))
    return names


class Mask(dict):
    """``{parameter name: bool tensor}`` with density reports, save/load and in-place application."""

    @classmethod
    def dense(cls, model: nn.Module) -> "Mask":
        params = dict(model.named_parameters())
        return cls({name: torch.ones_like(params[name], dtype=torch.bool) for name in prunable_names(model)})

    def kept(self) -> int:
        return int(sum(int(m.sum()) for m in self.values()))

    def size(self) -> int:
        return sum(m.numel() for m in self.values())

    def density(self) -> float:
        return self.kept() / self.size()

    def per_layer(self) -> dict[str, dict[str, float | int]]:
        return {name: {"kept": int(m.sum()), "total": m.numel(), "density": int(m.sum()) / m.numel()}
                for name, m in self.items()}

    def empty_layers(self) -> list[str]:
        return [name for name, m in self.items() if not bool(m.any())]

    def to(self, device: torch.device | str) -> "Mask":
        return Mask({name: m.to(device) for name, m in self.items()})

    def save(self, path: str | os.PathLike) -> None:
        save_torch({name: m.cpu() for name, m in self.items()}, path)

    @classmethod
    def load(cls, path: str | os.PathLike, remedy: str = "") -> "Mask":
        return cls(load_torch(path, remedy=remedy))

    def applier(self, model: nn.Module) -> "MaskApplier":
        """A callable zeroing the pruned weights of ``model`` in one fused foreach multiply (``MaskApplier``)."""
        params = dict(model.named_parameters())
        missing = [name for name in self if name not in params]
        if missing:
            raise KeyError(f"mask names parameters the model lacks: {missing[:3]}")
        return MaskApplier([params[name] for name in self], list(self.values()))

    def apply_(self, model: nn.Module) -> None:
        """Zero the pruned weights of ``model`` in place."""
        self.applier(model)()


class MaskApplier:
    """``weights *= factors`` for the masked weights of one model, in one fused foreach multiply.

    The masks are converted once to each weight's dtype and device (``factors``), so a call does no conversion
    and no host work; it is safe inside CUDA-graph capture.
    """

    def __init__(self, weights: list[nn.Parameter], masks: list[torch.Tensor]):
        self.weights = weights
        self.factors = [m.to(device=w.device, dtype=w.dtype) for m, w in zip(masks, weights, strict=True)]

    @torch.no_grad()
    def __call__(self) -> None:
        torch._foreach_mul_(self.weights, self.factors)
