"""Class-balanced and long-tailed training subsets, drawn with their own seed."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from utils.errors import UserError


def per_class_count(labels: np.ndarray, num_classes: int, fraction: float, per_class: int) -> int:
    """Images per class for ``--per-class`` (if > 0) or ``--data-fraction`` of an evenly split training set; a
    fraction that rounds to no image per class is a UserError naming the smallest one that keeps one."""
    if per_class > 0:
        return per_class
    available = len(labels) / num_classes
    count = int(round(fraction * available))
    if count < 1:
        raise UserError(f"--data-fraction {fraction:g} keeps {fraction * available:.2g} of the {available:g} "
                        f"training images per class, which rounds to none; the smallest fraction that keeps one "
                        f"is {smallest_fraction(available):g}")
    return count


def smallest_fraction(available: float) -> float:
    """The smallest fraction with two significant digits whose share of ``available`` images rounds to one."""
    exact = 0.5 / available  # round() takes 0.5 to 0 (to even): one needs more than half an image
    step = 10.0 ** (math.floor(math.log10(exact)) - 1)
    fraction = float(f"{(math.floor(exact / step) + 1) * step:.2g}")
    while round(fraction * available) < 1:
        fraction = float(f"{fraction + step:.2g}")
    return fraction


def _balanced(n_max: int, num_classes: int, ratio: float) -> list[int]:
    return [n_max] * num_classes


def _exponential(n_max: int, num_classes: int, ratio: float) -> list[int]:
    """Class i keeps n_max * ratio^(i / (C - 1))."""
    return [max(1, int(n_max * ratio ** (i / max(1, num_classes - 1)))) for i in range(num_classes)]


def _step(n_max: int, num_classes: int, ratio: float) -> list[int]:
    """The first half of the classes keep n_max, the rest n_max * ratio."""
    return [n_max if i < (num_classes + 1) // 2 else max(1, int(n_max * ratio)) for i in range(num_classes)]


# --long-tail name -> images per class, from (n_max, num_classes, ratio)
LONG_TAILS: dict[str, Callable[[int, int, float], list[int]]] = {"none": _balanced, "exp": _exponential,
                                                                  "step": _step}


def class_counts(n_max: int, num_classes: int, long_tail: str, ratio: float) -> list[int]:
    """Images kept per class: n_max each, or decaying for a long tail (never below one)."""
    if long_tail not in LONG_TAILS:
        raise ValueError(f"unknown long-tail kind {long_tail!r}; choose from {', '.join(LONG_TAILS)}")
    return LONG_TAILS[long_tail](n_max, num_classes, ratio)


def draw_indices(labels: np.ndarray, counts: list[int], seed: int) -> np.ndarray:
    """Sorted training indices with exactly ``counts[c]`` images of class c, drawn without replacement."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c, n in enumerate(counts):
        pool = np.flatnonzero(labels == c)
        if n > len(pool):
            raise UserError(f"class {c} has {len(pool)} training images; {n} were asked for "
                            f"(lower --per-class or --data-fraction)")
        chosen.append(rng.choice(pool, size=n, replace=False))
    return np.sort(np.concatenate(chosen))
