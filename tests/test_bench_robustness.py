"""bench/bench_robustness.py: the tiling keeps each severity's images, and the script runs end to end on a CPU."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from robustness.corruptions import CorruptionSet
from tests.test_robustness import write_c10c

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bench_robustness.py"
spec = importlib.util.spec_from_file_location("bench_robustness", SCRIPT)
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_tiling_repeats_each_severity_within_its_block(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    source = write_c10c(tmp_path / "src", images, np.arange(3), names=["fog"])
    stacked = np.load(source / "fog.npy")
    stacked[3:6] = 255 - stacked[3:6]  # severity 2 differs from severity 1
    np.save(source / "fog.npy", stacked)
    (tmp_path / "out").mkdir()
    bench.tile_c10c(source, tmp_path / "out", 7)
    tiled = CorruptionSet(tmp_path / "out")
    assert tiled.per_severity("fog") == 7
    x, y = tiled.severity("fog", 2)
    assert np.array_equal(x.permute(0, 2, 3, 1).numpy(), stacked[3:6][[0, 1, 2, 0, 1, 2, 0]])
    assert y.tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_bench_runs_on_cpu(tmp_path, capsys):
    rng = np.random.default_rng(0)
    source = write_c10c(tmp_path / "c", rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8), np.arange(2))
    assert bench.main(["--dataset", "synthetic", "--width", "4", "--c10c-root", str(source), "--tile-to", "4",
                       "--pgd-images", "8", "--attack-batch-size", "8", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "CIFAR-10-C: 19 corruptions x 5 severities = 380 images" in out
    assert "PGD-20 at 8/255 on 8 images" in out
