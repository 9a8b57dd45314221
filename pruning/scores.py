"""Pruning scores: each method maps (model, current mask, context) to a score per prunable weight; higher = keep.

Adding a method is one function (here, or in ``pruning.saliency`` when it needs gradients) and one entry in
``pruning.methods.SCORERS``. Pruned weights need no special score: ``mask_from_scores`` never revives them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from pruning.mask import Mask

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class ScoreContext:
    """What a scorer may use besides the model and the mask.

    ``density`` is the fraction of all prunable weights the mask being chosen will keep (the ERK rule derives
    its per-layer densities from it). ``batches`` are float [0, 1] images and labels of the run's own training
    subset, on the model's device, for the scorers that need data; ``input_shape`` is one image's [C, H, W], for
    the data-free SynFlow.
    """
    generator: torch.Generator | None = None
    density: float = 1.0
    batches: Sequence[Batch] = ()
    input_shape: tuple[int, ...] = ()


Scorer = Callable[[nn.Module, Mask, ScoreContext], dict[str, torch.Tensor]]


def magnitude(model: nn.Module, mask: Mask, ctx: ScoreContext) -> dict[str, torch.Tensor]:
    params = dict(model.named_parameters())
    return {name: params[name].detach().abs().float().cpu() for name in mask}


def random(model: nn.Module, mask: Mask, ctx: ScoreContext) -> dict[str, torch.Tensor]:
    """Uniform random scores: random pruning (global or layerwise, per the scope), the first control for any
    ticket."""
    return {name: torch.rand(m.shape, generator=ctx.generator) for name, m in mask.items()}


def erk_densities(mask: Mask, density: float) -> dict[str, float]:
    """Per-layer densities by the Erdos-Renyi-Kernel rule (Evci et al. 2020, RigL): layer l keeps a fraction
    proportional to ``sum(shape) / prod(shape)`` (so small layers stay denser), scaled so that all layers
    together keep ``density`` of the weights; a layer the rule would make denser than 1 is kept dense and the
    scale is solved again for the others."""
    sizes = {name: m.numel() for name, m in mask.items()}
    raw = {name: sum(m.shape) / m.numel() for name, m in mask.items()}
    dense: set[str] = set()
    while True:
        budget = density * sum(sizes.values()) - sum(sizes[n] for n in dense)
        scale = budget / sum(raw[n] * sizes[n] for n in mask if n not in dense)
        over = {n for n in mask if n not in dense and scale * raw[n] > 1}
        if not over:
            return {n: 1.0 if n in dense else scale * raw[n] for n in mask}
        dense |= over


def _at_layer_densities(mask: Mask, densities: dict[str, float], generator: torch.Generator | None
                        ) -> dict[str, torch.Tensor]:
    """Random scores that rank like a random mask with the given per-layer densities.

    Each weight's score is its layer's density minus a random quantile ``(i + 0.5) / n`` (a random permutation
    of i): exactly ``round(d * n)`` weights of a layer score above 0, so the global top-k of ``mask_from_scores``
    (which keeps ``round(density * total)``) takes those, give or take the weights nearest the threshold.
    """
    scores = {}
    for name, m in mask.items():
        n = m.numel()
        quantile = (torch.randperm(n, generator=generator).double() + 0.5) / n
        scores[name] = (densities[name] - quantile).view(m.shape)
    return scores


def random_erk(model: nn.Module, mask: Mask, ctx: ScoreContext) -> dict[str, torch.Tensor]:
    return _at_layer_densities(mask, erk_densities(mask, ctx.density), ctx.generator)


def random_uniform(model: nn.Module, mask: Mask, ctx: ScoreContext) -> dict[str, torch.Tensor]:
    return _at_layer_densities(mask, {name: ctx.density for name in mask}, ctx.generator)
