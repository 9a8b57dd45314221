"""The in-memory image dataset every loader returns."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

# How training images become model inputs (the base stage of augment.build):
#   "pad":     stored at the input size; random crop from the zero-padded image (CIFAR, EuroSAT)
#   "resized": stored larger than the input; random-resized crop down to the input size (the ImageNet recipe)
CROPS = ("pad", "resized")


@dataclass
class ImageDataset:
    """Train and test splits as uint8 [N, C, H, W] images and int64 labels, on the CPU.

    ``mean`` and ``std`` are the per-channel statistics (in [0,1] units) that models normalise with.
    Test images are stored exactly as the model sees them (already resized and centre-cropped: no transform at
    test time), so ``image_size`` is the test side. Training images are stored at that size too for
    ``crop="pad"``, or larger for ``crop="resized"`` (the training augmentation crops them to ``image_size``).
    ``vflip`` adds vertical flips to the training augmentation; ``headline`` is the result key the console table
    leads with (``test_acc`` or ``test_balanced_acc``).
    """
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop: str = "pad"
    vflip: bool = False
    headline: str = "test_acc"

    def __post_init__(self) -> None:
        # crops, Cutout, the policies and the model stems all take one side length
        for split, x in (("train", self.x_train), ("test", self.x_test)):
            if x.ndim != 4 or x.shape[2] != x.shape[3] or x.shape[1] != self.x_train.shape[1]:
                raise ValueError(f"{self.name}: {split} images must be square [N, C, S, S] with the same channels "
                                 f"in both splits, got {tuple(x.shape)}")
        if self.crop not in CROPS:
            raise ValueError(f"{self.name}: crop must be one of {CROPS}, got {self.crop!r}")
        if self.crop == "pad" and self.train_size != self.image_size:
            raise ValueError(f"{self.name}: with crop='pad' train and test images need one size, got "
                             f"{self.train_size} and {self.image_size}")
        if self.crop == "resized" and self.train_size < self.image_size:
            raise ValueError(f"{self.name}: training images ({self.train_size} px) are smaller than the "
                             f"{self.image_size}-px input they are cropped to")

    @property
    def in_channels(self) -> int:
        return self.x_train.shape[1]

    @property
    def image_size(self) -> int:
        """The model's input side: the stored test images, and the training images after augmentation."""
        return self.x_test.shape[2]

    @property
    def train_size(self) -> int:
        """The stored training images' side."""
        return self.x_train.shape[2]

    def subset(self, indices: np.ndarray) -> "ImageDataset":
        """The same dataset with only ``indices`` of the training split."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return replace(self, x_train=self.x_train[idx], y_train=self.y_train[idx])


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
