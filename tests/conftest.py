"""Shared fixtures: tiny run arguments, the real-data folders (tests using them skip when they
are absent), one tiny trained run per session (for evaluate.py and the notebook), the ``cuda`` marker (such tests
skip without a CUDA device; ``pytest -m cuda`` runs only them) and the ``slow`` marker (skipped unless ``-m slow``
selects them)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# One thread in every test process (pytest, or each of its xdist workers: pytest.ini) and, through OMP_NUM_THREADS,
# in the processes the tests start: tiny tensors run faster on one thread, and with one worker per core, more
# threads than cores made tests up to 100x slower on a 2-core machine. A user's OMP_NUM_THREADS is kept.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_cuda = pytest.mark.skip(reason="needs a CUDA device")
    skip_slow = pytest.mark.skip(reason="slow: select with -m slow")
    slow_selected = "slow" in (config.getoption("markexpr") or "")
    for item in items:
        if item.get_closest_marker("cuda") and not torch.cuda.is_available():
            item.add_marker(skip_cuda)
        if item.get_closest_marker("slow") and not slow_selected:
            item.add_marker(skip_slow)


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


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One tiny run trained once per session for the tests that read finished runs (evaluate.py, the notebook):
    two levels of a width-8 ResNet-18 on the synthetic data, about 93% test accuracy, 15 s of CPU."""
    from lottery.cli import main
    out = tmp_path_factory.mktemp("trained_run")
    assert main(tiny_argv(out, "--per-class", "30", "--epochs", "5", "--width", "8", "--eval-every", "0",
                          "--lr", "0.05", "--batch-size", "30")) == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


@pytest.fixture
def c10c_mini() -> Path:
    path = SHARED_DATA / "CIFAR-10-C-mini"
    if not (path / "labels.npy").exists():
        pytest.skip(f"the mini CIFAR-10-C was not found at {path} (see ../shared/data/README.md)")
    return path
