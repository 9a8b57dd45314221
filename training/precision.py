"""Numeric precision shared by training and evaluation: the autocast context and uint8 -> float inputs."""
from __future__ import annotations

import contextlib

import torch


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_float(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """uint8 images -> float in [0,1] (models normalise inside), in the memory format the model runs in.

    The format is set whatever the input's strides: an augmentation may hand back a channels-last batch (the
    colour ops of ``contrast`` do), and a channels-last input to a model kept in the default format made
    oneDNN's convolution backward on the CPU take minutes instead of milliseconds (torch 2.14.1, measured).
    """
    x = x.float().div_(255)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
