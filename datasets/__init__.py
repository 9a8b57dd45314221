"""Dataset registry: ``load(name, root, image_size)`` returns an ImageDataset; add a dataset with one entry in
DATASETS (a function of the data root and the requested input side, 0 = the dataset's own)."""
from __future__ import annotations

from functools import partial
from typing import Callable

from datasets.base import ImageDataset
from datasets.cifar import load_cifar
from datasets.folders import RECIPES, load_folder
from datasets.subset import class_counts, draw_indices, per_class_count
from datasets.synthetic import load_synthetic
from utils.errors import UserError


def _native_size(loader: Callable[[str], ImageDataset], name: str, size: int) -> Callable[[str, int], ImageDataset]:
    """A loader of fixed-size images (``size`` px): --image-size may only repeat that size."""
    def load_fixed(root: str, image_size: int = 0) -> ImageDataset:
        if image_size not in (0, size):
            raise UserError(f"{name} images are {size} px; --image-size applies to the image-file datasets "
                            f"({', '.join(RECIPES)})")
        return loader(root)
    return load_fixed


DATASETS: dict[str, Callable[[str, int], ImageDataset]] = {
    "cifar10": _native_size(partial(load_cifar, "cifar10"), "cifar10", 32),
    "cifar100": _native_size(partial(load_cifar, "cifar100"), "cifar100", 32),
    "synthetic": _native_size(partial(load_synthetic, "synthetic"), "synthetic", 32),
    **{name: partial(load_folder, name) for name in RECIPES},
}


def load(name: str, root: str, image_size: int = 0) -> ImageDataset:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[name](root, image_size)


__all__ = ["DATASETS", "ImageDataset", "load", "class_counts", "draw_indices", "per_class_count"]
