"""ResNet-18/34/50 with a stem chosen by input resolution.

One implementation serves CIFAR-sized and ImageNet-sized inputs: for
``image_size <= 64`` the stem is a 3x3 stride-1 conv without max-pool (the usual
CIFAR ResNet, 11,173,962 parameters for ResNet-18 at width 64 / 10 classes), above
that it is the ImageNet 7x7 stride-2 conv followed by a 3x3 stride-2 max-pool.

Every convolution is built by a ``conv`` factory (``models.common.ConvFactory``), which is how the harmonic
(``models.harmonic``) and full-convolution (``models.fullconv``) ResNets reuse this file unchanged.
"""
from __future__ import annotations

from typing import Optional, Sequence, Type

import torch
import torch.nn.functional as F
from torch import nn

from .common import ConvFactory, Normalize, check_positive, conv_bn, init_weights, plain_conv

#: Inputs with ``image_size`` above this use the ImageNet (7x7 + max-pool) stem.
CIFAR_STEM_MAX_SIZE = 64


class _ResidualBlock(nn.Module):
    """``relu(body(x) + shortcut(x))``; subclasses only define ``body``.

    When the body's convolutions grow the feature map (full convolutions pad ``kernel_size - 1``), the shortcut
    is zero-padded by the same amount on every side, which keeps both on the same input positions.
    """

    expansion = 1

    def __init__(self, body: nn.Sequential, in_planes: int, out_planes: int, stride: int,
                 conv: ConvFactory = plain_conv) -> None:
        super().__init__()
        self.body = body
        self.shortcut = _shortcut(in_planes, out_planes, stride, conv)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, short = self.body(x), self.shortcut(x)
        grow = (out.shape[-1] - short.shape[-1]) // 2  # static shapes: plain Python ints, no host sync
        if grow:
            short = F.pad(short, (grow, grow, grow, grow))
        return self.relu(out + short)


class BasicBlock(_ResidualBlock):
    """Two 3x3 conv-BN units (the first carries the stride)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, conv: ConvFactory = plain_conv) -> None:
        out_planes = planes * self.expansion
        body = nn.Sequential(
            conv_bn(in_planes, planes, 3, stride, relu=True, conv=conv),
            conv_bn(planes, out_planes, 3, 1, conv=conv),
        )
        super().__init__(body, in_planes, out_planes, stride, conv)


class Bottleneck(_ResidualBlock):
    """1x1 reduce -> 3x3 (carries the stride, as in torchvision) -> 1x1 expand by 4."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, conv: ConvFactory = plain_conv) -> None:
        out_planes = planes * self.expansion
        body = nn.Sequential(
            conv_bn(in_planes, planes, 1, 1, relu=True, conv=conv),
            conv_bn(planes, planes, 3, stride, relu=True, conv=conv),
            conv_bn(planes, out_planes, 1, 1, conv=conv),
        )
        super().__init__(body, in_planes, out_planes, stride, conv)


def _shortcut(in_planes: int, out_planes: int, stride: int, conv: ConvFactory) -> nn.Module:
    """Identity when the shape is kept, otherwise a 1x1 conv + BN projection."""
    if stride == 1 and in_planes == out_planes:
        return nn.Identity()
    return conv_bn(in_planes, out_planes, 1, stride, conv=conv)


Block = Type[_ResidualBlock]


class ResNet(nn.Module):
    """``normalize -> stem -> layer1..layer4 -> global avg pool -> fc``.

    Stage widths are ``width * (1, 2, 4, 8)`` (times ``block.expansion`` at the
    stage output); stages 2-4 halve the resolution in their first block.
    """

    def __init__(
        self,
        block: Block,
        num_blocks: Sequence[int],
        num_classes: int,
        *,
        in_channels: int = 3,
        width: int = 64,
        image_size: int = 32,
        mean: Optional[Sequence[float]] = None,
        std: Optional[Sequence[float]] = None,
        conv: ConvFactory = plain_conv,
    ) -> None:
        super().__init__()
        check_positive(num_classes=num_classes, in_channels=in_channels, width=width, image_size=image_size)
        # Registered first on purpose: the first submodule must be the normalization.
        self.normalize = Normalize(in_channels, mean, std)
        if image_size <= CIFAR_STEM_MAX_SIZE:
            self.stem = conv_bn(in_channels, width, 3, 1, relu=True, conv=conv)
        else:
            self.stem = nn.Sequential(
                *conv_bn(in_channels, width, 7, 2, relu=True, conv=conv),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        in_planes = width
        stages = []
        for i, n in enumerate(num_blocks):
            planes = width * 2**i
            blocks = []
            for j in range(n):
                blocks.append(block(in_planes, planes, stride=2 if (i > 0 and j == 0) else 1, conv=conv))
                in_planes = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.normalize(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int, **kwargs) -> ResNet:
    """ResNet-18 (BasicBlock, 2-2-2-2). ``kwargs`` as in :class:`ResNet`."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, **kwargs)


def resnet34(num_classes: int, **kwargs) -> ResNet:
    """ResNet-34 (BasicBlock, 3-4-6-3). ``kwargs`` as in :class:`ResNet`."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes, **kwargs)


def resnet50(num_classes: int, **kwargs) -> ResNet:
    """ResNet-50 (Bottleneck, 3-4-6-3). ``kwargs`` as in :class:`ResNet`."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, **kwargs)
