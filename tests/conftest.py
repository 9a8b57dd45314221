"""Shared fixtures: tiny run arguments, one-thread CPU runs, the real-data folder (tests using it skip when it is
absent), and the ``cuda`` marker (such tests skip without a CUDA device; ``pytest -m cuda`` runs only them)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if item.get_closest_marker("cuda"):
            item.add_marker(skip)


@pytest.fixture
def one_thread():
    """Tiny tensors run faster on one thread; two threads on a busy 2-core machine can be 100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cifar_root() -> str:
    if not (SHARED_DATA / "cifar10.npz").exists():
        pytest.skip(f"real CIFAR-10 not found at {SHARED_DATA}/cifar10.npz (see README: Data)")
    return str(SHARED_DATA)


def tiny_argv(out: Path, *extra: str) -> list[str]:
    """A run that finishes in seconds on a CPU: synthetic data, a width-4 ResNet-18, 2 levels of 3 epochs."""
    return ["--dataset", "synthetic", "--per-class", "20", "--width", "4", "--rounds", "2", "--epochs", "3",
            "--batch-size", "50", "--rewind", "epoch:1", "--eval-every", "1", "--checkpoint-minutes", "0",
            "--device", "cpu", "--out", str(out), *extra]
