"""Pruning scores: each method maps (model, current mask) to a score per prunable weight; higher = keep.

Adding a method is one function here and one entry in SCORERS. Pruned weights need no special score:
``mask_from_scores`` never revives them.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from pruning.mask import Mask

Scorer = Callable[[nn.Module, Mask, torch.Generator], dict[str, torch.Tensor]]


def magnitude(model: nn.Module, mask: Mask, generator: torch.Generator) -> dict[str, torch.Tensor]:
    params = dict(model.named_parameters())
    return {name: params[name].detach().abs().float().cpu() for name in mask}


def random(model: nn.Module, mask: Mask, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Uniform random scores: random pruning (global or layerwise, per the scope), the first control for any
    ticket."""
    return {name: torch.rand(m.shape, generator=generator) for name, m in mask.items()}


SCORERS: dict[str, Scorer] = {"magnitude": magnitude, "random": random}
