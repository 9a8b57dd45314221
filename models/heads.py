"""Classifier heads: the plain linear layer, the cosine classifier and the t-vMF classifier.

Every head is an ``nn.Linear`` (weight ``[classes, features]``) stored as ``model.fc``, so the rest of the repo
(pruning, which never prunes the classifier; state dicts; evaluation) treats all heads alike. The cosine and
t-vMF heads score ``scale * similarity(cos)`` where ``cos`` is the cosine between the L2-normalised feature and
class weight vectors and ``scale`` is learned. They compute in fp32 even under bf16 autocast: a cosine in bf16
has barely three significant digits, and the head is a negligible part of the step.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

#: Starting value of the learned logit scale of the cosine and t-vMF heads (cosines lie in [-1, 1], so without a
#: scale the softmax could never become confident).
INITIAL_SCALE = 10.0


class CosineHead(nn.Linear):
    """``scale * cos(feature, class weight)``, with a learned ``scale`` and no bias."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__(in_features, num_classes, bias=False)
        self.scale = nn.Parameter(torch.tensor(INITIAL_SCALE))

    def similarity(self, cos: torch.Tensor) -> torch.Tensor:
        return cos

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            cos = F.linear(F.normalize(x.float(), dim=1), F.normalize(self.weight.float(), dim=1))
            return self.scale * self.similarity(cos)


class TvMFHead(CosineHead):
    """t-vMF similarity (Kobayashi, CVPR 2021): ``(1 + cos) / (1 + kappa (1 - cos)) - 1``.

    Equal to the cosine at ``kappa = 0``; a larger ``kappa`` makes the similarity fall off faster away from the
    class direction (a heavier-tailed, more compact class distribution), which the DEIC benchmark found to help
    on small datasets.
    """

    def __init__(self, in_features: int, num_classes: int, kappa: float) -> None:
        super().__init__(in_features, num_classes)
        self.kappa = kappa

    def similarity(self, cos: torch.Tensor) -> torch.Tensor:
        return (1 + cos) / (1 + self.kappa * (1 - cos)) - 1

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, kappa={self.kappa}"


#: ``--head`` name -> ``f(in_features, num_classes, kappa)``; ``kappa`` is used by t-vMF only.
HEADS: dict[str, Callable[[int, int, float], nn.Linear]] = {
    "linear": lambda in_features, num_classes, kappa: nn.Linear(in_features, num_classes),
    "cosine": lambda in_features, num_classes, kappa: CosineHead(in_features, num_classes),
    "tvmf": TvMFHead,
}
