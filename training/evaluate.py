"""Test-set evaluation in large batches (bf16 autocast on CUDA), returning device tensors: no host sync."""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from training.precision import autocast, to_float

# Values (images x channels x pixels) per evaluation batch: 1000 CIFAR images, about 450 at 224 px.
EVAL_VALUES = 1 << 26


def eval_batch_size(image_values: int) -> int:
    return max(1, min(1000, EVAL_VALUES // image_values))


def _predictions(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, precision: str,
                 channels_last: bool, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(predicted class, label) per batch of ``(x, y)`` on ``device``, the model in eval mode meanwhile."""
    was_training = model.training
    model.eval()
    batch_size = batch_size or eval_batch_size(x[0].numel())
    try:
        for start in range(0, len(y), batch_size):
            xb = to_float(x[start:start + batch_size].to(device, non_blocking=True), channels_last)
            yb = y[start:start + batch_size].to(device, non_blocking=True)
            with autocast(device, precision):
                yield model(xb).argmax(1), yb
    finally:
        model.train(was_training)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, precision: str,
             channels_last: bool = False, batch_size: int = 0) -> torch.Tensor:
    """Fraction of ``(x, y)`` (uint8 images, labels; on any device) that ``model`` classifies correctly, as a
    0-dim device tensor. ``batch_size`` 0 picks one from the image size (``eval_batch_size``)."""
    correct = torch.zeros((), dtype=torch.long, device=device)
    for predicted, yb in _predictions(model, x, y, device, precision, channels_last, batch_size):
        correct += (predicted == yb).sum()
    return correct.double() / len(y)


@torch.no_grad()
def confusion(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, device: torch.device,
              precision: str, channels_last: bool = False, batch_size: int = 0) -> torch.Tensor:
    """Confusion counts of ``model`` on ``(x, y)`` (uint8 images, labels; on any device): an int64
    [num_classes, num_classes] tensor on ``device``, row = true class, column = predicted class.

    Counts accumulate with ``index_add_`` (``torch.bincount`` would read its maximum back to the host on CUDA).
    ``batch_size`` 0 picks one from the image size (``eval_batch_size``).
    """
    counts = torch.zeros(num_classes * num_classes, dtype=torch.long, device=device)
    for predicted, yb in _predictions(model, x, y, device, precision, channels_last, batch_size):
        counts.index_add_(0, yb * num_classes + predicted, torch.ones_like(yb))
    return counts.view(num_classes, num_classes)
