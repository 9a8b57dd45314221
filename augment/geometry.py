"""Geometric AutoAugment ops as per-sample affine warps, matching torchvision's tensor backend.

torchvision's ``_apply_op`` turns ShearX/ShearY/TranslateX/TranslateY/Rotate into ``F.affine`` or
``F.rotate`` calls; both reduce to an inverse affine matrix (``_get_inverse_affine_matrix``,
computed in double precision and then cast to float32) sampled with ``grid_sample`` at pixel centres,
zeros outside the image. Here every sample gets its own matrix and the whole batch is warped by one
``grid_sample``.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as nnf
from torch import Tensor
from torchvision.transforms import InterpolationMode


def inverse_affine_matrix(
    angle: Tensor,
    translate: tuple[Tensor, Tensor],
    shear: tuple[Tensor, Tensor],
    center: tuple[float, float],
) -> Tensor:
    """Batched ``torchvision.transforms.functional._get_inverse_affine_matrix`` with scale 1.

    ``angle`` and ``shear`` are in degrees, ``translate`` in pixels, all float64 [B];
    ``center`` is relative to the image centre. Returns float64 [B, 2, 3], same operation order
    as torchvision.
    """
    rot = torch.deg2rad(angle)
    sx, sy = torch.deg2rad(shear[0]), torch.deg2rad(shear[1])
    tx, ty = translate
    cx, cy = center
    a = torch.cos(rot - sy) / torch.cos(sy)
    b = -torch.cos(rot - sy) * torch.tan(sx) / torch.cos(sy) - torch.sin(rot)
    c = torch.sin(rot - sy) / torch.cos(sy)
    d = -torch.sin(rot - sy) * torch.tan(sx) / torch.cos(sy) + torch.cos(rot)
    m0, m1, m3, m4 = d, -b, -c, a
    m2 = m0 * (-cx - tx) + m1 * (-cy - ty) + cx
    m5 = m3 * (-cx - tx) + m4 * (-cy - ty) + cy
    return torch.stack((m0, m1, m2, m3, m4, m5), dim=-1).reshape(-1, 2, 3)


def _shear_x(magnitude: Tensor, height: int, width: int) -> Tensor:
    # torchvision shears about the top-left corner (center=[0, 0]) to match the original AutoAugment.
    zero = torch.zeros_like(magnitude)
    shear = (torch.rad2deg(torch.atan(magnitude)), zero)
    return inverse_affine_matrix(zero, (zero, zero), shear, (-width * 0.5, -height * 0.5))


def _shear_y(magnitude: Tensor, height: int, width: int) -> Tensor:
    zero = torch.zeros_like(magnitude)
    shear = (zero, torch.rad2deg(torch.atan(magnitude)))
    return inverse_affine_matrix(zero, (zero, zero), shear, (-width * 0.5, -height * 0.5))


def _translate_x(magnitude: Tensor, height: int, width: int) -> Tensor:
    # torchvision translates by int(magnitude): whole pixels, truncated towards zero.
    zero = torch.zeros_like(magnitude)
    return inverse_affine_matrix(zero, (magnitude.trunc(), zero), (zero, zero), (0.0, 0.0))


def _translate_y(magnitude: Tensor, height: int, width: int) -> Tensor:
    zero = torch.zeros_like(magnitude)
    return inverse_affine_matrix(zero, (zero, magnitude.trunc()), (zero, zero), (0.0, 0.0))


def _rotate(magnitude: Tensor, height: int, width: int) -> Tensor:
    # F.rotate passes -angle to the affine matrix (its angle is counter-clockwise).
    zero = torch.zeros_like(magnitude)
    return inverse_affine_matrix(-magnitude, (zero, zero), (zero, zero), (0.0, 0.0))


# op name -> (float64 magnitude [B], image height, image width) -> inverse matrix [B, 2, 3]
GEOMETRIC_OPS: dict[str, Callable[[Tensor, int, int], Tensor]] = {
    "ShearX": _shear_x,
    "ShearY": _shear_y,
    "TranslateX": _translate_x,
    "TranslateY": _translate_y,
    "Rotate": _rotate,
}


def warp(x: Tensor, matrix: Tensor, interpolation: InterpolationMode) -> Tensor:
    """Batched ``F_t.affine``/``F_t.rotate`` (no expand, fill None): warp uint8 ``x`` [B, C, H, W]
    by per-sample inverse matrices [B, 2, 3]; pixels sampled outside the image become 0."""
    b, _, h, w = x.shape
    theta = matrix.to(torch.float32)
    # Output pixel centres relative to the image centre (torchvision's _gen_affine_grid).
    xs = torch.linspace(-w * 0.5 + 0.5, w * 0.5 + 0.5 - 1, steps=w, device=x.device)
    ys = torch.linspace(-h * 0.5 + 0.5, h * 0.5 + 0.5 - 1, steps=h, device=x.device)
    base = torch.stack((xs.expand(h, w), ys.unsqueeze(-1).expand(h, w), torch.ones_like(xs).expand(h, w)), dim=-1)
    rescaled = torch.cat((theta[:, :1] / (0.5 * w), theta[:, 1:] / (0.5 * h)), dim=1).transpose(1, 2)
    grid = base.reshape(1, h * w, 3).expand(b, -1, -1).bmm(rescaled).reshape(b, h, w, 2)
    warped = nnf.grid_sample(x.float(), grid, mode=interpolation.value, padding_mode="zeros", align_corners=False)
    return warped.round().to(x.dtype)
