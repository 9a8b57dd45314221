"""Full-convolution ResNet-18 (after Kayhan and van Gemert, "On translation invariance in CNNs: convolutional
layers can exploit absolute spatial location", CVPR 2020).

With 'same' padding a filter sees the image border at some positions and not at others, and a network can
learn from the zeros at the border where in the image it is, so it can use absolute position. A full
convolution pads ``kernel_size - 1`` on every side: every filter weight visits every input pixel, border pixels
included, equally often, so no output depends on where in the image content sits (up to the strides). Feature
maps grow by ``kernel_size - 1`` per convolution (a CIFAR ResNet-18's first stage ends at 42 x 42 instead of
32 x 32); the residual blocks zero-pad their shortcut to match (``models.resnet._ResidualBlock``), and global
average pooling makes the classifier size-independent.
"""
from __future__ import annotations

from torch import nn

from .resnet import ResNet, resnet18


def full_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> nn.Conv2d:
    """``Conv2d(bias=False)`` with full padding ``kernel_size - 1``.

    A strided 1x1 conv (a projection shortcut) pads 1 instead of 0: its output pixel j then reads input pixel
    ``stride * j - 1``, the centre of the block's first (strided, full) 3x3 conv's window at j, so shortcut and
    body stay aligned once the shortcut is zero-padded to the body's size.
    """
    padding = kernel_size - 1 if kernel_size > 1 else int(stride > 1)
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)


def fresnet18(num_classes: int, **kwargs) -> ResNet:
    """Full-convolution ResNet-18: ResNet-18 with every convolution fully padded."""
    return resnet18(num_classes, conv=full_conv, **kwargs)
