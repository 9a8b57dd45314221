"""The baseline run scripts queue valid runs: each script runs against a stand-in for scripts/lib/sweep.sh that
records its sweep_add lines, and every line must parse and validate as main_imp.py flags."""
from __future__ import annotations

import pytest

from lottery.cli import parse_args
from tests.sweep_helpers import queued


def test_pai_script_queues_every_method_at_every_ticket_density(tmp_path):
    runs = queued(tmp_path, "run_cifar10_pai.sh", "pai", "0.01")
    hps = [parse_args(argv) for argv in runs]
    methods = {hp.pruning.prune_method for hp in hps}
    assert methods == {"snip", "grasp", "synflow", "random_erk", "random_uniform", "omp"}
    for method in methods:
        densities = sorted({hp.pruning.target_density for hp in hps if hp.pruning.prune_method == method})
        assert densities == pytest.approx(sorted(0.8 ** k for k in range(1, 16)), rel=1e-9)
    assert {hp.data.augment for hp in hps} == {"base", "contrast", "randaug", "autoaug"}
    assert len(hps) == 6 * 15 * 4 and all(hp.data.data_fraction == 0.01 for hp in hps)


def test_reinit_script_branches_the_main_sweeps_runs(tmp_path):
    hps = [parse_args(argv) for argv in queued(tmp_path, "run_cifar10_reinit.sh", "main", "0.02")]
    assert all(hp.pruning.reinit and hp.pruning.prune_method == "magnitude" for hp in hps)
    assert {(hp.data.augment, hp.data.cutout) for hp in hps} == {("base", 0), ("contrast", 0), ("randaug", 16),
                                                                   ("autoaug", 16)}


def test_randomprune_and_smalldense_scripts(tmp_path):
    hps = [parse_args(a) for a in queued(tmp_path / "r", "run_cifar10_randomprune.sh", "rp")]
    assert {hp.pruning.prune_method for hp in hps} == {"random"}
    assert sorted({hp.data.data_fraction for hp in hps}) == [0.01, 0.02, 0.1, 0.2, 0.5, 1.0] and len(hps) == 24
    hps = [parse_args(a) for a in queued(tmp_path / "s", "run_cifar10_smalldense.sh", "sd", "0.1", "0.2", "0.05")]
    assert sorted({hp.model.match_density for hp in hps}) == [0.05, 0.2] and len(hps) == 8
    assert len(queued(tmp_path / "d", "run_cifar10_smalldense.sh", "sd", "0.1")) == 4 * 15
