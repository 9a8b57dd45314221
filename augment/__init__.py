"""Batched, per-sample data augmentation of uint8 image batches on the device.

``build(name, image_size, cutout)`` returns a module mapping uint8 [B, C, H, W] to uint8
[B, C, H, W] on the same device: random crop (zero padding ``image_size // 8``) and horizontal
flip, then the named policy, then Cutout. ``"none"`` skips crop, flip and policy. With
``crop="resized"`` (the ImageNet recipe) the input is a larger stored image and the first stage is a
random-resized crop to ``image_size`` with flips instead (``"none"``: the centre crop); ``vflip`` adds
vertical flips to either crop. Every op uses static shapes, draws from torch's global RNG on the
input's device and chooses per sample.
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
from augment.resized_crop import CenterCrop, RandomResizedCropFlip

# policy stage by name, built from the image size; "base" adds nothing after crop and flip.
_POLICIES: dict[str, Callable[[int], nn.Module]] = {
    "contrast": lambda image_size: ColorDistortion(),
    "randaug": RandAugment,
    "autoaug": AutoAugment,
    "trivialaug": TrivialAugmentWide,
    "augmix": AugMix,
}

AUGMENTATIONS: tuple[str, ...] = ("none", "base", *_POLICIES)


def build(name: str, image_size: int, cutout: int = 0, crop: str = "pad", vflip: bool = False) -> nn.Module:
    """The augmentation pipeline ``name`` (one of ``AUGMENTATIONS``) producing ``image_size`` images;
    ``cutout`` is the side of the Cutout square, 0 for none; ``crop`` is ``"pad"`` (inputs at
    ``image_size``) or ``"resized"`` (larger inputs, cropped to ``image_size``)."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; choose from {AUGMENTATIONS}")
    if cutout < 0:
        raise ValueError(f"cutout must be >= 0, got {cutout}")
    if crop not in ("pad", "resized"):
        raise ValueError(f"crop must be 'pad' or 'resized', got {crop!r}")
    stages: list[nn.Module] = []
    if crop == "resized":
        stages.append(CenterCrop(image_size) if name == "none" else RandomResizedCropFlip(image_size, vflip=vflip))
    elif name != "none":
        stages.append(RandomCropFlip(pad=image_size // 8, vflip=vflip))
    if name in _POLICIES:
        stages.append(_POLICIES[name](image_size))
    if cutout > 0:
        stages.append(Cutout(cutout))
    return Pipeline(*stages)


__all__ = ["AUGMENTATIONS", "build", "mix_batch"]
