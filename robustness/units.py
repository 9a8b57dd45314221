"""What every evaluation suite is made of: a ``Context`` (where and how to evaluate, what data) and ``Unit``s of work.

A suite is a function ``Context -> list[Unit]`` in ``robustness.SUITES``. A unit measures a few cells of one suite
on one model, e.g. one corruption at its five severities or one attack at one eps; the evaluation
skips a unit whose cells are all stored already, and stores each unit as soon as it is computed. A suite whose data
is missing raises ``MissingData`` with one line saying what to download, from where, and where to put it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from training.evaluate import accuracy


class MissingData(Exception):
    """A suite's data is not on disk; the message names the files, their source and the folder to put them in."""


def missing_files(suite: str, folder: Path, names: Sequence[str], source: str, flag: str) -> MissingData | None:
    """``MissingData`` naming those of ``names`` absent from ``folder``, or None when all are there."""
    absent = [n for n in names if not (folder / n).is_file()]
    if not absent:
        return None
    shown = ", ".join(absent[:4]) + (f" and {len(absent) - 4} more" if len(absent) > 4 else "")
    return MissingData(f"skipping {suite}: {shown} not in {folder}; download from {source} and put the files "
                       f"there (or pass {flag} FOLDER)")


@dataclass
class Context:
    """Everything a suite needs besides the model under test."""
    device: torch.device
    precision: str                      # of clean, corruption and shift accuracy: bf16 on CUDA, fp32 elsewhere
    channels_last: bool
    batch_size: int                     # images per forward pass for accuracy
    attack_batch_size: int              # images per forward/backward pass of an attack (fp32)
    x_test: torch.Tensor                # the run's test set: uint8 [N, C, H, W] on the CPU
    y_test: torch.Tensor
    num_classes: int
    c10c_root: Path
    cifar101_root: Path
    cifar102_root: Path
    cifar102_all: bool = False
    adv_images: int = 10_000            # the first n test images are attacked
    cka_images: int = 10_000            # the first n test images are compared
    reference: Callable[[], nn.Module] | None = None   # the run's dense level-0 network, loaded on first use
    cache: dict = field(default_factory=dict)

    def accuracy(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Fraction correct on uint8 images ``x`` (any layout, on the CPU), in this context's precision; a device
        tensor, so a unit syncs once when it is stored."""
        return accuracy(model, x, y, self.device, self.precision, self.channels_last, self.batch_size)


Cell = tuple[str, "int | None", "float | None"]   # (name, severity, eps)


@dataclass
class Unit:
    """``compute(model)`` measures the cells ``[(name, severity, eps), ...]`` of ``suite`` on ``images`` images and
    returns their values in that order; ``label`` names the unit in the progress bar."""
    suite: str
    label: str
    cells: list[Cell]
    images: int
    compute: Callable[[nn.Module], list[torch.Tensor | float]]
