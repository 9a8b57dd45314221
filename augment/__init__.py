"""Batched, per-sample data augmentation of uint8 image batches on the device.

``build(name, image_size, cutout)`` returns a module mapping uint8 [B, C, H, W] to uint8
[B, C, H, W] on the same device: random crop (zero padding ``image_size // 8``) and horizontal
flip, then the named policy, then Cutout. ``"none"`` skips crop, flip and policy. Every op uses
static shapes, draws from torch's global RNG on the input's device and chooses per sample.
``mix_batch`` applies mixup / CutMix to float batches.
"""

from collections.abc import Callable

from torch import nn

from augment.color import ColorDistortion
from augment.crop import RandomCropFlip
from augment.cutout import Cutout
from augment.mix import mix_batch
from augment.pipeline import Pipeline
from augment.policies import AugMix, AutoAugment, RandAugment, TrivialAugmentWide

# policy stage by name, built from the image size; "base" adds nothing after crop and flip.
_POLICIES: dict[str, Callable[[int], nn.Module]] = {
    "contrast": lambda image_size: ColorDistortion(),
    "randaug": RandAugment,
    "autoaug": AutoAugment,
    "trivialaug": TrivialAugmentWide,
    "augmix": AugMix,
}

AUGMENTATIONS: tuple[str, ...] = ("none", "base", *_POLICIES)


def build(name: str, image_size: int, cutout: int = 0) -> nn.Module:
    """The augmentation pipeline ``name`` (one of ``AUGMENTATIONS``); ``cutout`` is the side of the
    Cutout square, 0 for none."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; choose from {AUGMENTATIONS}")
    if cutout < 0:
        raise ValueError(f"cutout must be >= 0, got {cutout}")
    stages: list[nn.Module] = []
    if name != "none":
        stages.append(RandomCropFlip(pad=image_size // 8))
    if name in _POLICIES:
        stages.append(_POLICIES[name](image_size))
    if cutout > 0:
        stages.append(Cutout(cutout))
    return Pipeline(*stages)


__all__ = ["AUGMENTATIONS", "build", "mix_batch"]
