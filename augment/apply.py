"""torchvision's ``autoaugment._apply_op``, batched: every sample applies its own op and magnitude.

Ops are named as in torchvision's augmentation spaces. Each candidate op is computed for the whole
batch and kept where a sample chose it (``torch.where``); all geometric ops share one warp with
per-sample matrices. Shapes are static and nothing is read back to the host.
"""

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torchvision.transforms import InterpolationMode

from augment import ops
from augment.geometry import GEOMETRIC_OPS, warp

# op name -> (uint8 images [B, C, H, W], float32 magnitude [B]) -> uint8 images, as in `_apply_op`.
PIXEL_OPS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "Brightness": lambda x, m: ops.brightness(x, 1.0 + m.double()),
    "Color": lambda x, m: ops.saturation(x, 1.0 + m.double()),
    "Contrast": lambda x, m: ops.contrast(x, 1.0 + m.double()),
    "Sharpness": lambda x, m: ops.sharpness(x, 1.0 + m.double()),
    "Posterize": lambda x, m: ops.posterize(x, m.trunc()),
    "Solarize": lambda x, m: ops.solarize(x, m),
    "AutoContrast": lambda x, m: ops.autocontrast(x),
    "Equalize": lambda x, m: ops.equalize(x),
    "Invert": lambda x, m: ops.invert(x),
}

SUPPORTED_OPS = frozenset(PIXEL_OPS) | frozenset(GEOMETRIC_OPS) | {"Identity"}


def apply_op(
    x: Tensor, names: Sequence[str], index: Tensor, magnitude: Tensor, interpolation: InterpolationMode
) -> Tensor:
    """Apply op ``names[index[i]]`` with signed magnitude ``magnitude[i]`` to sample ``x[i]``.

    ``x`` uint8 [B, C, H, W]; ``index`` int64 [B]; ``magnitude`` float32 [B], the value torchvision
    passes to ``_apply_op`` (sign already applied, 0 for magnitude-free ops).
    """
    out = x
    matrix = None
    is_geometric = torch.zeros_like(index, dtype=torch.bool)
    for k, name in enumerate(names):
        chosen = index == k
        if name in PIXEL_OPS:
            out = torch.where(chosen.reshape(-1, 1, 1, 1), PIXEL_OPS[name](x, magnitude), out)
        elif name in GEOMETRIC_OPS:
            op_matrix = GEOMETRIC_OPS[name](magnitude.double(), x.shape[-2], x.shape[-1])
            matrix = op_matrix if matrix is None else torch.where(chosen.reshape(-1, 1, 1), op_matrix, matrix)
            is_geometric = is_geometric | chosen
        elif name != "Identity":
            raise ValueError(f"unsupported op {name!r}")
    if matrix is not None:
        out = torch.where(is_geometric.reshape(-1, 1, 1, 1), warp(x, matrix, interpolation), out)
    return out


def apply_ops(
    x: Tensor, names: Sequence[str], index: Tensor, magnitude: Tensor, interpolation: InterpolationMode
) -> Tensor:
    """Apply ``index.shape[1]`` ops in sequence; ``index``/``magnitude`` are [B, steps]."""
    for step in range(index.shape[1]):
        x = apply_op(x, names, index[:, step], magnitude[:, step], interpolation)
    return x
