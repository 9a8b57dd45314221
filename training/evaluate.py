"""Test-set evaluation in large batches (bf16 autocast on CUDA), returning a device tensor: no host sync."""
from __future__ import annotations

import torch
from torch import nn

from training.precision import autocast, to_float


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, precision: str,
             channels_last: bool = False, batch_size: int = 1000) -> torch.Tensor:
    """Fraction of ``(x, y)`` (uint8 images, labels; on any device) that ``model`` classifies correctly."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    for start in range(0, len(y), batch_size):
        xb = to_float(x[start:start + batch_size].to(device, non_blocking=True), channels_last)
        yb = y[start:start + batch_size].to(device, non_blocking=True)
        with autocast(device, precision):
            correct += (model(xb).argmax(1) == yb).sum()
    model.train(was_training)
    return correct.double() / len(y)
