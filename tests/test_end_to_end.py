"""One tiny IMP run on real CIFAR-10 (../shared/data): it must learn well above chance at every level."""
from __future__ import annotations

import json

from lottery.cli import main


def test_tiny_imp_on_real_cifar10_learns(tmp_path, cifar_root):
    argv = ["--dataset", "cifar10", "--data-root", cifar_root, "--per-class", "50", "--width", "8",
            "--rounds", "2", "--epochs", "8", "--rewind", "epoch:1", "--eval-every", "0", "--device", "cpu",
            "--out", str(tmp_path)]
    assert main(argv) == 0
    (run_dir,) = list(tmp_path.iterdir())
    levels = json.loads((run_dir / "results.json").read_text())["levels"]
    assert [round(r["density"], 3) for r in levels] == [1.0, 0.8]
    for r in levels:
        assert r["test_acc"] > 0.2, r  # chance is 0.1; evaluated on all 10,000 test images
