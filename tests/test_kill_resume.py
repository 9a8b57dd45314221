"""Fault injection: SIGKILL a tiny CPU run (3 levels, a checkpoint after every epoch) at many moments, rerun the
same command each time, and check that the finished run is bit for bit the uninterrupted one.

The moments are drawn from a fixed seed, relative to what the uninterrupted run was observed to take on this
machine (a shared CI box may be slow): half are wall-clock delays after the run has set itself up, spread over
the measured training time; the other half land inside a file write (torn, complete but not renamed, or just
renamed), which a wall-clock delay would hit only by luck: checkpoints, rewind.pt, the level-end files,
results.json, hparams.json. When a run finishes before enough kills, it is checked and a fresh one is started.
``pytest -m slow`` runs a longer version.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ARGV = ["--dataset", "synthetic", "--per-class", "20", "--width", "4", "--rounds", "3", "--epochs", "3",
        "--batch-size", "50", "--rewind", "epoch:1", "--eval-every", "1", "--checkpoint-minutes", "0",
        "--workers", "0", "--device", "cpu"]
PHASES = ("torn", "unreplaced", "after")


class Runs:
    """The fork server of tests/kill_points.py: each ``start`` runs main_imp.py's main in a fresh child."""

    def __init__(self, log: Path, argv: list[str] = ARGV, entry: str = "lottery.cli"):
        """``entry``: the module whose ``main(argv)`` runs (main_imp.py's; ``selfsup.cli`` for pretrain_ssl.py)."""
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.argv = argv
        self.errors = log.open("w")  # progress bars and messages; a pipe could fill up and block
        self.server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "kill_points.py"), entry], cwd=ROOT,
                                       env=env,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
                                       text=True, bufsize=1)

    def _line(self) -> str:
        line = self.server.stdout.readline()
        assert line, "the fork server died"
        return line

    def start(self, out: Path, kill_at_write: str = "0:none") -> int:
        self.server.stdin.write(json.dumps([kill_at_write, [*self.argv, "--out", str(out)]]) + "\n")
        self.server.stdin.flush()
        return json.loads(self._line())["pid"]

    def wait_until_set_up(self) -> bool:
        """Read the child's lines up to the one it prints once its run directory is claimed; False (and
        the pending exit status kept) if it exited first."""
        while not (line := self._line()).startswith("run "):
            if line.startswith('{"exit"'):
                self.pending = line
                return False
        return True

    def finish(self) -> tuple[int, int | None]:
        """The child's exit status and how many files it wrote (None if it was killed)."""
        writes = None
        line = getattr(self, "pending", None) or self._line()
        self.pending = None
        while not line.startswith('{"exit"'):
            if line.startswith('{"writes"'):
                writes = json.loads(line)["writes"]
            line = self._line()
        return json.loads(line)["exit"], writes

    def close(self) -> None:
        self.server.stdin.close()
        self.server.wait(timeout=60)
        self.errors.close()


def snapshot(out: Path) -> dict:
    """Everything a finished run holds that must not depend on interruptions (timings left out)."""
    (root,) = out.iterdir()
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    state = {"files": files, "results": json.loads((root / "results.json").read_text())["levels"]}
    for r in state["results"]:
        r.pop("seconds")
    for level in sorted(root.glob("level_*")):
        history = json.loads((level / "metrics.json").read_text())["history"]
        state[f"{level.name}/history"] = [{k: v for k, v in h.items() if k != "seconds"} for h in history]
        for name in ("mask.pt", "weights.pt", "rewind.pt"):
            if (level / name).exists():
                state[f"{level.name}/{name}"] = {k: v.tolist() for k, v in torch.load(level / name).items()}
    return state


def complete(expected: dict) -> None:
    """What the uninterrupted main_imp.py run must hold: every level, the rewind state."""
    assert len(expected["results"]) == 3 and "level_0/rewind.pt" in expected


def kill_and_resume(tmp_path: Path, kills: int, seed: int, runs: Runs | None = None, take=snapshot,
                    check=complete) -> None:
    """Kill and resume main_imp.py's tiny run (or ``runs``' entry point's, its finished state read by ``take``
    and the uninterrupted one checked by ``check``) until ``kills`` kills have hit."""
    runs = runs or Runs(tmp_path / "stderr.log")
    try:
        _kill_and_resume(runs, tmp_path, kills, seed, take, check)
    finally:
        runs.close()


def _kill_and_resume(runs: Runs, tmp_path: Path, kills: int, seed: int, take, check) -> None:
    t0 = time.perf_counter()
    runs.start(tmp_path / "reference")
    assert runs.wait_until_set_up()
    training = -time.perf_counter()
    code, writes = runs.finish()
    training += time.perf_counter()
    assert code == 0 and writes, (tmp_path / "stderr.log").read_text()[-3000:]
    expected = take(tmp_path / "reference")
    check(expected)
    print(f"uninterrupted: {time.perf_counter() - t0:.1f}s, {training:.1f}s after set-up, {writes} writes")

    rng = np.random.default_rng(seed)
    killed, cycle, phases_hit, log = 0, 0, set(), []
    out = tmp_path / f"run{cycle}"
    while True:
        if rng.random() < 0.5:  # inside a write: among the first few of this child, so the run progresses
            n, phase = int(rng.integers(1, min(4, writes) + 1)), str(rng.choice(PHASES))
            runs.start(out, f"{n}:{phase}")
            what = f"write {n} ({phase})"
        else:
            pid = runs.start(out)
            delay = float(rng.uniform(0, training))
            if runs.wait_until_set_up():
                time.sleep(delay)
                with contextlib.suppress(ProcessLookupError):  # it may have finished meanwhile
                    os.kill(pid, signal.SIGKILL)
            what, phase = f"{delay:.2f}s after set-up", "time"
        code, _ = runs.finish()
        log.append((what, code))
        assert code in (0, -9), f"{what}: exit {code}\n{(tmp_path / 'stderr.log').read_text()[-3000:]}"
        if code == -9:
            killed += 1
            phases_hit.add(phase)
            continue
        got = take(out)
        differing = sorted(k for k in {*got, *expected} if got.get(k) != expected.get(k))
        assert not differing, f"cycle {cycle}: {differing} differ from the uninterrupted run after {log}"
        if killed >= kills:
            break
        cycle += 1
        out = tmp_path / f"run{cycle}"
    print(f"{killed} kills in {cycle + 1} runs, {time.perf_counter() - t0:.1f}s: {log}")
    assert phases_hit == {*PHASES, "time"}, log


def test_killed_at_random_moments_a_resumed_run_equals_the_uninterrupted_one(tmp_path):
    kill_and_resume(tmp_path, kills=10, seed=5)  # seed 5: all four kinds of kill among the first 10


@pytest.mark.slow
def test_killed_at_many_more_moments(tmp_path):
    kill_and_resume(tmp_path, kills=150, seed=1)
