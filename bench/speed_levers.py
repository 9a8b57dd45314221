"""Candidate speed-ups of the training step, measured by ``bench/bench_speedups.py`` before any becomes a default.

Each targets a cost in the profile of the compiled step on an H200 (torch 2.11, ResNet-18, batch 100, bf16,
2.13 ms a step; ``bench/profile_step.py``) and keeps what a run computes:

- ``compiled_masked_update``: the SGD update (72 us a step as torch's fused kernel) and the mask (38 us, a second
  pass over the conv weights) as one compiled function, which Inductor can fuse into one pass per parameter group.
  Same update; the rounding of ``p - lr * buf`` may differ in the last bit; pruned weights are exactly zero.
- ``drop_bn_counters``: BatchNorm's ``num_batches_tracked += 1`` is 20 one-element kernels a step (22 us), and
  with a fixed ``momentum`` (0.1 here) the counter is never read. Same outputs; the counter leaves the state dict.
- ``Im2colConv2d``: the stem's 3-input-channel convolution runs a generic cuDNN kernel (45 us a step); as
  im2col and one matrix product it is a GEMM with K = 27. Same convolution up to summation order.

If a lever pays on a GPU it moves into the library as a default (and out of this file); if not, it goes.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from pruning.mask import MaskApplier
from training.sgd import SGD


def compiled_masked_update(optimizer: SGD, apply_mask: MaskApplier) -> Callable[[], None]:
    """``optimizer.step()`` then ``apply_mask()`` (``training.step.masked_update``) as one ``torch.compile``'d
    function: per group (masked weights, other parameters) one chain of foreach ops that Inductor fuses, reading
    weight, gradient, momentum and mask once and writing weight and momentum once. Every parameter must have a
    gradient when it runs (true after a backward of the whole model)."""
    factor_of = {id(w): f for w, f in zip(apply_mask.weights, apply_mask.factors)}
    groups = []
    for masked in (True, False):
        pairs = [(p, b) for p, b in zip(optimizer.params, optimizer.buffers) if (id(p) in factor_of) == masked]
        if pairs:
            params, buffers = [p for p, _ in pairs], [b for _, b in pairs]
            groups.append((params, buffers, [factor_of[id(p)] for p in params] if masked else None))

    @torch.no_grad()
    def update() -> None:
        for params, buffers, factors in groups:
            grads = [p.grad for p in params]
            decayed = torch._foreach_add(grads, params, alpha=optimizer.weight_decay)
            torch._foreach_mul_(buffers, optimizer.momentum)
            torch._foreach_add_(buffers, decayed)
            new = torch._foreach_sub(params, torch._foreach_mul(buffers, optimizer.lr))
            if factors is not None:
                new = torch._foreach_mul(new, factors)
            torch._foreach_copy_(params, new)
    return torch.compile(update)


def drop_bn_counters(model: nn.Module) -> nn.Module:
    """Remove ``num_batches_tracked`` from every BatchNorm whose ``momentum`` is set (there it is never read)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.momentum is not None:
            module.num_batches_tracked = None
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
    """Compute the first convolution of ``model`` (the stem) with ``Im2colConv2d``."""
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    if conv.groups != 1 or isinstance(conv.padding, str) or conv.padding_mode != "zeros":
        raise ValueError(f"not a plain convolution: {conv}")
    conv.__class__ = Im2colConv2d
    return model
