"""``python -m sweep PREFIX RUN...``: what ``sweep_finish`` in scripts/lib/sweep.sh calls.

Each RUN is one shell-quoted string of main_imp.py flags. The knobs are read from the environment; the exit
status is 0 when every run is finished, 1 when any failed, 2 for a bad sweep (flags, knobs).
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from sweep.local import run_local, visible_gpus
from sweep.plan import Knobs, packs, plan
from sweep.slurm import submit
from utils.errors import UserError


def report_hint(out: Path) -> str:
    return f"table and plot: python scripts/report.py {shlex.quote(str(out))}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sweep", description=__doc__)
    parser.add_argument("prefix", help="the sweep's folder under $OUT")
    parser.add_argument("runs", nargs="+", help="one shell-quoted string of main_imp.py flags per run")
    args = parser.parse_args(argv)
    try:
        knobs = Knobs.from_env(os.environ, os.environ.get("SWEEP_CALLER_DIR"))
        runs = plan(args.prefix, [shlex.split(r) for r in args.runs], knobs)
    except UserError as err:
        print(f"sweep: error: {err}", file=sys.stderr)
        return 2
    out = Path(knobs.out) / args.prefix
    todo = [r for r in runs if not r.finished]
    jobs = packs(todo, knobs.pack)  # PACK=N: the runs that can share a process, N at a time
    if knobs.dry_run and knobs.launcher == "local":
        for run in runs if knobs.pack == 1 else [r for r in runs if r.finished]:
            print(f"{run.shell()}  > {run.log}{'  # finished' if run.finished else ''}")
        for job in jobs if knobs.pack > 1 else []:
            print(f"{job.shell()}  > {job.log}")
        return 0
    print(f"sweep {args.prefix}: {len(runs)} runs ({len(runs) - len(todo)} finished already, {len(todo)} to train)"
          f" -> {out}", flush=True)
    if not todo:
        print(report_hint(out))
        return 0
    if knobs.launcher == "slurm":
        try:
            job = submit(jobs, args.prefix, Path(knobs.out), knobs.jobs, knobs.sbatch_args, knobs.dry_run)
        except UserError as err:
            print(f"sweep: error: {err}", file=sys.stderr)
            return 1
        if job is not None:
            print(f"submitted job array {job} ({len(jobs)} tasks, {len(todo)} runs). Follow it: squeue -j {job}; each run's output: "
                  f"{out}/<run-id>.log\nwhen it is done, {report_hint(out)}")
        return 0
    try:
        failed = run_local(jobs, knobs.jobs or 1, visible_gpus(os.environ))
    except KeyboardInterrupt:
        print(f"\nsweep {args.prefix}: interrupted; rerun the same command to resume (finished runs and levels are "
              f"kept)", file=sys.stderr)
        return 130
    trained = len(todo) - len(failed)
    print(f"sweep {args.prefix}: {trained} trained, {len(runs) - len(todo)} finished already, {len(failed)} failed")
    for run in failed:
        print(f"  FAILED {run.label}: see {run.log}")
    print(report_hint(out))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
