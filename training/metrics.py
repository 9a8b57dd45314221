"""Test metrics from a confusion matrix (read from the device once per evaluation).

Accuracy counts images; balanced accuracy is the mean per-class recall over the classes the test set has
(the ISIC 2018 challenge's metric, which an imbalanced test set needs); per-class accuracy is each class's
recall (``None`` for a class without test images). For long-tailed training sets, classes are grouped by
their number of training images as in the long-tail literature (Liu et al., OLTR): many-shot (> 100),
medium-shot (20-100) and few-shot (< 20), each group's accuracy the mean recall of its classes (``None``
for an empty group).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

MANY_SHOT_ABOVE, FEW_SHOT_BELOW = 100, 20
SHOT_GROUPS = ("many", "medium", "few")


def shot_group(train_count: int) -> str:
    if train_count > MANY_SHOT_ABOVE:
        return "many"
    return "few" if train_count < FEW_SHOT_BELOW else "medium"


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def summarise(confusion: np.ndarray, train_counts: Sequence[int] | None = None) -> dict:
    """``test_acc``, ``test_balanced_acc`` and ``test_class_acc`` from a [C, C] confusion (rows = true class);
    with ``train_counts`` (training images per class) also ``test_many_acc``, ``test_medium_acc`` and
    ``test_few_acc``."""
    confusion = np.asarray(confusion, dtype=np.int64)
    support = confusion.sum(1)
    present = support > 0
    recall = np.divide(np.diag(confusion), support, out=np.zeros(len(support)), where=present)
    out = {"test_acc": float(np.trace(confusion) / max(1, support.sum())),
           "test_balanced_acc": _mean(recall[present]),
           "test_class_acc": [float(r) if p else None for r, p in zip(recall, present)]}
    if train_counts is not None:
        groups = np.array([shot_group(int(n)) for n in train_counts])
        for group in SHOT_GROUPS:
            out[f"test_{group}_acc"] = _mean(recall[present & (groups == group)])
    return out
