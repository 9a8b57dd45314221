"""The one function that turns scores into a mask, shared by every pruning method."""
from __future__ import annotations

from typing import Callable

import torch

from pruning.mask import Mask


def _keep_top(scores: torch.Tensor, alive: torch.Tensor, k: int) -> torch.Tensor:
    """Bool tensor with the ``k`` highest-scoring alive entries of ``scores``; a pruned entry is never kept,
    whatever its score. Ties are broken by ``torch.topk`` (deterministically for a given input)."""
    alive_index = alive.flatten().nonzero().squeeze(1)
    if k > alive_index.numel():
        raise ValueError(f"cannot keep {k} weights: only {alive_index.numel()} are still alive")
    values = scores.flatten().float()[alive_index]
    if torch.isnan(values).any():
        raise ValueError("pruning scores contain NaN")
    keep = torch.zeros(scores.numel(), dtype=torch.bool)
    if k > 0:
        keep[alive_index[torch.topk(values, k, sorted=False).indices]] = True
    return keep.view(scores.shape)


def _layerwise(scores: dict[str, torch.Tensor], density: float, previous: Mask) -> Mask:
    """Each layer keeps ``round(density * its size)`` weights."""
    return Mask({name: _keep_top(scores[name].cpu(), alive, round(density * alive.numel()))
                 for name, alive in previous.items()})


def _global(scores: dict[str, torch.Tensor], density: float, previous: Mask) -> Mask:
    """All layers ranked together; ``round(density * total size)`` weights are kept in all."""
    names = list(previous)
    flat_scores = torch.cat([scores[n].cpu().flatten().float() for n in names])
    flat_alive = torch.cat([previous[n].flatten() for n in names])
    keep = _keep_top(flat_scores, flat_alive, round(density * flat_alive.numel()))
    sizes = [previous[n].numel() for n in names]
    return Mask({n: part.view(previous[n].shape) for n, part in zip(names, keep.split(sizes))})


# --prune-scope name -> (scores, density, previous mask) -> mask
SCOPES: dict[str, Callable[[dict[str, torch.Tensor], float, Mask], Mask]] = {"global": _global,
                                                                             "layerwise": _layerwise}


def mask_from_scores(scores: dict[str, torch.Tensor], density: float, scope: str, previous: Mask) -> Mask:
    """Keep ``round(density * size)`` weights (per layer, or across all layers for ``scope='global'``).

    Only weights alive in ``previous`` can be kept, so masks are nested across levels; ``density`` is the
    target fraction of all prunable weights, not of the remaining ones.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown prune scope {scope!r}; choose from {', '.join(SCOPES)}")
    return SCOPES[scope](scores, density, previous.to("cpu"))
