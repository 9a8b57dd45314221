"""Tiny image-file datasets in the official layouts, for the loader tests.

Every file is a textured gray image whose mean value identifies it (``value(k)`` for the k-th file written), so
a test can tell which file a loaded image came from. Formats, modes and sizes vary across files: PNG, JPEG and
TIFF (8- and 16-bit), grayscale and RGB, landscape and portrait, in nested folders whose names are prefixes of
other names (``c1``/``c10``, ``img1``/``img10``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASS_DIRS = ("c1", "c10", "c2")  # c1 is a prefix of c10
FILE_STEMS = ("img1", "img10", "img11", "sub/img2", "sub/deep/img1")  # img1 is a prefix of img10, img11
FORMATS = ("png", "jpg", "tif", "tif16", "png")
SIZES = ((40, 30), (30, 40))  # (width, height)
TOLERANCE = 3.0  # |mean of a loaded image - its file's value| (JPEG and resizing move the mean a little)


def value(k: int) -> int:
    return 20 + 9 * k


def write_image(path: Path, k: int, fmt: str, grayscale: bool, size: tuple[int, int]) -> None:
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    pixels = value(k) + 6 * (((xx // 2 + yy // 3) % 2) * 2 - 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "tif16":
        Image.fromarray((pixels * 257).astype(np.uint16)).save(path)  # 16-bit grayscale TIFF (mode I;16)
        return
    gray = Image.fromarray(pixels.astype(np.uint8), "L")
    (gray if grayscale else gray.convert("RGB")).save(path)


def _files(per_class: int, first: int) -> list[tuple[str, int, str]]:
    """(relative path, class, format) for ``per_class`` files of each class, the k-th file numbered from
    ``first``."""
    out = []
    for c, folder in enumerate(CLASS_DIRS):
        for i in range(per_class):
            fmt = FORMATS[(c + i + first) % len(FORMATS)]
            ext = "tif" if fmt == "tif16" else fmt
            out.append((f"{folder}/{FILE_STEMS[(i + first) % len(FILE_STEMS)]}.{ext}", c, fmt))
    return out


def write_deic(root: Path, train_per_class: int = 3, test_per_class: int = 2, names: bool = False) -> dict:
    """``root/imgs/...`` with ``trainval.txt`` and ``test.txt`` (labels 0, 1, 2, or class names with ``names``).
    Most lines name their file without the extension, as the benchmark's files do; the rest with it.
    Returns {split: [(relative path as listed, class index, file value)]} in split-file order."""
    listing, k = {}, 0
    for split, per_class, first in (("trainval", train_per_class, 0), ("test", test_per_class, train_per_class)):
        rows = []
        for rel, c, fmt in _files(per_class, first):
            write_image(root / "imgs" / rel, k, fmt, grayscale=k % 2 == 0, size=SIZES[k % 2])
            rows.append((rel if k % 3 == 0 else rel.rsplit(".", 1)[0], c, value(k)))
            k += 1
        rows = rows[1::2] + rows[::2]  # not in path order
        label = (lambda c: f"species_{CLASS_DIRS[c]}") if names else str
        (root / f"{split}.txt").write_text("".join(f"{rel} {label(c)}\n" for rel, c, _ in rows))
        listing[split] = rows
    return listing


def write_imagefolder(root: Path, train_per_class: int = 3, val_per_class: int = 2) -> dict:
    """VIPriors layout ``root/train/<wnid>/...``, ``root/val/<wnid>/...``; returns {split: {path: (class, value)}}."""
    wnids = ("n01440764", "n014407640", "n01443537")  # the second has the first as a prefix
    listing, k = {}, 0
    for split, per_class, first in (("train", train_per_class, 0), ("val", val_per_class, train_per_class)):
        rows = {}
        for rel, c, fmt in _files(per_class, first):
            path = root / split / wnids[c] / rel.split("/", 1)[1]
            write_image(path, k, fmt, grayscale=k % 2 == 0, size=SIZES[k % 2])
            rows[str(path)] = (c, value(k))
            k += 1
        listing[split] = rows
    return listing
