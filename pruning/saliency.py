"""Pruning-at-initialisation scores that need gradients: SNIP, GraSP and SynFlow.

Each scores a copy of the model (the caller's model, BatchNorm statistics included, is left as it was) in
float32 without autocast, and returns CPU tensors ranked like every other score: higher = keep.

* SNIP (Lee et al. 2019): ``|g * w|``, the connection sensitivity, with ``g`` the gradient of the training loss
  summed over the batches given. BatchNorm is in training mode (batch statistics), as in SNIP's and GraSP's
  published code; Synaptic-Flow's reimplementation scores in eval mode by default, which at initialisation
  (running statistics 0 and 1) gives very different masks.
* GraSP (Wang et al. 2020): ``w * Hg``, keeping the largest, with ``g`` as for SNIP (at temperature
  ``GRASP_TEMPERATURE``, BatchNorm in training mode too) and ``Hg`` the Hessian-gradient product. Both are taken
  over the prunable weights and the classifier's (every ``nn.Linear`` weight), as in the paper, its authors' code
  and Synaptic-Flow's: the classifier's block of ``g`` enters ``Hg`` of every conv weight. Only the prunable
  weights are scored. Sign: the
  paper defines ``S(-w) = -w * Hg`` and its Algorithm 1 removes the weights whose ``S(-w)`` lies above the
  percentile, i.e. keeps the smallest ``-w * Hg`` = the largest ``w * Hg``; the authors' code does the same,
  and so does the SynFlow authors' reimplementation. Some later reimplementations rank ``|w * Hg|`` or keep the
  smallest ``w * Hg`` instead; those are different methods with the same name, and we do not follow them.
* SynFlow (Tanaka et al. 2020): ``|w * dR/dw|`` where ``R`` is the sum of the outputs of the network with every
  parameter replaced by its absolute value, BatchNorm in evaluation mode, on an all-ones input. No data. Scores
  are divided by ``R`` (a positive constant, so the ranking is unchanged) and computed in float64, so deep or
  wide networks neither overflow nor lose the smallest scores. Iteration (100 rounds) is ``pruning.methods.prune``.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from pruning.mask import Mask
from pruning.scores import ScoreContext

# The softmax temperature of GraSP's loss, as in the authors' code (their CIFAR experiments divide logits by 200).
GRASP_TEMPERATURE = 200.0


def _copy_and_weights(model: nn.Module, mask: Mask, dtype: torch.dtype = torch.float32
                      ) -> tuple[nn.Module, list[torch.Tensor]]:
    net = copy.deepcopy(model).to(dtype=dtype, memory_format=torch.contiguous_format)
    params = dict(net.named_parameters())
    return net, [params[name] for name in mask]


def _loss_gradients(net: nn.Module, weights: list[torch.Tensor], ctx: ScoreContext, temperature: float = 1.0
                    ) -> list[torch.Tensor]:
    """The gradient of the mean cross-entropy, summed over ``ctx.batches``."""
    if not ctx.batches:
        raise ValueError("this pruning score needs batches of training data (ScoreContext.batches)")
    total = [torch.zeros_like(w) for w in weights]
    for x, y in ctx.batches:
        grads = torch.autograd.grad(F.cross_entropy(net(x) / temperature, y), weights)
        total = [t + g for t, g in zip(total, grads)]
    return total


def snip(model: nn.Module, mask: Mask, ctx: ScoreContext) -> dict[str, torch.Tensor]:
    net, weights = _copy_and_weights(model, mask)
    net.train()
    grads = _loss_gradients(net, weights, ctx)
    return {name: (g * w).detach().abs().cpu() for name, g, w in zip(mask, grads, weights)}


def grasp(model: nn.Module, mask: Mask, ctx: ScoreContext) -> dict[str, torch.Tensor]:
    net, weights = _copy_and_weights(model, mask)
    # g and Hg over the prunable weights and the classifier's; only the first len(weights) are scored
    every = weights + [m.weight for m in net.modules()
                       if isinstance(m, nn.Linear) and not any(m.weight is w for w in weights)]
    net.train()
    g = _loss_gradients(net, every, ctx, GRASP_TEMPERATURE)
    hg = [torch.zeros_like(w) for w in every]
    for x, y in ctx.batches:
        grads = torch.autograd.grad(F.cross_entropy(net(x) / GRASP_TEMPERATURE, y), every, create_graph=True)
        dot = sum((a * b).sum() for a, b in zip(grads, g))
        hg = [t + h for t, h in zip(hg, torch.autograd.grad(dot, every))]
    return {name: (w * h).detach().cpu() for name, w, h in zip(mask, weights, hg)}


def synflow(model: nn.Module, mask: Mask, ctx: ScoreContext) -> dict[str, torch.Tensor]:
    if not ctx.input_shape:
        raise ValueError("synflow needs the input shape (ScoreContext.input_shape)")
    net, weights = _copy_and_weights(model, mask, torch.float64)
    net.eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    ones = torch.ones((1, *ctx.input_shape), dtype=torch.float64, device=weights[0].device)
    flow = net(ones).sum()
    grads = torch.autograd.grad(flow, weights)
    return {name: (g * w / flow).detach().cpu() for name, g, w in zip(mask, grads, weights)}
