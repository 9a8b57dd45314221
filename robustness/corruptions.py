"""CIFAR-10-C (Hendrycks & Dietterich, 2019): accuracy per (corruption, severity), and corruption errors.

Official layout: ``<root>/<corruption>.npy``, uint8 [5n, 32, 32, 3] with the five severities stacked (rows
``[(s-1)n, sn)`` are severity s), and ``<root>/labels.npy`` [5n]. n is read from the file (rows / 5): 10,000 in the
official release, 100 in the mini copy. Files are memory-mapped and read one severity at a time.

Corruption error (CE) and mCE follow ImageNet-C, except for the normaliser: ImageNet-C divides by AlexNet's errors,
and CIFAR-10 has no such agreed reference network, so each ticket is normalised by the same run's dense level 0
(same architecture, data and recipe). mCE = 100 means "as robust as the dense network"; below 100 is more robust.
Relative mCE measures only the drop from clean accuracy, normalised the same way.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from robustness.units import Context, MissingData, Unit, missing_files
from utils.errors import UserError

STANDARD = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
            "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
            "jpeg_compression")
EXTRA = ("gaussian_blur", "saturate", "spatter", "speckle_noise")   # held out in the paper: reported apart
SEVERITIES = (1, 2, 3, 4, 5)
SOURCE = "https://zenodo.org/record/2535967 (CIFAR-10-C.tar)"
SUITE = "c10c"
CHANCE = 0.1  # the accuracy of guessing among CIFAR-10's ten classes


class CorruptionSet:
    """A CIFAR-10-C folder, read lazily: nothing is loaded until a severity is asked for."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def missing(self) -> MissingData | None:
        """The standard 15 and the labels are required; the extra 4 are evaluated when present."""
        return missing_files(SUITE, self.root, ["labels.npy", *(f"{c}.npy" for c in STANDARD)], SOURCE, "--c10c-root")

    def corruptions(self) -> list[str]:
        return [*STANDARD, *(c for c in EXTRA if (self.root / f"{c}.npy").is_file())]

    def _array(self, name: str) -> np.ndarray:
        path = self.root / f"{name}.npy"
        try:
            return np.load(path, mmap_mode="r")
        except (OSError, ValueError) as err:  # a truncated file: "mmap length is greater than file size"
            raise UserError(f"cannot read {path}: {err}; the file is damaged or incomplete (an interrupted "
                            f"download or copy?): replace it with the one from {SOURCE}") from None

    def per_severity(self, name: str) -> int:
        """Images per severity, from the file: rows / 5."""
        rows = self._array(name).shape[0]
        labels = self._array("labels").shape[0]
        if rows % len(SEVERITIES) or rows != labels:
            raise UserError(f"{self.root / name}.npy has {rows} rows and labels.npy {labels}: expected the same "
                            f"multiple of {len(SEVERITIES)} (severities stacked)")
        return rows // len(SEVERITIES)

    def severity(self, name: str, severity: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (uint8 [n, C, H, W]: a view of the NHWC rows, copied from the memory-mapped file) and labels of
        one severity."""
        n = self.per_severity(name)
        rows = slice((severity - 1) * n, severity * n)
        images = torch.from_numpy(np.array(self._array(name)[rows])).permute(0, 3, 1, 2)
        labels = torch.from_numpy(np.asarray(self._array("labels")[rows], dtype=np.int64))
        return images, labels


def units(ctx: Context) -> list[Unit]:
    """One unit per corruption: its five severities."""
    data = CorruptionSet(ctx.c10c_root)
    absent = data.missing()
    if absent is not None:
        raise absent
    if ctx.x_test.shape[1:] != (3, 32, 32) or ctx.num_classes != 10:
        raise MissingData(f"skipping {SUITE}: CIFAR-10-C is for 3x32x32 CIFAR-10 classifiers; this run's images "
                          f"are {tuple(ctx.x_test.shape[1:])} with {ctx.num_classes} classes")

    def unit(name: str) -> Unit:
        def compute(model: torch.nn.Module) -> list[torch.Tensor]:
            return [ctx.accuracy(model, *data.severity(name, s)) for s in SEVERITIES]
        return Unit(SUITE, name, [(name, s, None) for s in SEVERITIES], data.per_severity(name), compute)
    return [unit(name) for name in data.corruptions()]


def summarize(records: list[dict]) -> list[dict]:
    """Per level: mean accuracy over the 15 x 5 standard cells (and over the extra ones), CE per corruption,
    mCE and relative mCE in percent of the dense level 0 of the same run (``records`` of one run: its stored
    ``c10c`` and ``clean`` records). Levels missing a standard cell, or runs without level 0, get no mCE."""
    acc: dict[int, dict[tuple[str, int], float]] = {}
    density, clean = {}, {}
    for r in records:
        if r["suite"] == SUITE:
            acc.setdefault(r["level"], {})[(r["name"], r["severity"])] = r["accuracy"]
            density[r["level"]] = r["density"]
        elif r["suite"] == "clean":
            clean[r["level"]] = r["accuracy"]
    standard = [(c, s) for c in STANDARD for s in SEVERITIES]

    def complete(level: int) -> bool:
        return level in acc and all(cell in acc[level] for cell in standard)

    rows = []
    for level in sorted(acc):
        cells = acc[level]
        extra = [v for (c, _), v in cells.items() if c in EXTRA]
        row = {"level": level, "density": density[level],
               "mean_acc": float(np.mean([cells[c] for c in standard])) if complete(level) else None,
               "extra_mean_acc": float(np.mean(extra)) if extra else None, "mce": None, "relative_mce": None,
               "ce": {}}
        if complete(level) and complete(0):
            row["ce"] = {c: _ratio(error(acc[level], c), error(acc[0], c)) for c in STANDARD}
            row["mce"] = float(np.mean(list(row["ce"].values())))
            if level in clean and 0 in clean:
                row["relative_mce"] = float(np.mean([_ratio(error(acc[level], c, clean[level]),
                                                            error(acc[0], c, clean[0])) for c in STANDARD]))
        rows.append(row)
    return rows


def dense_near_chance(records: list[dict]) -> float | None:
    """The dense level 0's clean accuracy when it is below twice chance (CIFAR-10-C has ten classes), else None.
    Such a network's accuracy barely moves under corruption, so the drops that relative mCE divides by are noise
    and its value (200, or 40) says nothing; mCE, on errors near 90%, stays near 100."""
    clean = [r["accuracy"] for r in records if r["suite"] == "clean" and r["level"] == 0]
    return clean[0] if clean and clean[0] < 2 * CHANCE else None


def error(cells: dict[tuple[str, int], float], corruption: str, clean_acc: float = 1.0) -> float:
    """Summed over the severities: the error (``clean_acc`` = 1), or the drop from clean accuracy."""
    return sum(clean_acc - cells[(corruption, s)] for s in SEVERITIES)


def _ratio(numerator: float, denominator: float) -> float:
    """In percent; NaN when the dense network makes no error at all (nothing to normalise by)."""
    return 100 * numerator / denominator if denominator != 0 else float("nan")
