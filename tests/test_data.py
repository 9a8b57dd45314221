"""Subsets are exactly class-balanced, seeded independently of training, and saved; loaders read real files."""
from __future__ import annotations

import numpy as np
import pytest

import datasets
from datasets.base import from_nhwc
from lottery.cli import parse_args
from lottery.run import load_subset
from tests.conftest import tiny_argv
from utils.errors import UserError


def test_balanced_subset_is_exact_and_depends_only_on_data_seed(tmp_path):
    a, idx_a = load_subset(parse_args(tiny_argv(tmp_path, "--per-class", "7", "--seed", "1")))
    _, idx_b = load_subset(parse_args(tiny_argv(tmp_path, "--per-class", "7", "--seed", "2")))
    _, idx_c = load_subset(parse_args(tiny_argv(tmp_path, "--per-class", "7", "--data-seed", "5")))
    assert np.bincount(a.y_train.numpy()).tolist() == [7] * 10
    assert np.array_equal(idx_a, idx_b), "--seed must not change the subset"
    assert not np.array_equal(idx_a, idx_c), "--data-seed must change the subset"
    assert len(np.unique(idx_a)) == len(idx_a)


def test_fraction_means_per_class_share():
    labels = np.repeat(np.arange(10), 5000)
    assert datasets.per_class_count(labels, 10, 0.01, 0) == 50
    assert datasets.per_class_count(labels, 10, 1.0, 0) == 5000
    assert datasets.per_class_count(labels, 10, 1.0, 13) == 13


def test_long_tail_counts():
    assert datasets.class_counts(100, 10, "exp", 0.01) == [int(100 * 0.01 ** (i / 9)) for i in range(10)]
    counts = datasets.class_counts(100, 10, "exp", 0.01)
    assert counts[0] == 100 and counts[-1] == 1 and counts == sorted(counts, reverse=True)
    assert datasets.class_counts(100, 10, "step", 0.1) == [100] * 5 + [10] * 5
    labels = np.repeat(np.arange(10), 200)
    idx = datasets.draw_indices(labels, counts, seed=0)
    assert np.bincount(labels[idx], minlength=10).tolist() == counts


def test_synthetic_is_deterministic_and_balanced():
    a, b = datasets.load("synthetic", "unused"), datasets.load("synthetic", "unused")
    assert (a.x_train == b.x_train).all()
    assert a.x_train.dtype.is_floating_point is False and a.x_train.shape[1:] == (3, 32, 32)
    assert np.bincount(a.y_train.numpy()).tolist() == [200] * 10


def test_npz_copy_is_read(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "cifar100.npz", x_train=rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
             y_train=np.arange(20) % 100, x_test=rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8),
             y_test=np.arange(5), extra=np.zeros(1))
    d = datasets.load("cifar100", str(tmp_path))
    assert d.num_classes == 100 and d.x_train.shape == (20, 3, 32, 32) and d.y_test.tolist() == [0, 1, 2, 3, 4]


def test_real_cifar10(cifar_root):
    d = datasets.load("cifar10", cifar_root)
    assert d.x_train.shape == (50000, 3, 32, 32) and d.x_test.shape == (10000, 3, 32, 32)
    assert np.bincount(d.y_train.numpy()).tolist() == [5000] * 10
    mean = d.x_train[:5000].float().mean((0, 2, 3)) / 255
    assert np.allclose(mean.numpy(), d.mean, atol=0.01)


def test_non_square_images_are_refused_when_the_dataset_is_built():
    x, y = np.zeros((4, 32, 24, 3), np.uint8), np.zeros(4, np.int64)
    with pytest.raises(UserError, match="must be square"):
        from_nhwc("odd", x, y, x, y, 2, (0.5,) * 3, (0.25,) * 3)


def test_test_images_caps_the_test_set_class_balanced():
    """--test-images N keeps N test images, every class alike (the synthetic test set is stored class by class, so
    the first N would be one class), and only with N > 0."""
    full = datasets.load("synthetic", "")
    capped = full.first_test_images(25)
    counts = np.bincount(capped.y_test.numpy(), minlength=10)
    assert len(capped.y_test) == 25 and counts.min() == 2 and counts.max() == 3
    assert capped.x_train is full.x_train and len(full.first_test_images(10_000).y_test) == 500
    data, _ = load_subset(parse_args(["--dataset", "synthetic", "--per-class", "5", "--test-images", "30"]))
    assert len(data.y_test) == 30 and len(load_subset(parse_args(["--dataset", "synthetic"]))[0].y_test) == 500
    with pytest.raises(UserError, match="--test-images"):
        parse_args(["--test-images", "-1"])
