"""The small dense baseline (--match-density D): the same architecture at the width whose prunable weight count is
closest to D times that of the full model (at --width), trained dense once.

It answers whether a ticket beats simply a smaller network with as many weights. The released code's version
of this baseline ignored its width flag and trained full-width networks.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

import models
from datasets import ImageDataset
from lottery.hparams import Hparams
from pruning import Mask
from utils.io import save_json


@dataclass(frozen=True)
class WidthMatch:
    target_density: float
    full_width: int
    width: int
    full_prunable: int  # prunable (conv) weights of the full model
    prunable: int  # ... and of the chosen one

    def record(self, path: Path) -> "WidthMatch":
        """Write the match to ``path`` (``small_dense.json`` in the run directory) and print it."""
        save_json({**dataclasses.asdict(self), "density": self.prunable / self.full_prunable}, path)
        print(f"small dense baseline: width {self.width} (of {self.full_width}) has {self.prunable:,} prunable "
              f"weights, {100 * self.prunable / self.full_prunable:.2f}% of {self.full_prunable:,} "
              f"(target {100 * self.target_density:.2f}%)")
        return self


def prunable_count(hp: Hparams, data: ImageDataset, width: int) -> int:
    with torch.random.fork_rng():  # building initialises weights: leave the caller's random stream alone
        model = models.build(hp.model.arch, data.num_classes, in_channels=data.in_channels, width=width,
                             image_size=data.image_size)
    return Mask.dense(model).size()


def match_width(hp: Hparams, data: ImageDataset) -> WidthMatch:
    """The width in [1, --width] whose prunable count is closest to --match-density x the full model's (the
    smaller width on a tie). The count grows with the width, so a bisection needs about log2(--width) builds."""
    count = {}

    def prunable(width: int) -> int:
        if width not in count:
            count[width] = prunable_count(hp, data, width)
        return count[width]

    full = prunable(hp.model.width)
    target = hp.model.match_density * full
    low, high = 1, hp.model.width  # the smallest width with prunable(width) >= target lies in [low, high]
    while low < high:
        mid = (low + high) // 2
        low, high = (mid + 1, high) if prunable(mid) < target else (low, mid)
    best = min({low, max(low - 1, 1)}, key=lambda w: (abs(prunable(w) - target), w))
    return WidthMatch(hp.model.match_density, hp.model.width, best, full, prunable(best))
