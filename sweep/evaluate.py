"""``python -m sweep.evaluate DIR [--where KEY=VALUE ...] [--jobs N] -- EVALUATE_ARGS``: evaluate.py on the dense
level 0 and the best ticket of every run under DIR, as the reproduction scripts do after training.

The best ticket is the report's (``report.summary.best_level``: the pruned level with the highest mean test
accuracy over the setting's seeds), so every seed of a setting is evaluated at the same level. ``--where`` keeps
only the runs whose hyperparameter (flat ``group.field`` name, as in hparams.json) has that value, e.g.
``--where pruning.prune_method=magnitude``. evaluate.py skips the cells it has stored already, so a rerun
computes only what is missing. Exit status: 0 when every evaluation succeeded, 1 otherwise, 2 for bad input.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from report.runs import RunRecord, load_runs
from report.summary import best_level, group_settings
from sweep.plan import REPO


def _matches(run: RunRecord, where: Sequence[str]) -> bool:
    for condition in where:
        key, _, value = condition.partition("=")
        if str(run.hparams.get(key)) != value:
            return False
    return True


def evaluations(runs: Sequence[RunRecord], where: Sequence[str] = (), metric: str = "test_acc"
                ) -> list[tuple[RunRecord, list[int]]]:
    """(run, [0, best level]) for every finished run that matches ``where``, settings in the report's order."""
    todo = []
    for setting in group_settings([r for r in runs if _matches(r, where)]):
        best = best_level(setting, metric)
        levels = [0] if best is None else [0, best]
        todo += [(run, levels) for run in setting.runs if run.finished]
    return todo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sweep.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", help="a sweep folder ($OUT/PREFIX)")
    parser.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                        help="only runs whose hyperparameter KEY (e.g. data.augment) equals VALUE; repeatable")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="evaluations at once (default 1)")
    parser.epilog = "Flags after -- go to evaluate.py unchanged."
    argv = sys.argv[1:] if argv is None else argv
    split = argv.index("--") if "--" in argv else len(argv)
    args, extra = parser.parse_args(argv[:split]), argv[split + 1:]
    problem = next((f"--where needs KEY=VALUE, got {w!r}" for w in args.where if "=" not in w), None)
    if problem is None and args.jobs < 1:
        problem = f"--jobs must be at least 1, got {args.jobs}"
    if problem is None and not Path(args.dir).is_dir():
        problem = f"{args.dir}: no such folder"
    if problem:
        print(f"sweep.evaluate: error: {problem}", file=sys.stderr)
        return 2
    todo = evaluations(load_runs([args.dir]), args.where)
    print(f"evaluate: {len(todo)} runs, dense level 0 and the best ticket", flush=True)
    waiting, running, failed = list(todo), [], 0
    while waiting or running:
        while waiting and len(running) < args.jobs:
            run, levels = waiting.pop(0)
            log = open(run.path.with_name(run.path.name + ".evaluate.log"), "a")
            command = [sys.executable, "evaluate.py", str(run.path), "--levels", ",".join(map(str, levels)), *extra]
            print(f"[{time.strftime('%H:%M:%S')}] evaluate {run.path.name} levels {levels}", flush=True)
            running.append((run, subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                                  stdin=subprocess.DEVNULL), log))
        time.sleep(0.2)
        for item in [item for item in running if item[1].poll() is not None]:
            running.remove(item)
            item[2].close()
            if item[1].returncode != 0:
                failed += 1
                print(f"FAILED evaluate {item[0].path} (exit {item[1].returncode}): see {item[2].name}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
