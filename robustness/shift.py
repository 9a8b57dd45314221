"""Natural distribution shift: CIFAR-10.1 (Recht et al., 2019) and CIFAR-10.2 (Lu et al., 2020), new test sets
drawn like CIFAR-10's, and the gap to the CIFAR-10 test accuracy (suite ``clean``, always evaluated).

Files, in the layouts their authors publish:
- CIFAR-10.1 v6: ``cifar10.1_v6_data.npy`` (uint8 [2000, 32, 32, 3]) and ``cifar10.1_v6_labels.npy``;
- CIFAR-10.2: ``cifar102_test.npz`` (keys ``images``, uint8 [2000, 32, 32, 3], and ``labels``); with
  ``--cifar102-all`` also ``cifar102_train.npz`` (10,000 more), all 12,000 together as the paper evaluated them
  (name ``all``), besides the test split alone (name ``test``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from robustness.units import Context, MissingData, Unit, missing_files
from utils.errors import UserError

CIFAR101_FILES = ("cifar10.1_v6_data.npy", "cifar10.1_v6_labels.npy")
CIFAR101_SOURCE = "https://github.com/modestyachts/CIFAR-10.1 (folder datasets/)"
CIFAR102_SOURCE = "https://github.com/modestyachts/cifar-10.2"
SHIFT_SUITES = ("cifar10.1", "cifar10.2")


def _nchw(images: np.ndarray, labels: np.ndarray, source: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = np.asarray(images), np.asarray(labels).reshape(-1)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or len(images) != len(labels):
        raise UserError(f"{source}: expected uint8 [N, 32, 32, 3] images and N labels, got {images.dtype} "
                        f"{images.shape} and {labels.shape}")
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2), torch.from_numpy(labels.astype(np.int64))


def load_cifar101(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    return _nchw(np.load(root / CIFAR101_FILES[0]), np.load(root / CIFAR101_FILES[1]), root)


def load_cifar102(root: Path, splits: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The concatenation of ``cifar102_<split>.npz`` over ``splits``."""
    parts = []
    for split in splits:
        with np.load(root / f"cifar102_{split}.npz") as f:
            parts.append(_nchw(f["images"], f["labels"], root / f"cifar102_{split}.npz"))
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def _unit(ctx: Context, suite: str, name: str, load) -> Unit:
    """One accuracy over a whole set; the set is read when the first model needs it, then kept."""
    def data() -> tuple[torch.Tensor, torch.Tensor]:
        if (suite, name) not in ctx.cache:
            ctx.cache[(suite, name)] = load()
        return ctx.cache[(suite, name)]
    return Unit(suite, name, [(name, None, None)], len(data()[1]), lambda model: [ctx.accuracy(model, *data())])


def clean_units(ctx: Context) -> list[Unit]:
    """The run's own test set (CIFAR-10's for CIFAR-10 runs), in the same precision as the shifted sets."""
    return [_unit(ctx, "clean", "test", lambda: (ctx.x_test, ctx.y_test))]


def _check_cifar10(ctx: Context, suite: str) -> None:
    if ctx.x_test.shape[1:] != (3, 32, 32) or ctx.num_classes != 10:
        raise MissingData(f"skipping {suite}: it is a CIFAR-10 test set, and this run's images are "
                          f"{tuple(ctx.x_test.shape[1:])} with {ctx.num_classes} classes")


def cifar101_units(ctx: Context) -> list[Unit]:
    absent = missing_files("cifar10.1", ctx.cifar101_root, CIFAR101_FILES, CIFAR101_SOURCE, "--cifar101-root")
    if absent is not None:
        raise absent
    _check_cifar10(ctx, "cifar10.1")
    return [_unit(ctx, "cifar10.1", "v6", lambda: load_cifar101(ctx.cifar101_root))]


def cifar102_units(ctx: Context) -> list[Unit]:
    splits = ("test", "train") if ctx.cifar102_all else ("test",)
    absent = missing_files("cifar10.2", ctx.cifar102_root, [f"cifar102_{s}.npz" for s in splits], CIFAR102_SOURCE,
                           "--cifar102-root")
    if absent is not None:
        raise absent
    _check_cifar10(ctx, "cifar10.2")
    units = [_unit(ctx, "cifar10.2", "test", lambda: load_cifar102(ctx.cifar102_root, ("test",)))]
    if ctx.cifar102_all:
        units.append(_unit(ctx, "cifar10.2", "all", lambda: load_cifar102(ctx.cifar102_root, splits)))
    return units


def summarize(records: list[dict]) -> list[dict]:
    """Per level and shifted set: its accuracy, the clean test accuracy and the gap (clean - shifted)."""
    clean = {r["level"]: r["accuracy"] for r in records if r["suite"] == "clean"}
    return [{"level": r["level"], "density": r["density"], "set": f"{r['suite']}/{r['name']}",
             "accuracy": r["accuracy"], "clean_acc": clean.get(r["level"]),
             "gap": clean[r["level"]] - r["accuracy"] if r["level"] in clean else None}
            for r in records if r["suite"] in SHIFT_SUITES]
