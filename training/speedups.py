"""Candidate speed-ups of the training step (``--speedups``), off until ``bench/bench_speedups.py`` measures them.

Each targets a cost in the profile of the compiled step on an H200 (torch 2.11, ResNet-18, batch 100, bf16,
2.13 ms a step; ``bench/profile_step.py``) and keeps what a run computes, so ``--speedups`` is a job setting (not
in the run id, like ``--compile``) and a run may be resumed with or without it:

- ``masked_update`` (``compiled_masked_update``): the SGD update (72 us a step as torch's fused kernel) and the
  mask (38 us, a second pass over the conv weights) as one compiled function, which Inductor can fuse into one
  pass per parameter group. Same update; the rounding of ``p - lr * buf`` may differ in the last bit; pruned
  weights are exactly zero.
- ``bn_counters`` (``freeze_bn_counters``): BatchNorm's ``num_batches_tracked += 1`` is 20 one-element kernels a
  step (22 us), and with a fixed ``momentum`` (0.1 here) the counter is never read. Same outputs and running
  statistics; the counter stays in the state dict (so weights and checkpoints load either way) but stops counting.
- ``im2col_stem`` (``Im2colConv2d``): the stem's 3-input-channel convolution runs a generic cuDNN kernel (45 us a
  step); as im2col and one matrix product it is a GEMM with K = 27. Same convolution up to summation order.

What a GPU measures as paying becomes a default; what does not is deleted from here.
"""
from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from pruning.mask import MaskApplier
from training.sgd import SGD
from training.step import masked_update
from utils.errors import UserError

SPEEDUPS = ("masked_update", "bn_counters", "im2col_stem")  # the names --speedups takes


def parse_speedups(spec: str) -> tuple[str, ...]:
    """``--speedups``'s comma-separated names, in ``SPEEDUPS`` order ("" is none: the default step)."""
    names = {name.strip() for name in spec.split(",") if name.strip()}
    unknown = sorted(names - set(SPEEDUPS))
    if unknown:
        raise UserError(f"--speedups: unknown {', '.join(unknown)}; choose from {', '.join(SPEEDUPS)}")
    return tuple(name for name in SPEEDUPS if name in names)


def prepare_model(model: nn.Module, speedups: tuple[str, ...]) -> nn.Module:
    """``model`` with the model speed-ups among ``speedups`` applied in place (idempotent: every level of a run
    trains the same model object)."""
    if "bn_counters" in speedups:
        freeze_bn_counters(model)
    if "im2col_stem" in speedups:
        im2col_stem(model)
    return model


def update_builder(speedups: tuple[str, ...]) -> Callable[[SGD, MaskApplier], Callable[[], None]]:
    """What builds a step's parameter update: ``training.step.masked_update`` or the compiled one."""
    return compiled_masked_update if "masked_update" in speedups else masked_update


@torch.no_grad()
def _sgd_then_mask(params: list[torch.Tensor], grads: list[torch.Tensor], buffers: list[torch.Tensor],
                   factors: list[torch.Tensor] | None, lr: torch.Tensor, momentum: float,
                   weight_decay: float) -> None:
    decayed = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_mul_(buffers, momentum)
    torch._foreach_add_(buffers, decayed)
    new = torch._foreach_sub(params, torch._foreach_mul(buffers, lr))
    if factors is not None:
        new = torch._foreach_mul(new, factors)
    torch._foreach_copy_(params, new)


@functools.cache
def _compiled_sgd_then_mask() -> Callable[..., None]:
    """``_sgd_then_mask`` compiled once per process: the tensors are arguments, not closure cells, so the levels of
    a run (new momentum buffers and masks each) reuse the compiled code rather than recompiling up to Dynamo's
    recompile limit."""
    return torch.compile(_sgd_then_mask)


def compiled_masked_update(optimizer: SGD, apply_mask: MaskApplier) -> Callable[[], None]:
    """``optimizer.step()`` then ``apply_mask()`` (``training.step.masked_update``) as one ``torch.compile``'d
    function: per group (masked weights, other parameters) one chain of foreach ops that Inductor fuses, reading
    weight, gradient, momentum and mask once and writing weight and momentum once. A step in which some parameter
    has no gradient (before the first backward reaches it) takes the default update, which leaves it alone."""
    factor_of = {id(w): f for w, f in zip(apply_mask.weights, apply_mask.factors)}
    groups = []
    for masked in (True, False):
        pairs = [(p, b) for p, b in zip(optimizer.params, optimizer.buffers) if (id(p) in factor_of) == masked]
        if pairs:
            params, buffers = [p for p, _ in pairs], [b for _, b in pairs]
            groups.append((params, buffers, [factor_of[id(p)] for p in params] if masked else None))
    default, compiled = masked_update(optimizer, apply_mask), _compiled_sgd_then_mask()

    def update() -> None:
        if any(p.grad is None for p in optimizer.params):
            default()
            return
        for params, buffers, factors in groups:
            compiled(params, [p.grad for p in params], buffers, factors, optimizer.lr, optimizer.momentum,
                     optimizer.weight_decay)
    return update


class UncountedBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` with a fixed ``momentum`` that does not advance ``num_batches_tracked``, which only a
    ``momentum=None`` BatchNorm reads. Same outputs, running statistics and state-dict keys as the
    ``nn.BatchNorm2d`` it replaces (``freeze_bn_counters`` swaps the class in place)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        # as nn.BatchNorm2d with track_running_stats: batch statistics (and running ones updated) in training
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                            self.momentum, self.eps)


def freeze_bn_counters(model: nn.Module) -> nn.Module:
    """Every ``nn.BatchNorm2d`` of ``model`` whose counter is never read (``momentum`` set, running statistics
    tracked) computed as ``UncountedBatchNorm2d``."""
    for module in model.modules():
        if type(module) is nn.BatchNorm2d and module.momentum is not None and module.track_running_stats:
            module.__class__ = UncountedBatchNorm2d
    return model


class Im2colConv2d(nn.Conv2d):
    """``nn.Conv2d`` computed as im2col (``F.unfold``) and one matrix product, the result in the input's layout.

    For plain convolutions only: ``groups=1``, numeric zero padding. Same parameters and state dict as the
    ``nn.Conv2d`` it replaces (``im2col_stem`` swaps the class in place)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, height, width = x.shape
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
        out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        columns = F.unfold(x, self.kernel_size, dilation=self.dilation, padding=self.padding, stride=self.stride)
        out = columns.transpose(1, 2) @ self.weight.flatten(1).t()  # (n, positions, out_channels)
        if self.bias is not None:
            out = out + self.bias
        out = out.view(n, out_h, out_w, -1).permute(0, 3, 1, 2)  # a channels_last view
        # in the input's layout, as a convolution returns it (a channels_last output in a contiguous CPU model
        # sent oneDNN's 1x1 weight-gradient kernel into minutes-long runs, torch 2.14)
        return out if x.is_contiguous(memory_format=torch.channels_last) else out.contiguous()


def im2col_stem(model: nn.Module) -> nn.Module:
    """Compute the stem of ``model``, its first convolution, with ``Im2colConv2d``. The first module that is a
    convolution or lists ``prunable_parameters`` (``models.HarmonicConv2d``) is the stem; it must be a plain
    ``nn.Conv2d``."""
    stem = next((m for m in model.modules() if isinstance(m, nn.Conv2d) or getattr(m, "prunable_parameters", ())),
                None)
    if not isinstance(stem, nn.Conv2d) or stem.groups != 1 or isinstance(stem.padding, str) \
            or stem.padding_mode != "zeros":
        raise UserError(f"--speedups im2col_stem needs a plain convolution as the model's stem, got {stem}")
    stem.__class__ = Im2colConv2d
    return model
