"""CIFAR-style VGG-16 with batch norm.

Thirteen 3x3 conv-BN-ReLU layers in five stages, each closed by a 2x2 max-pool,
then global average pooling and a single linear classifier (no 4096-wide FC
head). Channels are scaled by ``width / 64``.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import nn

from .common import Normalize, check_positive, conv_bn, init_weights

#: Output channels at width 64; ``"M"`` is a 2x2 stride-2 max-pool.
VGG16_CFG: tuple[Union[int, str], ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)


class VGG(nn.Module):
    """``normalize -> features -> global avg pool -> fc``.

    ``image_size`` is accepted for a uniform constructor signature and ignored:
    the global pool makes the head size-independent (inputs need at least 32x32
    for the five max-pools).
    """

    def __init__(
        self,
        cfg: Sequence[Union[int, str]],
        num_classes: int,
        *,
        in_channels: int = 3,
        width: int = 64,
        image_size: int = 32,
        mean: Optional[Sequence[float]] = None,
        std: Optional[Sequence[float]] = None,
    ) -> None:
        super().__init__()
        check_positive(num_classes=num_classes, in_channels=in_channels, width=width, image_size=image_size)
        # Registered first on purpose: the first submodule must be the normalization.
        self.normalize = Normalize(in_channels, mean, std)
        layers: list[nn.Module] = []
        channels = in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                out = max(1, int(v) * width // 64)
                layers.extend(conv_bn(channels, out, 3, 1, relu=True))
                channels = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.normalize(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def vgg16_bn(num_classes: int, **kwargs) -> VGG:
    """VGG-16-BN, CIFAR style. ``kwargs`` as in :class:`VGG`."""
    return VGG(VGG16_CFG, num_classes, **kwargs)
