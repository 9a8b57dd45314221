"""Resolving the job's device and precision."""
from __future__ import annotations

import torch

from utils.errors import UserError


def _backend_count(kind: str) -> int:
    """How many devices of ``kind`` this machine has, as far as this torch build can tell (0: none)."""
    if kind == "cpu":
        return 1
    if kind == "mps":
        return 1 if torch.backends.mps.is_available() else 0
    module = getattr(torch, kind, None) if kind in ("cuda", "xpu") else None
    if module is None or not module.is_available():
        return 0
    return module.device_count()


def resolve_device(name: str) -> torch.device:
    """The torch device ``--device`` names, refused (as a UserError) unless it exists here: a device torch
    knows the name of but this machine lacks would otherwise fail only after the run directory is written."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a device name; use auto, cpu, cuda, cuda:N, mps or xpu") from None
    if device.type not in ("cpu", "cuda", "mps", "xpu"):
        raise UserError(f"--device {name}: {device.type} devices are not supported; use auto, cpu, cuda, mps or xpu")
    count = _backend_count(device.type)
    if count == 0:
        raise UserError(f"--device {name}: this machine has no {device.type} device (use --device cpu or auto)")
    if (device.index or 0) >= count:
        raise UserError(f"--device {name}: this machine has {count} {device.type} device(s), numbered from 0")
    return device


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' is bf16 autocast on CUDA and fp32 elsewhere."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision
