"""Class-balanced and long-tailed training subsets, drawn with their own seed."""
from __future__ import annotations

from typing import Callable

import numpy as np

from utils.errors import UserError


def per_class_count(labels: np.ndarray, num_classes: int, fraction: float, per_class: int) -> int:
    """Images per class for ``--per-class`` (if > 0) or ``--data-fraction`` of an evenly split training set."""
    if per_class > 0:
        return per_class
    return max(1, int(round(fraction * len(labels) / num_classes)))


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
