"""The ImageNet recipe's training crop, batched: ``RandomResizedCrop(size)`` + flips, per sample, on the device.

Training images of these datasets are stored larger than the model input (``datasets.images``); each sample
draws its own box exactly as ``torchvision.transforms.RandomResizedCrop.get_params`` does (10 tries of a
scale and log-uniform aspect ratio, the first box that fits wins, else the whole image clipped to the ratio
range, centred), and all boxes are resampled to ``size`` x ``size`` at once by ``torchvision.ops.roi_align``
(bilinear, averaging ``ceil(box / size)`` samples per output pixel when shrinking, which stands in for
torchvision's antialiased resize). Shapes are static and nothing is read back to the host.
"""

import math

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align


class RandomResizedCropFlip(nn.Module):
    """Random-resized crop to ``size`` (scale and ratio as torchvision's defaults), then horizontal flip p=0.5
    (and vertical flip p=0.5 with ``vflip``)."""

    def __init__(self, size: int, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), vflip: bool = False, tries: int = 10) -> None:
        super().__init__()
        self.size, self.scale, self.ratio, self.vflip, self.tries = size, scale, ratio, vflip, tries

    def _fallback(self, h: int, w: int) -> tuple[int, int]:
        """torchvision's box when no try fits: the whole image, clipped to the ratio range."""
        in_ratio = w / h
        if in_ratio < min(self.ratio):
            return round(w / min(self.ratio)), w
        if in_ratio > max(self.ratio):
            return h, round(h * max(self.ratio))
        return h, w

    def sample(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Returns (boxes [B, 4] float32 as (left, top, right, bottom) in pixel edges, hflip [B], vflip [B])."""
        b, h, w, dev = x.shape[0], x.shape[-2], x.shape[-1], x.device
        area = h * w
        target = area * torch.empty(b, self.tries, device=dev).uniform_(*self.scale)
        log_ratio = torch.empty(b, self.tries, device=dev).uniform_(math.log(self.ratio[0]), math.log(self.ratio[1]))
        aspect = torch.exp(log_ratio)
        cw, ch = torch.sqrt(target * aspect).round(), torch.sqrt(target / aspect).round()
        fits = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
        first = fits.int().argmax(1, keepdim=True)  # the first try that fits (0 if none does)
        fh, fw = self._fallback(h, w)
        found = fits.any(1)
        bw = torch.where(found, cw.gather(1, first)[:, 0], torch.full_like(found, fw, dtype=cw.dtype))
        bh = torch.where(found, ch.gather(1, first)[:, 0], torch.full_like(found, fh, dtype=ch.dtype))
        # top/left uniform over the integer positions that keep the box inside (torch.randint(0, h - bh + 1))
        top = torch.where(found, (torch.rand(b, device=dev) * (h - bh + 1)).floor(), ((h - bh) / 2).floor())
        left = torch.where(found, (torch.rand(b, device=dev) * (w - bw + 1)).floor(), ((w - bw) / 2).floor())
        boxes = torch.stack((left, top, left + bw, top + bh), dim=1).float()
        hflip = torch.rand(b, device=dev) < 0.5
        vflip = (torch.rand(b, device=dev) < 0.5) if self.vflip else torch.zeros_like(hflip)
        return boxes, hflip, vflip

    def transform(self, x: Tensor, boxes: Tensor, hflip: Tensor, vflip: Tensor) -> Tensor:
        index = torch.arange(x.shape[0], device=x.device, dtype=boxes.dtype)[:, None]
        out = roi_align(x.float(), torch.cat((index, boxes), dim=1), (self.size, self.size), spatial_scale=1.0,
                        sampling_ratio=-1, aligned=True)
        out = torch.where(hflip[:, None, None, None], out.flip(-1), out)
        out = torch.where(vflip[:, None, None, None], out.flip(-2), out)
        return out.round().clamp(0, 255).to(torch.uint8)

    def forward(self, x: Tensor) -> Tensor:
        return self.transform(x, *self.sample(x))


class CenterCrop(nn.Module):
    """The deterministic stand-in for training without augmentation: the centre ``size`` x ``size`` square, as
    ``torchvision.transforms.CenterCrop`` (which is what the test images got when they were stored)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        top, left = int(round((h - self.size) / 2.0)), int(round((w - self.size) / 2.0))
        return x[..., top:top + self.size, left:left + self.size].contiguous()
