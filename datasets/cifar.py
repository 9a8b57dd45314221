"""CIFAR-10 and CIFAR-100: a local ``<root>/<name>.npz`` if present, else torchvision (downloading)."""
from __future__ import annotations

import os

import numpy as np

from datasets.base import ImageDataset, from_nhwc
from utils.errors import UserError

NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_SPECS = {
    # name: (torchvision class, classes, train mean, train std)
    "cifar10": ("CIFAR10", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ("CIFAR100", 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


def _read_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise UserError(f"{path} lacks the keys {missing} (needs {', '.join(NPZ_KEYS)}, uint8 NHWC)")
            return {k: f[k] for k in NPZ_KEYS}
    except UserError:
        raise
    except Exception as err:
        raise UserError(f"cannot read {path}: {err}") from None


def _download(name: str, root: str) -> dict[str, np.ndarray]:
    import torchvision
    cls = getattr(torchvision.datasets, _SPECS[name][0])
    try:
        splits = {train: cls(root, train=train, download=True) for train in (True, False)}
    except Exception as err:  # no network, refused connection, bad checksum, ...
        raise UserError(f"{name} is not in {root!r} and could not be downloaded ({type(err).__name__}: {err}); "
                        f"put {name}.npz (keys {', '.join(NPZ_KEYS)}, uint8 NHWC) or torchvision's files in a "
                        f"folder and pass --data-root FOLDER") from None
    return {"x_train": splits[True].data, "y_train": np.asarray(splits[True].targets),
            "x_test": splits[False].data, "y_test": np.asarray(splits[False].targets)}


def load_cifar(name: str, root: str) -> ImageDataset:
    _, num_classes, mean, std = _SPECS[name]
    path = os.path.join(root, f"{name}.npz")
    arrays = _read_npz(path) if os.path.isfile(path) else _download(name, root)
    return from_nhwc(name, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
                     num_classes, mean, std)
