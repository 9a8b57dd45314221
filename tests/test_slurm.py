"""LAUNCHER=slurm against a real one-node SLURM cluster (scripts/slurm/local_cluster.sh, started by .ci/run):
a two-task array of tiny runs, then resubmission of a finished and of a partly finished sweep, and refusal while
the sweep's array is still queued. Skips, with the reason, where no cluster answers."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest

from tests.sweep_helpers import TINY_RUN, run_script, write_sweep


def cluster_up() -> str | None:
    """None when a SLURM controller answers and a node takes jobs; else why not."""
    if shutil.which("sbatch") is None:
        return "no SLURM here (sbatch not found); CI installs slurm-wlm and runs scripts/slurm/local_cluster.sh"
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True)
    if "UP" not in ping.stdout:
        return "no SLURM controller answers (start one: sudo bash scripts/slurm/local_cluster.sh start)"
    nodes = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True).stdout.split()
    if not any(state.startswith(("idle", "mix", "alloc")) for state in nodes):
        return f"no SLURM node takes jobs (states: {' '.join(nodes) or 'none'})"
    return None


pytestmark = pytest.mark.skipif(cluster_up() is not None, reason=str(cluster_up()))


def submit(script, tmp_path, **knobs):
    done = run_script(script, cwd=tmp_path, OUT=str(tmp_path), LAUNCHER="slurm", **knobs)
    assert done.returncode == 0, done.stdout + done.stderr
    match = re.search(r"submitted job array (\d+) \((\d+) tasks, \d+ runs\)", done.stdout)
    return done.stdout, (match.group(1), int(match.group(2))) if match else None


def wait_for(job: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True).stdout.strip():
        assert time.monotonic() < deadline, f"job {job} did not finish in {timeout}s"
        time.sleep(1)


def snapshot(root):
    """Modification times of the files of every run directory under ``root``."""
    return {p: p.stat().st_mtime_ns for run in root.glob("*/") if (run / "hparams.json").exists()
            for p in run.rglob("*") if p.is_file()}


def test_array_trains_each_run_once_and_resubmission_finishes_only_what_is_missing(tmp_path):
    script = write_sweep(tmp_path / "sweep.sh", "s", TINY_RUN)
    out, (job, tasks) = submit(script, tmp_path, SEEDS="0 1")
    assert tasks == 2 and f"squeue -j {job}" in out
    wait_for(job)
    runs = sorted((tmp_path / "s").glob("*/results.json"))
    assert len(runs) == 2, list((tmp_path / "s").rglob("*"))
    for results in runs:
        assert [r["level"] for r in json.loads(results.read_text())["levels"]] == [0, 1]
        log = results.parent.with_suffix(".log").read_text()
        assert re.search(rf"== .* job {job}_[01] on ", log) and "level  1: density  80.00%" in log
    seeds = sorted(json.loads(r.read_text())["hparams"]["training"]["seed"] for r in runs)
    assert seeds == [0, 1]

    # finished: nothing is submitted, nothing is touched
    before = snapshot(tmp_path / "s")
    out, submitted = submit(script, tmp_path, SEEDS="0 1")
    assert submitted is None and "(2 finished already, 0 to train)" in out
    assert snapshot(tmp_path / "s") == before

    # one run loses its last level: a one-task array retrains that level only
    cut = runs[1].parent
    for name in ("metrics.json", "weights.pt"):
        (cut / "level_1" / name).unlink()
    before = snapshot(tmp_path / "s")
    out, (job2, tasks) = submit(script, tmp_path, SEEDS="0 1")
    assert tasks == 1
    wait_for(job2)
    after = snapshot(tmp_path / "s")
    changed = {p for p in after if before.get(p) != after[p]}
    assert cut / "level_1" / "metrics.json" in changed
    assert all(p.parent == cut or p.parent.parent == cut for p in changed), changed
    assert not any(p.parent.name == "level_0" for p in changed), changed


def held(*sbatch: str) -> str:
    """Id of a held one-line job (it never runs)."""
    return subprocess.run(["sbatch", "--parsable", "--hold", *sbatch, "--wrap", "true"], capture_output=True,
                          text=True, check=True).stdout.strip().split(";")[0]


def test_resubmitting_while_the_array_is_queued_is_refused(tmp_path):
    """Only an array writing into this sweep's folder blocks: the same prefix into another folder, or a job of the
    same name left in the queue (as a saved cluster state once brought back into CI), does not."""
    script = write_sweep(tmp_path / "sweep.sh", "h", TINY_RUN)
    elsewhere = [held("--job-name=sweep-h"), held("--job-name=sweep-h", f"--comment={tmp_path / 'other' / 'h'}")]
    job = None
    try:
        _, (job, _) = submit(script, tmp_path, SBATCH_ARGS="--hold")
        again = run_script(script, cwd=tmp_path, OUT=str(tmp_path), LAUNCHER="slurm")
        assert again.returncode == 1, again.stdout + again.stderr
        assert f"job {job} of sweep h ({tmp_path.resolve() / 'h'}) is still queued or running" in again.stderr
    finally:
        subprocess.run(["scancel", *elsewhere, *([job] if job else [])], check=True)
