"""A small generated dataset that a CNN can learn (oriented colour gratings), for offline demos and tests.

Class c is a sinusoidal grating at orientation c*pi/C with a class tint; each image has a random phase,
frequency jitter and pixel noise, so the class is recognisable but not trivially from one pixel.
It is generated the same way every time (fixed seed), independent of any run's seeds.
"""
from __future__ import annotations

import numpy as np

from datasets.base import ImageDataset, from_nhwc

NUM_CLASSES, IMAGE_SIZE, TRAIN_PER_CLASS, TEST_PER_CLASS = 10, 32, 200, 50


def _images(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    n, s = len(labels), IMAGE_SIZE
    yy, xx = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
    theta = labels * np.pi / NUM_CLASSES + rng.normal(0, 0.05, n)
    freq = rng.uniform(0.12, 0.2, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    proj = np.cos(theta)[:, None, None] * xx + np.sin(theta)[:, None, None] * yy
    wave = np.sin(2 * np.pi * freq[:, None, None] * proj + phase[:, None, None])
    tint = np.stack([np.cos(2 * np.pi * (labels / NUM_CLASSES + k / 3)) for k in range(3)], axis=-1)
    img = 0.5 + 0.3 * wave[..., None] * (0.6 + 0.4 * tint[:, None, None, :])
    img += rng.normal(0, 0.08, img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def load_synthetic(name: str = "synthetic", root: str | None = None) -> ImageDataset:
    rng = np.random.default_rng(1234)
    y_train = np.repeat(np.arange(NUM_CLASSES), TRAIN_PER_CLASS)
    y_test = np.repeat(np.arange(NUM_CLASSES), TEST_PER_CLASS)
    x_train, x_test = _images(rng, y_train), _images(rng, y_test)
    mean = tuple(float(m) for m in x_train.reshape(-1, 3).mean(0) / 255)
    std = tuple(float(s) for s in x_train.reshape(-1, 3).std(0) / 255)
    return from_nhwc(name, x_train, y_train, x_test, y_test, NUM_CLASSES, mean, std)
