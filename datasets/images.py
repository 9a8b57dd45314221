"""Image files decoded once into uint8 arrays at a stored resolution, cached in a file next to the data.

Every file is opened with PIL (PNG, JPEG, TIFF; 8- or 16-bit, grayscale or colour), converted to RGB or to one
grayscale channel, resized on its shorter side (PIL's antialiased bilinear filter) and centre-cropped to a
square: ``Geometry(resize, crop)`` is torchvision's ``Resize(resize)`` + ``CenterCrop(crop)``. Decoding runs on
a thread per CPU core (PIL releases the GIL while it decodes and resizes) behind a tqdm bar. The result is
saved as ``<cache dir>/<name>-<digest>.npy``, the digest covering the file list (paths, labels' order, sizes,
modification times) and the geometry, so a second load reads one array and decodes nothing, and any change to
the files or the geometry makes a new cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from utils.errors import UserError
from utils.io import save_numpy

CACHE_VERSION = 1  # bump when decoding changes, so old caches are not reused


@dataclass(frozen=True)
class Geometry:
    """Resize the shorter side to ``resize`` px, then take the centre ``crop`` x ``crop`` square; ``channels`` is
    3 (RGB) or 1 (grayscale)."""
    resize: int
    crop: int
    channels: int


@dataclass(frozen=True)
class ImageFile:
    """One image to decode; ``origin`` says where it was listed (``split.txt:LINE``) for error messages."""
    path: Path
    origin: str = ""


def _to_8bit(img: Image.Image) -> Image.Image:
    """16- and 32-bit integer images (TIFF scans) scaled to 8 bits; PIL's own conversion would clip them."""
    if img.mode.startswith("I;16") or img.mode == "I":
        arr = np.asarray(img).astype(np.float64)
        full = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr / full * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        return Image.fromarray(np.clip(arr * (255.0 if arr.max() <= 1 else 1.0) + 0.5, 0, 255).astype(np.uint8), "L")
    return img


def decode(path: Path, geometry: Geometry) -> np.ndarray:
    """One file as uint8 [C, crop, crop]."""
    with Image.open(path) as img:
        img = _to_8bit(img)
        img = img.convert("RGB" if geometry.channels == 3 else "L")
        w, h = img.size  # the shorter side becomes `resize`, the longer one as torchvision computes it
        size = (geometry.resize, int(geometry.resize * h / w)) if w <= h else (int(geometry.resize * w / h),
                                                                             geometry.resize)
        img = img.resize(size, Image.BILINEAR)
        left, top = int(round((size[0] - geometry.crop) / 2.0)), int(round((size[1] - geometry.crop) / 2.0))
        img = img.crop((left, top, left + geometry.crop, top + geometry.crop))
        arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _decode_checked(item: ImageFile, geometry: Geometry) -> np.ndarray:
    try:
        return decode(item.path, geometry)
    except Exception as err:  # PIL raises many types for truncated or foreign files
        where = f"{item.origin}: " if item.origin else ""
        raise UserError(f"{where}cannot read {item.path}: {type(err).__name__}: {err}") from None


def _digest(files: Sequence[ImageFile], geometry: Geometry) -> str:
    h = hashlib.sha256(json.dumps({"version": CACHE_VERSION, **asdict(geometry)}).encode())
    for item in files:
        st = item.path.stat()
        h.update(f"{item.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def load_images(files: Sequence[ImageFile], geometry: Geometry, cache_dir: Path, name: str) -> np.ndarray:
    """All ``files`` as uint8 [N, C, crop, crop], from the cache when it holds them, else decoded and cached.

    A cache directory that cannot be written costs a warning (the next run decodes again), not the run.
    """
    missing = next((item for item in files if not item.path.is_file()), None)
    if missing is not None:
        where = f"{missing.origin}: " if missing.origin else ""
        raise UserError(f"{where}no image file {missing.path}")
    cache = cache_dir / f"{name}-{_digest(files, geometry)}.npy"
    if cache.is_file():
        try:
            return np.load(cache)
        except (OSError, ValueError) as err:
            print(f"warning: ignoring unreadable cache {cache} ({err}); decoding again", file=sys.stderr)
    out = np.empty((len(files), geometry.channels, geometry.crop, geometry.crop), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        decoded = pool.map(_decode_checked, files, [geometry] * len(files))
        for i, arr in enumerate(tqdm(decoded, total=len(files), desc=f"decoding {name}", unit="img",
                                     leave=False, dynamic_ncols=True)):
            out[i] = arr
    try:
        save_numpy(out, cache)
    except UserError as err:
        print(f"warning: {err}; the next run decodes the images again", file=sys.stderr)
    return out
