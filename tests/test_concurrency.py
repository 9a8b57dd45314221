"""Two processes on one run at once, for real (tests/paused.py forks them and holds each at the moment that
matters): a second start of a run that is training is refused with one line naming the first, a killed process's
lock blocks no restart, and two evaluations at once both keep their records in robustness.json."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from lottery.cli import main
from tests.conftest import tiny_argv
from tests.test_evaluate import FAST

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 120


class AtOnce:
    """The children of one tests/paused.py: ``pids``, and ``exits`` (pid -> status) filled in as they end."""

    def __init__(self, what: str, gate: Path, *argvs: list[str]):
        words = [w for argv in argvs for w in ("--", *argv)][1:]
        self.server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "paused.py"), what, str(gate), *words],
                                       cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                                       text=True)
        self.gate, self.exits = gate, {}
        self.pids = json.loads(self.server.stdout.readline())["pids"]

    def next_exit(self) -> tuple[int, int]:
        line = self.server.stdout.readline()
        assert line, "tests/paused.py died"
        ended = json.loads(line)
        self.exits[ended["pid"]] = ended["exit"]
        return ended["pid"], ended["exit"]

    def log(self, pid: int) -> str:
        return (self.gate / f"{pid}.log").read_text()

    def close(self) -> None:
        for pid in self.pids:
            if pid not in self.exits:
                os.kill(pid, signal.SIGKILL)
        self.server.wait(timeout=DEADLINE_S)


def wait_until(done, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_two_starts_of_one_run_at_once_train_it_once_and_a_killed_one_blocks_no_restart(tmp_path):
    out, gate = tmp_path / "runs", tmp_path / "gate"
    gate.mkdir()
    argv = tiny_argv(out, "--workers", "0", "--rounds", "1", "--epochs", "2")
    starts = AtOnce("train", gate, argv, argv)
    try:
        # the first to claim the run stops right there, holding its lock; the other must be refused meanwhile
        loser, code = starts.next_exit()
        (winner,) = set(starts.pids) - {loser}
        assert code == 2, starts.log(loser)
        wait_until(lambda: (gate / f"{winner}.here").exists(), "the other start to claim the run")
        (root,) = out.iterdir()
        lines = starts.log(loser).strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            f"error: {root.absolute()} is being trained by process {winner} on "), lines
        assert not (root / "level_0").exists()
        os.kill(winner, signal.SIGKILL)  # no clean-up runs: the kernel drops the lock
        assert starts.next_exit() == (winner, -signal.SIGKILL)
    finally:
        starts.close()
    assert main(argv) == 0  # the restart is not blocked by the killed process's lock
    levels = json.loads((root / "results.json").read_text())["levels"]
    assert [r["level"] for r in levels] == [0]


def test_two_evaluations_of_one_run_at_once_keep_both_suites(trained_run, tmp_path):
    run, gate = Path(shutil.copytree(trained_run, tmp_path / trained_run.name)), tmp_path / "gate"
    gate.mkdir()
    suites = ("fgsm", "pgd")
    argvs = [[str(run), "--suite", suite, "--levels", "1", "--data-root", str(tmp_path), *FAST, "--adv-images", "8"]
             for suite in suites]
    evaluations = AtOnce("evaluate", gate, *argvs)
    try:
        # both have read robustness.json (absent) before either writes: the last writer used to keep only its own
        wait_until(lambda: len(list(gate.glob("*.here"))) == 2, "both evaluations to read robustness.json")
        (gate / "go").touch()
        for _ in suites:
            pid, code = evaluations.next_exit()
            assert code == 0, evaluations.log(pid)[-2000:]
    finally:
        evaluations.close()
    records = json.loads((run / "robustness.json").read_text())
    assert {(r["level"], r["suite"]) for r in records} == {(1, suite) for suite in ("clean", *suites)}
    for suite in suites:
        with open(run / f"robustness_{suite}.csv") as f:
            assert len(list(csv.DictReader(f))) == len([r for r in records if r["suite"] == suite]) > 0
