"""Dataset registry: ``load(name, root)`` returns an ImageDataset; add a dataset with one entry in DATASETS."""
from __future__ import annotations

from functools import partial
from typing import Callable

from datasets.base import ImageDataset
from datasets.cifar import load_cifar
from datasets.subset import class_counts, draw_indices, per_class_count
from datasets.synthetic import load_synthetic
from utils.errors import UserError

DATASETS: dict[str, Callable[[str], ImageDataset]] = {
    "cifar10": partial(load_cifar, "cifar10"),
    "cifar100": partial(load_cifar, "cifar100"),
    "synthetic": partial(load_synthetic, "synthetic"),
}


def load(name: str, root: str) -> ImageDataset:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[name](root)


__all__ = ["DATASETS", "ImageDataset", "load", "class_counts", "draw_indices", "per_class_count"]
