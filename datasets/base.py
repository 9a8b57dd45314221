"""The in-memory image dataset every loader returns."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class ImageDataset:
    """Train and test splits as uint8 [N, C, H, W] images and int64 labels, on the CPU.

    ``mean`` and ``std`` are the per-channel statistics (in [0,1] units) that models normalise with.
    """
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        # crops, Cutout, the policies and the model stems all take one side length
        for split, x in (("train", self.x_train), ("test", self.x_test)):
            if x.ndim != 4 or x.shape[2] != x.shape[3] or x.shape[1:] != self.x_train.shape[1:]:
                raise ValueError(f"{self.name}: {split} images must be square [N, C, S, S] with one shape for both "
                                 f"splits, got {tuple(x.shape)}")

    @property
    def in_channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def image_size(self) -> int:
        return self.x_train.shape[2]

    def subset(self, indices: np.ndarray) -> "ImageDataset":
        """The same dataset with only ``indices`` of the training split."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return ImageDataset(self.name, self.x_train[idx], self.y_train[idx], self.x_test, self.y_test,
                            self.num_classes, self.mean, self.std)


def from_nhwc(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
              num_classes: int, mean: tuple[float, ...], std: tuple[float, ...]) -> ImageDataset:
    """Build from uint8 NHWC arrays (the layout of CIFAR files and of our .npz copies)."""
    def images(x: np.ndarray) -> torch.Tensor:
        x = np.asarray(x, dtype=np.uint8)
        if x.ndim == 3:  # grayscale without a channel axis
            x = x[..., None]
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(y, dtype=np.int64).reshape(-1))

    return ImageDataset(name, images(x_train), labels(y_train), images(x_test), labels(y_test),
                        num_classes, tuple(mean), tuple(std))
