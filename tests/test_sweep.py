"""The run scripts and their shared launcher (scripts/lib/sweep.sh, package sweep/): what each script queues,
the knobs, failures, reruns, parallel runs and the SLURM batch script (the real cluster: test_slurm.py)."""
from __future__ import annotations

import json
import os
import re
import shlex

from tests.sweep_helpers import KNOBS, SCRIPTS, TINY_RUN, commands, flag, run_script, write_sweep

CIFAR10_SETTINGS = [("base", False), ("contrast", False), ("randaug", True), ("autoaug", True)]


def augmentation(argv: list[str]) -> tuple[str, bool]:
    return flag(argv, "--augment"), "--cutout" in argv


def test_run_cifar10_queues_four_settings_per_seed_with_extra(tmp_path):
    done = run_script(SCRIPTS / "run_cifar10.sh", "demo", "0.02", cwd=tmp_path, DRY_RUN="1", SEEDS="0 3",
                      EXTRA="--epochs 7 --width 16", OUT="out")
    assert done.returncode == 0, done.stderr
    runs = commands(done.stdout)
    assert len(runs) == 8
    # run-major: both seeds of a setting, then the next setting
    assert [augmentation(r) for r in runs] == [s for s in CIFAR10_SETTINGS for _ in range(2)]
    assert [(flag(r, "--seed"), flag(r, "--data-seed")) for r in runs] == [("0", "0"), ("3", "3")] * 4
    for r in runs:
        assert flag(r, "--dataset") == "cifar10" and flag(r, "--data-fraction") == "0.02"
        assert flag(r, "--prune-method") == "magnitude"
        assert flag(r, "--epochs") == "7" and flag(r, "--width") == "16"
        # OUT is taken from where the script was started (it cds to the repository)
        assert flag(r, "--out") == str(tmp_path / "out" / "demo")
    # each run's log lies beside its run directory, named by the run id
    logs = re.findall(r"> (\S+)\.log", done.stdout)
    assert len(set(logs)) == 8 and all(log.startswith(str(tmp_path / "out" / "demo") + "/") for log in logs)


def test_run_cifar10_random_mode_and_quick_preset(tmp_path):
    done = run_script(SCRIPTS / "run_cifar10.sh", "demo", "0.01", "random", cwd=tmp_path, DRY_RUN="1", QUICK="1",
                      EXTRA="--epochs 9", DATA_ROOT="/some/data")
    assert done.returncode == 0, done.stderr
    runs = commands(done.stdout)
    assert len(runs) == 4 and {flag(r, "--prune-method") for r in runs} == {"random"}
    for r in runs:
        assert flag(r, "--width") == "8" and flag(r, "--rounds") == "3"  # the preset
        assert flag(r, "--epochs") == "9"                                # EXTRA comes after it and wins
        assert flag(r, "--data-root") == "/some/data"
    bad = run_script(SCRIPTS / "run_cifar10.sh", "demo", "0.01", "magnitude", cwd=tmp_path, DRY_RUN="1")
    assert bad.returncode != 0 and "MODE must be imp or random" in bad.stderr


def test_run_cifar10_all_covers_every_fraction_smallest_first(tmp_path):
    done = run_script(SCRIPTS / "run_cifar10_all.sh", "all", cwd=tmp_path, DRY_RUN="1")
    assert done.returncode == 0, done.stderr
    runs = commands(done.stdout)
    fractions = [flag(r, "--data-fraction") for r in runs]
    assert fractions == [f for f in ("0.01", "0.02", "0.1", "0.2", "0.5", "1") for _ in range(4)]
    assert [augmentation(r) for r in runs] == CIFAR10_SETTINGS * 6


def test_run_cifar100_longtailed(tmp_path):
    done = run_script(SCRIPTS / "run_cifar100_longtailed.sh", "lt", cwd=tmp_path, DRY_RUN="1", SEEDS="1 2")
    assert done.returncode == 0, done.stderr
    runs = commands(done.stdout)
    assert [flag(r, "--imbalance") for r in runs] == ["0.1", "0.1", "0.05", "0.05", "0.02", "0.02", "0.01", "0.01"]
    for r in runs:
        assert flag(r, "--dataset") == "cifar100" and flag(r, "--long-tail") == "exp"
        assert augmentation(r) == ("autoaug", True)
    assert [flag(r, "--seed") for r in runs] == ["1", "2"] * 4


def test_bad_knobs_stop_the_sweep_before_anything_runs(tmp_path):
    for knobs, message in (({"JOBS": "0"}, "JOBS must be"), ({"SEEDS": "0 x"}, "SEEDS must be"),
                           ({"LAUNCHER": "pbs"}, "LAUNCHER must be"), ({"EXTRA": "--no-such-flag"}, "bad flags"),
                           ({"EXTRA": "--lr '0.1"}, "EXTRA cannot be split into arguments (No closing quotation)")):
        done = run_script(SCRIPTS / "run_cifar10.sh", "p", "0.01", cwd=tmp_path, OUT=str(tmp_path), **knobs)
        assert done.returncode == 2 and message in done.stderr, (knobs, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "p").exists()


def test_slurm_dry_run_prints_the_batch_script(tmp_path):
    done = run_script(SCRIPTS / "run_cifar10.sh", "p", "0.1", cwd=tmp_path, DRY_RUN="1", LAUNCHER="slurm",
                      JOBS="3", SEEDS="0 1", OUT=str(tmp_path), SBATCH_ARGS="--partition gpu --gres=gpu:1")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "#SBATCH --array=0-7%3" in out and "#SBATCH --job-name=sweep-p" in out
    (sbatch,) = [line for line in out.splitlines() if line.startswith("# would write")]
    assert f"sbatch --parsable --partition gpu --gres=gpu:1 --comment={tmp_path.resolve() / 'p'} " in sbatch
    tasks = re.findall(r"^ +(\d+)\) log=(\S+)\n +set -- \S+ main_imp.py (.*) ;;$", out, flags=re.M)
    assert [int(t[0]) for t in tasks] == list(range(8))
    assert [augmentation(shlex.split(t[2])) for t in tasks] == [s for s in CIFAR10_SETTINGS for _ in range(2)]
    assert not (tmp_path / "p").exists()  # nothing written, nothing submitted


def test_failed_run_is_reported_and_the_sweep_goes_on_and_rerun_trains_only_what_is_missing(tmp_path):
    """Two runs at once (JOBS=2) spread over two 'GPUs'; the first fails (synthetic data has 200 images per
    class), the second trains. A rerun retries the failed run only; a sweep of the finished run trains nothing."""
    script = write_sweep(tmp_path / "sweep.sh", "t", f"{TINY_RUN} --per-class 500", TINY_RUN)
    done = run_script(script, cwd=tmp_path, OUT=str(tmp_path), JOBS="2", CUDA_VISIBLE_DEVICES="0,1")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert len(re.findall(r"^\[\d\d:\d\d:\d\d\] start ", out, flags=re.M)) == 2
    (failed,) = re.findall(r"^\[[\d:]+\] FAILED 1/2 .* exit 2 after \d+s  log: (\S+)$", out, flags=re.M)
    assert re.search(r"^\[[\d:]+\] done   2/2 .*\[seed 0\]  \d+s$", out, flags=re.M)
    assert "1 trained, 0 finished already, 1 failed" in out and "FAILED --dataset synthetic" in out
    assert "class 0 has 200 training images; 500 were asked for" in open(failed).read()
    (results,) = (tmp_path / "t").glob("*/results.json")
    assert [r["level"] for r in json.loads(results.read_text())["levels"]] == [0, 1]
    logs = {p.name: p.read_text() for p in (tmp_path / "t").glob("*.log")}
    assert logs[results.parent.name + ".log"].count("(CUDA_VISIBLE_DEVICES=1)") == 1  # each run its own card
    assert "(CUDA_VISIBLE_DEVICES=0)" in open(failed).read()

    stamps = {p: p.stat().st_mtime_ns for p in results.parent.rglob("*") if p.is_file()}
    again = run_script(script, cwd=tmp_path, OUT=str(tmp_path))
    assert again.returncode == 1
    assert "2 runs (1 finished already, 1 to train)" in again.stdout
    assert len(re.findall(r"\] start ", again.stdout)) == 1
    assert stamps == {p: p.stat().st_mtime_ns for p in results.parent.rglob("*") if p.is_file()}

    # a sweep whose runs have all finished trains nothing, touches nothing and succeeds
    files = {p: p.stat().st_mtime_ns for p in (tmp_path / "t").rglob("*") if p.is_file()}
    finished = run_script(write_sweep(tmp_path / "finished.sh", "t", TINY_RUN), cwd=tmp_path, OUT=str(tmp_path))
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "1 runs (1 finished already, 0 to train)" in finished.stdout and "start" not in finished.stdout
    assert files == {p: p.stat().st_mtime_ns for p in (tmp_path / "t").rglob("*") if p.is_file()}


def test_every_knob_is_in_the_docs_table():
    readme = (SCRIPTS.parent / "docs" / "sweeps.md").read_text()  # the README links the full knob table there
    table = set(re.findall(r"^\| `([A-Z_]+)(?:=\w+)?` \|", readme, flags=re.M))
    assert set(KNOBS) - {"SWEEP_CALLER_DIR", "CUDA_VISIBLE_DEVICES"} <= table


def test_runs_at_once_share_the_cpu_cores_unless_the_user_set_omp_threads(monkeypatch):
    from sweep.local import cpu_threads
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert cpu_threads(1, {}) is None  # alone: torch's default, every core
    assert cpu_threads(4, {}) == 4 and cpu_threads(3, {}) == 5 and cpu_threads(32, {}) == 1
    assert cpu_threads(4, {"OMP_NUM_THREADS": "2"}) is None
