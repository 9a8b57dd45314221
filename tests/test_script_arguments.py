"""Every run script refuses a missing, empty or extra argument with one usage line and exit status 2, before it
queues anything (bash's ${1:?} ended with status 1 and a line of its own noise; an extra argument was ignored)."""
from __future__ import annotations

import pytest

from tests.sweep_helpers import SCRIPTS, run_script

# script: (too few, too many) arguments; each script's usage line starts with "usage: bash scripts/<script>"
SCRIPTS_ARGS = {
    "run_cifar10.sh": (["p"], ["p", "0.01", "imp", "x"]),
    "run_cifar10_all.sh": ([], ["p", "imp", "x"]),
    "run_cifar100_longtailed.sh": ([], ["p", "x"]),
    "run_cifar10_advprop.sh": ([], ["p", "x"]),
    "run_cifar10_othermethods.sh": ([], ["p", "x"]),
    "run_cifar10_pai.sh": (["p"], ["p", "0.01", "x"]),
    "run_cifar10_reinit.sh": (["p"], ["p", "0.01", "x"]),
    "run_cifar10_smalldense.sh": (["p", ""], None),
    "run_cifar10_randomprune.sh": ([""], None),
    "run_otherdsets.sh": (["eurosat_rgb"], ["eurosat_rgb", ".", "x"]),
    "run_cifar10_ssl.sh": ([""], None),
    "reproduce_mini.sh": (None, ["x"]),
    "reproduce_gpu.sh": (None, ["x"]),
}


@pytest.mark.parametrize("script, which", [(s, w) for s, args in SCRIPTS_ARGS.items() for w in (0, 1)
                                           if args[w] is not None])
def test_wrong_arguments_are_one_usage_line_and_exit_2(tmp_path, script, which):
    done = run_script(SCRIPTS / script, *SCRIPTS_ARGS[script][which], cwd=tmp_path, OUT=str(tmp_path),
                      DRY_RUN="1", timeout=60)
    assert done.returncode == 2 and done.stderr.startswith(f"usage: bash scripts/{script}"), done.stderr
    assert done.stderr.count("\n") == 1 and not done.stdout and not any(tmp_path.iterdir()), done.stderr


def test_every_run_script_is_covered():
    scripts = {p.name for p in SCRIPTS.glob("*.sh") if p.name.startswith(("run_", "reproduce"))}
    assert scripts == set(SCRIPTS_ARGS)
