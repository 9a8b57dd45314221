"""The run scripts of the model variants queue exactly the intended runs, each a valid main_imp.py command.

The shared launcher (scripts/lib/sweep.sh) is not needed for that: the scripts are run against a stand-in that
only records each ``sweep_add``'s flags. With the real launcher, a dry run must succeed as well.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lottery.cli import parse_args
from tests.sweep_helpers import queued, sweep_env

ROOT = Path(__file__).resolve().parents[1]


def test_othermethods_script(tmp_path):
    weights = tmp_path / "resnet18-f37072fd.pth"
    weights.write_bytes(b"")
    runs = queued(tmp_path, "run_cifar10_othermethods.sh", "prefix", IMAGENET_WEIGHTS=str(weights))
    hps = [parse_args([*argv, "--out", str(tmp_path)]) for argv in runs]
    variants = {(hp.data.data_fraction, hp.model.head, hp.model.arch, hp.model.init, hp.training.lr) for hp in hps}
    expected = {(f, *v) for f in (0.01, 0.02) for v in [("cosine", "resnet18", "random", 0.1),
                                                        ("tvmf", "resnet18", "random", 0.1),
                                                        ("linear", "hresnet18", "random", 0.1),
                                                        ("linear", "fresnet18", "random", 0.1),
                                                        ("linear", "resnet18", "imagenet", 0.001)]}
    assert variants == expected and len(runs) == len(expected)
    assert {hp.model.init_checkpoint for hp in hps if hp.model.init == "imagenet"} == {str(weights)}
    assert all(hp.model.tvmf_kappa == 16 for hp in hps)


def test_advprop_script(tmp_path):
    hps = [parse_args([*argv, "--out", str(tmp_path)]) for argv in queued(tmp_path, "run_cifar10_advprop.sh", "prefix")]
    assert sorted(hp.data.data_fraction for hp in hps) == [0.01, 0.02, 0.1, 0.2, 0.5, 1.0]
    assert all(hp.training.advprop and hp.training.advprop_steps == 1 for hp in hps)


@pytest.mark.parametrize("script", ["run_cifar10_othermethods.sh", "run_cifar10_advprop.sh"])
def test_dry_run_with_the_shared_launcher(tmp_path, script):
    subprocess.run(["bash", str(ROOT / "scripts" / script), "dry"], check=True, cwd=ROOT,
                   env=sweep_env(DRY_RUN="1", OUT=str(tmp_path)))
