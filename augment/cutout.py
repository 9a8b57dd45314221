"""Cutout (DeVries & Taylor, 2017): zero a square whose centre is uniform over the whole image."""

import torch
from torch import Tensor, nn


class Cutout(nn.Module):
    """Zero a ``size`` x ``size`` square per sample, clipped at the image borders.

    The centre (row, col) is uniform over every pixel, borders included; the square spans rows
    ``[row - size // 2, row - size // 2 + size)`` and likewise for columns.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        if size <= 0:
            raise ValueError(f"cutout size must be positive, got {size}")
        self.size = size

    def sample(self, x: Tensor) -> Tensor:
        """Returns centres [B, 2] = (row, col)."""
        batch, _, h, w = x.shape
        row = torch.randint(h, (batch,), device=x.device)
        col = torch.randint(w, (batch,), device=x.device)
        return torch.stack((row, col), dim=1)

    def transform(self, x: Tensor, centre: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        start = centre - self.size // 2  # [B, 2]
        rows = torch.arange(h, device=x.device) - start[:, :1]  # [B, H], position inside the square
        cols = torch.arange(w, device=x.device) - start[:, 1:]
        inside = ((rows >= 0) & (rows < self.size))[:, :, None] & ((cols >= 0) & (cols < self.size))[:, None, :]
        return x.masked_fill(inside[:, None], 0)

    def forward(self, x: Tensor) -> Tensor:
        return self.transform(x, self.sample(x))
