"""Image datasets stored as files: the DEIC benchmark's split files and the VIPriors ImageNet subset.

DEIC layout (EuroSAT, ISIC 2018, CLaMM, CUB): ``ROOT/imgs/...`` holds the images and ``ROOT/trainval.txt``,
``ROOT/test.txt`` (also ``train.txt`` and ``val.txt`` in the benchmark) list ``relative/path label`` per line.
The benchmark's files name images without their extension (``AnnualCrop/AnnualCrop_44``): a path binds the
file of exactly that name under ``imgs/``, or else the one file that is that name plus an image extension
(``AnnualCrop_44.jpg``, never ``AnnualCrop_440.jpg``: the released loader matched names by substring and could
bind the wrong image); none or several is an error naming the split file's line, and so is a file that one split
file lists twice (with its label or another). The label is the last field,
so paths may contain spaces. Labels may be numbers (ordered numerically) or names (ordered alphabetically);
the classes are those the two split files name. ``imagenet_subset`` is an ImageFolder tree ``ROOT/train/<wnid>/*`` and ``ROOT/val/<wnid>/*`` (classes from
``train/``), listed by torchvision's ``make_dataset``.

Each dataset has a ``Recipe``: the model input side, channels, how training crops are taken (see
``datasets.base.CROPS``) and which accuracy the console leads with. Decoded images are cached in
``ROOT/.cache/`` (``datasets.images``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from datasets.base import ImageDataset
from datasets.images import Geometry, ImageFile, load_images
from utils.errors import UserError

# The ImageNet test transform: resize to 256 on the shorter side, centre crop 224 (this ratio at other sizes).
RESIZE_RATIO = 256 / 224
STATS_IMAGES = 2000  # mean and std are taken over at most this many training images, evenly spaced


@dataclass(frozen=True)
class Recipe:
    size: int  # model input side (test images are stored at it)
    channels: int  # 3 = RGB, 1 = grayscale
    crop: str  # "pad" (CIFAR-style) or "resized" (ImageNet-style); datasets.base.CROPS
    vflip: bool = False  # vertical flips in training too (no up and down in the images)
    headline: str = "test_acc"  # the result the console table leads with

    def geometries(self, size: int) -> tuple[Geometry, Geometry]:
        """How training and test images are stored, for an input side ``size``."""
        if self.crop == "pad":
            same = Geometry(size, size, self.channels)
            return same, same
        resize = round(size * RESIZE_RATIO)
        return Geometry(resize, resize, self.channels), Geometry(resize, size, self.channels)


RECIPES: dict[str, Recipe] = {
    "eurosat_rgb": Recipe(64, 3, "pad", vflip=True),
    "isic": Recipe(224, 3, "resized", headline="test_balanced_acc"),
    "clamm": Recipe(224, 1, "resized"),
    "cub": Recipe(224, 3, "resized"),
    "imagenet_subset": Recipe(224, 3, "resized"),
}

Listing = list[tuple[ImageFile, str]]  # (file, label as written)


def _relative(rel: str) -> bool:
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts


def image_tree(imgs: Path) -> set[str]:
    """Every file under ``imgs`` (symbolic links followed), as a POSIX path relative to it."""
    if not imgs.is_dir():
        raise UserError(f"no image folder {imgs} (DEIC layout: ROOT/imgs/ and ROOT/trainval.txt, ROOT/test.txt; "
                        f"see README: Datasets)")
    found = set()
    for folder, _, names in os.walk(imgs, followlinks=True):
        prefix = Path(folder).relative_to(imgs).as_posix()
        found.update(name if prefix == "." else f"{prefix}/{name}" for name in names)
    return found


def bind(rel: str, tree: set[str], origin: str, imgs: Path) -> Path:
    """The one file ``rel`` names: itself, or else ``rel`` plus an image extension (either case)."""
    if rel in tree:
        return imgs / rel
    matches = sorted({rel + e for ext in IMG_EXTENSIONS for e in (ext, ext.upper())} & tree)
    if len(matches) != 1:
        what = "no image file" if not matches else f"{len(matches)} image files ({', '.join(matches)}) for"
        raise UserError(f"{origin}: {what} {imgs / rel} (with or without an image extension)")
    return imgs / matches[0]


def read_split(root: Path, split: str, tree: set[str]) -> Listing:
    """``ROOT/<split>.txt`` as (file under ROOT/imgs, label) pairs; every error names the file and line."""
    path = root / f"{split}.txt"
    if not path.is_file():
        raise UserError(f"no split file {path} (DEIC layout: ROOT/imgs/ and ROOT/trainval.txt, ROOT/test.txt; "
                        f"see README: Datasets)")
    listing: Listing = []
    seen: dict[Path, tuple[int, str]] = {}  # file -> (line, label) where it was first listed
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.strip().rsplit(maxsplit=1)
        origin = f"{path}:{number}"
        if len(fields) != 2 or not _relative(fields[0]):
            raise UserError(f"{origin}: expected 'relative/path label', got {line.strip()!r}")
        file = bind(Path(fields[0]).as_posix(), tree, origin, root / "imgs")
        if file in seen:  # twice would train (or weight the test accuracy) on one image twice, or with two labels
            first, label = seen[file]
            again = "again" if label == fields[1] else f"as {fields[1]!r}, and as {label!r}"
            raise UserError(f"{origin}: {file} is listed {again} at line {first}; list each image once")
        seen[file] = number, fields[1]
        listing.append((ImageFile(file, origin), fields[1]))
    if not listing:
        raise UserError(f"{path} lists no images")
    return listing


def _class_order(labels: set[str]) -> list[str]:
    numeric = all(label.lstrip("-").isdigit() for label in labels)
    return sorted(labels, key=int) if numeric else sorted(labels)


def deic_listings(root: Path, train_split: str = "trainval", test_split: str = "test") -> tuple[Listing, Listing, list[str]]:
    tree = image_tree(root / "imgs")
    train, test = read_split(root, train_split, tree), read_split(root, test_split, tree)
    classes = _class_order({label for _, label in train + test})
    return train, test, classes


def imagefolder_listings(root: Path) -> tuple[Listing, Listing, list[str]]:
    """VIPriors: ``ROOT/train/<wnid>/*`` for training and ``ROOT/val/<wnid>/*`` for testing."""
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise UserError(f"no folder {root / split} (imagenet_subset layout: ROOT/train/<wnid>/*, "
                            f"ROOT/val/<wnid>/*; see README: Datasets)")
    classes, class_to_idx = find_classes(root / "train")
    extra = sorted(set(find_classes(root / "val")[0]) - set(classes))
    if extra:
        raise UserError(f"{root / 'val'} has classes that {root / 'train'} lacks: {', '.join(extra[:5])}")

    def listing(split: str) -> Listing:
        try:
            found = make_dataset(root / split, class_to_idx, extensions=IMG_EXTENSIONS, allow_empty=split == "val")
        except FileNotFoundError as err:  # a class folder without images
            raise UserError(f"{root / split}: {err}") from None
        return [(ImageFile(Path(p)), classes[c]) for p, c in found]

    return listing("train"), listing("val"), classes


def _stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std in [0, 1] units over up to STATS_IMAGES evenly spaced images."""
    sample = x[:: max(1, len(x) // STATS_IMAGES)]
    total, squares = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for start in range(0, len(sample), 100):  # in chunks: 2000 images at 256 px would be 3 GB as float64
        chunk = sample[start:start + 100].astype(np.float64) / 255
        total += chunk.sum((0, 2, 3))
        squares += (chunk ** 2).sum((0, 2, 3))
    count = len(sample) * x.shape[2] * x.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 0))
    return tuple(mean.tolist()), tuple(np.maximum(std, 1 / 255).tolist())  # a flat channel must not divide by 0


def load_folder(name: str, root: str, image_size: int = 0) -> ImageDataset:
    """Dataset ``name`` (a key of RECIPES) from ``root``; ``image_size`` > 0 replaces the recipe's input side
    (training images are stored at the recipe's ratio to it)."""
    recipe, base = RECIPES[name], Path(root)
    if not base.is_dir():
        raise UserError(f"{name}: --data-root {root} is not a folder (see README: Datasets)")
    if name == "imagenet_subset":
        train, test, classes = imagefolder_listings(base)
    else:
        train, test, classes = deic_listings(base)
    index = {label: i for i, label in enumerate(classes)}
    train_geometry, test_geometry = recipe.geometries(image_size or recipe.size)
    cache = base / ".cache"

    def images(listing: Listing, geometry: Geometry, split: str) -> torch.Tensor:
        tag = f"{name}-{split}-{geometry.channels}x{geometry.resize}x{geometry.crop}"
        return torch.from_numpy(load_images([f for f, _ in listing], geometry, cache, tag))

    def labels(listing: Listing) -> torch.Tensor:
        return torch.tensor([index[label] for _, label in listing], dtype=torch.int64)

    x_train = images(train, train_geometry, "train")
    mean, std = _stats(x_train.numpy())
    return ImageDataset(name, x_train, labels(train), images(test, test_geometry, "test"), labels(test),
                        len(classes), mean, std, crop=recipe.crop, vflip=recipe.vflip, headline=recipe.headline)
