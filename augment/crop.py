"""Standard CIFAR augmentation: random crop from a zero-padded image, then horizontal flip p=0.5."""

import torch
from torch import Tensor, nn


class RandomCropFlip(nn.Module):
    """``RandomCrop(size, padding=pad)`` then ``RandomHorizontalFlip()``, offsets and flips per sample.

    Crop and flip are one gather: output pixel (i, j) reads input pixel
    (i + dy - pad, j' + dx - pad) with j' = W - 1 - j when flipped, 0 where that falls in the padding.
    """

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad

    def sample(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (offset [B, 2] = (dy, dx) uniform in 0..2*pad, flip [B] bool)."""
        batch = x.shape[0]
        offset = torch.randint(2 * self.pad + 1, (batch, 2), device=x.device)
        flip = torch.rand(batch, device=x.device) < 0.5
        return offset, flip

    def transform(self, x: Tensor, offset: Tensor, flip: Tensor) -> Tensor:
        b, c, h, w = x.shape
        rows = torch.arange(h, device=x.device) + offset[:, :1] - self.pad  # [B, H]
        cols = torch.arange(w, device=x.device)
        cols = torch.where(flip[:, None], w - 1 - cols, cols) + offset[:, 1:] - self.pad  # [B, W]
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
        out = x.gather(2, rows.clamp(0, h - 1)[:, None, :, None].expand(b, c, h, w))
        out = out.gather(3, cols.clamp(0, w - 1)[:, None, None, :].expand(b, c, h, w))
        return out.masked_fill(~inside[:, None], 0)

    def forward(self, x: Tensor) -> Tensor:
        return self.transform(x, *self.sample(x))
