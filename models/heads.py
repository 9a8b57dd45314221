"""Classifier heads: the plain linear layer, the cosine classifier and the t-vMF classifier.

Every head is an ``nn.Linear`` (weight ``[classes, features]``) stored as ``model.fc``, so the rest of the repo
(pruning, which never prunes the classifier; state dicts; evaluation) treats all heads alike. The cosine and
t-vMF heads score ``scale * similarity(cos)`` where ``cos`` is the cosine between the L2-normalised feature and
class weight vectors and ``scale`` is learned (``SCALES``: by default the t-vMF authors' ``1 + softplus(s_)``).
They compute in fp32 even under bf16 autocast: a cosine in bf16
has barely three significant digits, and the head is a negligible part of the step.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

#: Starting value of the ``raw`` logit scale (cosines lie in [-1, 1], so without a scale the softmax could never
#: become confident).
INITIAL_SCALE = 10.0

#: ``--head-scale``: how the learned logit scale is parameterised. ``softplus`` (the default) is the t-vMF
#: authors' (Kobayashi's code, and the released code of the paper): ``s = 1 + softplus(s_)`` with ``s_`` (the
#: parameter ``scale_offset``) starting at 0, so the scale starts at 1 + ln 2 = 1.69 and can never fall below 1.
#: ``raw`` is this code's earlier departure: the scale itself (parameter ``scale``), from ``INITIAL_SCALE``,
#: unconstrained. Either parameter is weight-decayed like every other (``--weight-decay``: all parameters).
SCALES = ("softplus", "raw")


class CosineHead(nn.Linear):
    """``scale * cos(feature, class weight)``, with a learned ``scale`` (``SCALES``) and no bias."""

    def __init__(self, in_features: int, num_classes: int, scale: str = "softplus") -> None:
        super().__init__(in_features, num_classes, bias=False)
        if scale not in SCALES:
            raise ValueError(f"unknown head scale {scale!r}; choices: {', '.join(SCALES)}")
        self.scale_kind = scale
        if scale == "softplus":
            self.scale_offset = nn.Parameter(torch.tensor(0.0))
        else:
            self.scale = nn.Parameter(torch.tensor(INITIAL_SCALE))

    def logit_scale(self) -> torch.Tensor:
        """The scale the similarity is multiplied by."""
        if self.scale_kind == "softplus":
            return 1 + F.softplus(self.scale_offset.float())
        return self.scale.float()

    def similarity(self, cos: torch.Tensor) -> torch.Tensor:
        return cos

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            cos = F.linear(F.normalize(x.float(), dim=1), F.normalize(self.weight.float(), dim=1))
            return self.logit_scale() * self.similarity(cos)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scale={self.scale_kind}"


class TvMFHead(CosineHead):
    """t-vMF similarity (Kobayashi, CVPR 2021): ``(1 + cos) / (1 + kappa (1 - cos)) - 1``.

    Equal to the cosine at ``kappa = 0``; a larger ``kappa`` makes the similarity fall off faster away from the
    class direction (a heavier-tailed, more compact class distribution), which the DEIC benchmark found to help
    on small datasets.
    """

    def __init__(self, in_features: int, num_classes: int, kappa: float, scale: str = "softplus") -> None:
        super().__init__(in_features, num_classes, scale)
        self.kappa = kappa

    def similarity(self, cos: torch.Tensor) -> torch.Tensor:
        return (1 + cos) / (1 + self.kappa * (1 - cos)) - 1

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, kappa={self.kappa}"


#: ``--head`` name -> ``f(in_features, num_classes, kappa, scale)``; ``kappa`` is used by t-vMF only, ``scale``
#: (a key of ``SCALES``) by cosine and t-vMF.
HEADS: dict[str, Callable[[int, int, float, str], nn.Linear]] = {
    "linear": lambda in_features, num_classes, kappa, scale: nn.Linear(in_features, num_classes),
    "cosine": lambda in_features, num_classes, kappa, scale: CosineHead(in_features, num_classes, scale),
    "tvmf": TvMFHead,
}
