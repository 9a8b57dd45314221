"""Mixup (Zhang et al., 2018) and CutMix (Yun et al., 2019) on a batch, entirely on the device.

Each sample is mixed with its neighbour in the (already shuffled) batch, ``x.roll(1, 0)``.
Lambda ~ Beta(alpha, alpha) is drawn once per batch, as in the papers; the CutMix box centre is
uniform over the image, its sides are ``floor(side * sqrt(1 - lambda))``, it is clipped at the
borders and the target weight uses the area actually pasted.
"""

import torch
from torch import Tensor

from augment.sampling import dirichlet


def _beta(alpha: float, like: Tensor) -> Tensor:
    """A 0-dim Beta(alpha, alpha) sample on ``like``'s device, as a 2-way Dirichlet."""
    return dirichlet(torch.full((2,), float(alpha), device=like.device))[0].to(like.dtype)


def _mixup(x: Tensor, partner: Tensor, alpha: float) -> tuple[Tensor, Tensor]:
    lam = _beta(alpha, x)
    return lam * x + (1 - lam) * partner, lam


def _cutmix(x: Tensor, partner: Tensor, alpha: float) -> tuple[Tensor, Tensor]:
    h, w = x.shape[-2:]
    cut = (1 - _beta(alpha, x)).sqrt()
    centre = (torch.randint(h, (), device=x.device), torch.randint(w, (), device=x.device))
    bounds = []
    for size, mid in zip((h, w), centre):
        side = (size * cut).floor().long()
        start = mid - side // 2
        bounds.append((start.clamp(0, size), (start + side).clamp(0, size)))
    (top, bottom), (left, right) = bounds
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    box = ((rows >= top) & (rows < bottom))[:, None] & ((cols >= left) & (cols < right))[None, :]
    lam = 1 - ((bottom - top) * (right - left)).to(x.dtype) / (h * w)
    return torch.where(box, partner, x), lam


def mix_batch(
    x: Tensor, y: Tensor, num_classes: int, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0
) -> tuple[Tensor, Tensor]:
    """Mix images ``x`` (float [B, C, H, W]) and build soft targets float [B, num_classes].

    Both alphas 0: ``(x, one_hot(y))``. One positive: that method. Both positive: mixup or CutMix with
    probability 1/2 each, chosen on the device. The target is ``lam * one_hot(y) + (1 - lam) *
    one_hot(partner)``, so rows sum to one.
    """
    if mixup_alpha < 0 or cutmix_alpha < 0:
        raise ValueError(f"alphas must be non-negative, got mixup {mixup_alpha}, cutmix {cutmix_alpha}")
    # Comparison instead of F.one_hot, which validates labels on the host on some devices.
    target = (y[:, None] == torch.arange(num_classes, device=y.device)).to(x.dtype)
    if mixup_alpha == 0 and cutmix_alpha == 0:
        return x, target
    partner = x.roll(1, 0)
    if cutmix_alpha == 0:
        mixed, lam = _mixup(x, partner, mixup_alpha)
    elif mixup_alpha == 0:
        mixed, lam = _cutmix(x, partner, cutmix_alpha)
    else:
        (mixed_up, lam_up), (cut, lam_cut) = _mixup(x, partner, mixup_alpha), _cutmix(x, partner, cutmix_alpha)
        use_mixup = torch.rand((), device=x.device) < 0.5
        mixed, lam = torch.where(use_mixup, mixed_up, cut), torch.where(use_mixup, lam_up, lam_cut)
    return mixed, lam * target + (1 - lam) * target.roll(1, 0)
