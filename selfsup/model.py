"""The network SimCLR trains: the architecture's backbone (``models.build`` without its classifier) and a 2-layer
projection head; only the backbone is saved for fine-tuning."""
from __future__ import annotations

import torch
from torch import nn

import models
from datasets import ImageDataset
from selfsup.hparams import SSLModelHparams


def projection_head(features: int, hidden: int, out: int) -> nn.Sequential:
    """SimCLR's head g: Linear, BatchNorm, ReLU, Linear (the BatchNorm in the hidden layer as in SimCLR's code)."""
    return nn.Sequential(nn.Linear(features, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Linear(hidden, out))


class Contrastive(nn.Module):
    """``head(backbone(x))``; ``backbone`` is a ``models`` network whose ``fc`` is the identity, so its state
    dict is the classifier network's without ``fc.*``: what ``--init-checkpoint`` loads tensor for tensor."""

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def build(m: SSLModelHparams, data: ImageDataset) -> Contrastive:
    backbone = models.build(m.arch, data.num_classes, in_channels=data.in_channels, width=m.width,
                            image_size=data.image_size, mean=data.mean, std=data.std)
    features = backbone.fc.in_features
    backbone.fc = nn.Identity()
    return Contrastive(backbone, projection_head(features, m.proj_hidden, m.proj_dim))
