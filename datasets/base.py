"""The in-memory image dataset every loader returns."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from utils.errors import UserError

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
                raise UserError(f"{self.name}: {split} images must be square [N, C, S, S] with the same channels "
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

    def first_test_images(self, n: int) -> "ImageDataset":
        """The same dataset with ``n`` test images, class-balanced and deterministic: the first image of every
        class, then the second of every class, and so on, in test-set order (a test set stored class by class
        keeps all its classes; fewer than ``n`` images keep them all)."""
        labels = self.y_test.numpy()
        rank = np.empty(len(labels), dtype=np.int64)
        for c in np.unique(labels):
            where = np.flatnonzero(labels == c)
            rank[where] = np.arange(len(where))
        keep = np.sort(np.lexsort((np.arange(len(labels)), rank))[:n])
        idx = torch.as_tensor(keep, dtype=torch.long)
        return replace(self, x_test=self.x_test[idx], y_test=self.y_test[idx])


def _images(name: str, key: str, x: np.ndarray) -> torch.Tensor:
    """uint8 NHWC (or NHW grayscale) array -> uint8 NCHW tensor; anything else is refused, saying what was found.

    Integer arrays in [0, 255] are converted exactly; float arrays are refused rather than guessed at, since
    [0, 1] floats cast to uint8 are all black and nothing downstream would notice."""
    x = np.asarray(x)
    if x.ndim == 3:  # grayscale without a channel axis
        x = x[..., None]
    if x.ndim != 4 or len(x) == 0:
        raise UserError(f"{name}: {key} has shape {x.shape}; expected a non-empty [N, H, W, C] (NHWC) image array")
    if x.shape[1] in (1, 3, 4) and x.shape[3] not in (1, 3, 4):
        raise UserError(f"{name}: {key} has shape {x.shape}, which looks like NCHW [N, C, H, W]; expected NHWC "
                        f"[N, H, W, C] (convert with x.transpose(0, 2, 3, 1))")
    if x.dtype != np.uint8:
        if x.dtype.kind not in "iuf":
            raise UserError(f"{name}: {key} has dtype {x.dtype}; expected uint8 pixel values in [0, 255]")
        low, high = x.min().item(), x.max().item()
        if x.dtype.kind == "f":
            hint = " (looks like [0, 1] floats: store round(x * 255) as uint8)" if high <= 1 else ""
            raise UserError(f"{name}: {key} holds {x.dtype} values in [{low:g}, {high:g}]; expected uint8 "
                            f"pixel values in [0, 255]{hint}")
        if low < 0 or high > 255:
            raise UserError(f"{name}: {key} holds {x.dtype} values in [{low}, {high}]; expected pixel values "
                            f"in [0, 255]")
        x = x.astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _labels(name: str, key: str, y: np.ndarray, count: int, num_classes: int) -> torch.Tensor:
    """Integer class labels in [0, num_classes), one per image (shape [N] or [N, 1])."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != count:
        raise UserError(f"{name}: {key} has shape {y.shape}; expected [{count}], one label per image")
    if y.dtype.kind not in "iu":
        raise UserError(f"{name}: {key} has dtype {y.dtype}; expected integer class labels")
    low, high = y.min().item(), y.max().item()
    if low < 0 or high >= num_classes:
        raise UserError(f"{name}: {key} holds labels in [{low}, {high}]; expected [0, {num_classes - 1}] "
                        f"({num_classes} classes)")
    return torch.from_numpy(y.astype(np.int64))


def from_nhwc(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
              num_classes: int, mean: tuple[float, ...], std: tuple[float, ...]) -> ImageDataset:
    """Build from uint8 NHWC arrays (the layout of CIFAR files and of our .npz copies), checking dtype, value
    range, layout, labels and that both splits hold images of one shape; a bad array is a UserError that says
    what was found and what is expected."""
    train, test = _images(name, "x_train", x_train), _images(name, "x_test", x_test)
    if train.shape[1] != len(mean):  # grayscale (NHW or one channel) for an RGB dataset, or RGBA
        raise UserError(f"{name}: x_train images have {train.shape[1]} channel(s); expected {len(mean)} "
                        f"({'RGB' if len(mean) == 3 else 'channels'}, uint8 NHWC [N, H, W, {len(mean)}])")
    if train.shape[1:] != test.shape[1:]:
        found, expected = (tuple(t.permute(1, 2, 0).shape) for t in (test[0], train[0]))
        raise UserError(f"{name}: x_test images are {found} (H, W, C) but x_train images are {expected}; both "
                        f"splits need one image shape")
    return ImageDataset(name, train, _labels(name, "y_train", y_train, len(train), num_classes),
                        test, _labels(name, "y_test", y_test, len(test), num_classes),
                        num_classes, tuple(mean), tuple(std))
