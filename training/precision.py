"""Numeric precision shared by training and evaluation: the autocast context and uint8 -> float inputs."""
from __future__ import annotations

import contextlib

import torch


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_float(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """uint8 images -> float in [0,1] (models normalise inside)."""
    x = x.float().div_(255)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
