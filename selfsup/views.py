"""SimCLR's two views of every image, drawn on the device from the project's own batched augmentation.

A view is ``augment.build("contrast", size, crop="resized")``: the random-resized crop (scale 0.08-1, aspect ratio
3/4-4/3, torchvision's sampling) with a horizontal flip, then SimCLR's colour distortion (ColorJitter 0.4, 0.4,
0.4, 0.1 with p=0.8, grayscale with p=0.2); no blur, as SimCLR does on CIFAR. Every image of every view draws its
own parameters. Both views come from one call, so the pair can be captured as one CUDA graph
(``training.step.GraphedTransform`` keeps one output buffer per graph).
"""
from __future__ import annotations

import torch
from torch import nn

import augment
from datasets import ImageDataset


class TwoViews(nn.Module):
    """uint8 images [N, C, S, S] -> uint8 [2, N, C, size, size]: two independent draws of ``view`` per image."""

    def __init__(self, view: nn.Module) -> None:
        super().__init__()
        self.view = view

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack((self.view(x), self.view(x)))


def simclr_views(data: ImageDataset) -> TwoViews:
    """The two-view augmentation for ``data``'s training images (stored at ``image_size`` or, for the
    ImageNet-style datasets, larger), vertical flips too where the dataset has them."""
    return TwoViews(augment.build("contrast", data.image_size, crop="resized", vflip=data.vflip))
