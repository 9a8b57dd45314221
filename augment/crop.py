"""Standard CIFAR augmentation: random crop from a zero-padded image, then horizontal flip p=0.5 (and, for
datasets without an up and down such as satellite images, vertical flip p=0.5)."""

import torch
from torch import Tensor, nn


class RandomCropFlip(nn.Module):
    """``RandomCrop(size, padding=pad)`` then ``RandomHorizontalFlip()`` (then ``RandomVerticalFlip()`` if
    ``vflip``), offsets and flips per sample.

    Crop and flips are one gather: output pixel (i, j) reads input pixel (i' + dy - pad, j' + dx - pad) with
    j' = W - 1 - j when flipped horizontally (i' likewise vertically), 0 where that falls in the padding.
    """

    def __init__(self, pad: int, vflip: bool = False) -> None:
        super().__init__()
        self.pad, self.vflip = pad, vflip

    def sample(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """Returns (offset [B, 2] = (dy, dx) uniform in 0..2*pad, horizontal flip [B] bool, vertical flip [B]
        bool or None). Without ``vflip`` no vertical draw is made (the random stream stays that of the CIFAR
        recipe) and none is applied."""
        batch = x.shape[0]
        offset = torch.randint(2 * self.pad + 1, (batch, 2), device=x.device)
        flip = torch.rand(batch, device=x.device) < 0.5
        vflip = (torch.rand(batch, device=x.device) < 0.5) if self.vflip else None
        return offset, flip, vflip

    def transform(self, x: Tensor, offset: Tensor, flip: Tensor, vflip: Tensor | None = None) -> Tensor:
        b, c, h, w = x.shape
        rows = torch.arange(h, device=x.device)
        if vflip is not None:
            rows = torch.where(vflip[:, None], h - 1 - rows, rows)
        rows = rows + offset[:, :1] - self.pad  # [B, H]
        cols = torch.arange(w, device=x.device)
        cols = torch.where(flip[:, None], w - 1 - cols, cols) + offset[:, 1:] - self.pad  # [B, W]
        inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
        out = x.gather(2, rows.clamp(0, h - 1)[:, None, :, None].expand(b, c, h, w))
        out = out.gather(3, cols.clamp(0, w - 1)[:, None, None, :].expand(b, c, h, w))
        return out.masked_fill(~inside[:, None], 0)

    def forward(self, x: Tensor) -> Tensor:
        return self.transform(x, *self.sample(x))
