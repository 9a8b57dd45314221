"""Model zoo: CIFAR/ImageNet-stem ResNets (plain, harmonic, full-convolution), CIFAR VGG-16-BN, and
classifier heads.

Contract relied on by the rest of the repo:

* every model takes float images in ``[0, 1]`` (NCHW, contiguous or
  channels_last) and normalizes internally; its first submodule (attribute
  ``normalize``) is a :class:`Normalize` with ``mean``/``std`` buffers of shape
  ``[1, C, 1, 1]``;
* convolutions are plain ``nn.Conv2d`` (prunable), BN is ``nn.BatchNorm2d`` and
  the classifier is a single ``nn.Linear`` stored as ``model.fc`` (not pruned), whatever the head (the cosine
  and t-vMF heads subclass it);
* the harmonic ResNet's 3x3 convolutions are ``HarmonicConv2d`` modules; what is pruned in them is listed in
  their ``prunable_parameters`` (see ``pruning.prunable_names``).
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence

from torch import nn

from .common import Normalize, conv_bn, init_weights
from .fullconv import fresnet18
from .harmonic import HarmonicConv2d, hresnet18
from .heads import HEADS
from .resnet import CIFAR_STEM_MAX_SIZE, BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50
from .vgg import VGG, vgg16_bn

#: Name -> constructor ``f(num_classes, *, in_channels, width, image_size, mean, std)``.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "hresnet18": hresnet18,
    "fresnet18": fresnet18,
    "vgg16_bn": vgg16_bn,
}


def build(
    name: str,
    num_classes: int,
    *,
    in_channels: int = 3,
    width: int = 64,
    image_size: int = 32,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    head: str = "linear",
    tvmf_kappa: float = 16.0,
    head_scale: str = "softplus",
    harmonic_basis: str = "orthonormal",
) -> nn.Module:
    """Build a freshly initialised model from :data:`MODELS`.

    Args:
        name: registry key (see ``MODELS``).
        num_classes: output logits.
        in_channels: image channels (1 for grayscale).
        width: base width; ResNet stages are ``width * (1, 2, 4, 8)``, VGG channels
            are scaled by ``width / 64``.
        image_size: input side length; ResNets use the CIFAR stem when ``<= 64``
            and the ImageNet stem (7x7/2 conv + 3x3/2 max-pool) above. Ignored by VGG.
        mean, std: per-channel dataset statistics for the in-model normalization,
            ``in_channels`` values (or one value, broadcast). ``None`` means the
            identity normalization (mean 0, std 1) of ``in_channels`` channels.
        head: classifier, a key of ``HEADS`` (``linear``, ``cosine``, ``tvmf``); the model's own ``fc`` is
            replaced by it, so every architecture takes every head.
        tvmf_kappa: concentration of the t-vMF head (ignored by the others).
        head_scale: logit scale of the cosine and t-vMF heads, a key of ``heads.SCALES`` (ignored by linear).
        harmonic_basis: DCT basis of ``hresnet18``, a key of ``harmonic.BASES`` (ignored by the others).

    Raises:
        ValueError: unknown ``name`` or ``head`` (the message lists the choices) or bad arguments.
    """
    try:
        ctor = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choices: {', '.join(sorted(MODELS))}") from None
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choices: {', '.join(sorted(HEADS))}")
    variant = {"basis": harmonic_basis} if ctor is hresnet18 else {}
    model = ctor(num_classes, in_channels=in_channels, width=width, image_size=image_size, mean=mean, std=std,
                 **variant)
    if head != "linear":  # the linear head is the model's own fc: built as before, same random stream
        model.fc = HEADS[head](model.fc.in_features, num_classes, tvmf_kappa, head_scale)
    return model


__all__ = [
    "MODELS", "HEADS", "build", "Normalize", "HarmonicConv2d", "hresnet18", "fresnet18", "conv_bn", "init_weights", "ResNet", "BasicBlock", "Bottleneck",
    "VGG", "CIFAR_STEM_MAX_SIZE", "resnet18", "resnet34", "resnet50", "vgg16_bn",
]
