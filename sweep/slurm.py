"""Submitting a sweep as one SLURM job array: one array task per run that is not finished yet.

The batch script is self-contained (one ``case`` branch per task, the exact main_imp.py command and its log),
so what runs is what ``DRY_RUN=1 LAUNCHER=slurm`` prints. Resubmitting is safe: finished runs are left out of
the new array, and a run that was cut off resumes from its last checkpoint (main_imp.py skips finished levels).
Submitting while an array of the same sweep is still queued or running is refused: both would train the same
runs into the same folders.
"""
from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from sweep.plan import REPO, Run
from utils.errors import UserError


def job_name(prefix: str) -> str:
    return f"sweep-{prefix}"


def batch_script(runs: Sequence[Run], prefix: str, slurm_dir: Path, jobs: int | None) -> str:
    limit = f"%{jobs}" if jobs else ""
    lines = ["#!/usr/bin/env bash",
             f"#SBATCH --job-name={job_name(prefix)}",
             f"#SBATCH --array=0-{len(runs) - 1}{limit}",
             f"#SBATCH --output={slurm_dir}/%A_%a.out",
             f"# {len(runs)} runs of sweep {prefix}; each task trains one run and appends its console output to the",
             "# run's log, beside its run directory.",
             f"cd {shlex.quote(str(REPO))}",
             'case "$SLURM_ARRAY_TASK_ID" in']
    python = shlex.quote(sys.executable)
    for i, run in enumerate(runs):
        lines.append(f"    {i}) log={shlex.quote(str(run.log))}")
        lines.append(f"       set -- {python} main_imp.py {shlex.join(run.argv)} ;;")
    lines += ['    *) echo "no run for array task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;',
              "esac",
              'echo "== $(date "+%Y-%m-%d %H:%M:%S") job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on '
              '$(hostname) (CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-}): $*" >> "$log"',
              'exec "$@" >> "$log" 2>&1', ""]
    return "\n".join(lines)


def _slurm(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True)
    except FileNotFoundError:
        raise UserError(f"LAUNCHER=slurm: {argv[0]} not found (is this a SLURM login node?)") from None
    if done.returncode != 0:
        raise UserError(f"{shlex.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def queued_jobs(prefix: str) -> list[str]:
    """Ids of this sweep's arrays still queued or running."""
    return sorted(set(_slurm("squeue", "-h", "-n", job_name(prefix), "-o", "%F").split()))


def submit(runs: Sequence[Run], prefix: str, out: Path, jobs: int | None, sbatch_args: Sequence[str],
           dry_run: bool) -> str | None:
    """Submit ``runs`` (the unfinished ones) as one array and return its job id; with ``dry_run`` print the
    sbatch command and the batch script instead."""
    slurm_dir = out / prefix / "slurm"
    script_path = slurm_dir / f"array-{time.strftime('%Y%m%d-%H%M%S')}.sh"
    script = batch_script(runs, prefix, slurm_dir, jobs)
    command = ["sbatch", "--parsable", *sbatch_args, str(script_path)]
    if dry_run:
        print(f"# would write {script_path} and run: {shlex.join(command)}\n{script}")
        return None
    queued = queued_jobs(prefix)
    if queued:
        raise UserError(f"job {', '.join(queued)} of sweep {prefix} is still queued or running; submitting again "
                        f"would train its runs twice. Wait for it (squeue -j {queued[0]}) or cancel it "
                        f"(scancel {queued[0]}), then resubmit: finished runs are left out")
    slurm_dir.mkdir(parents=True, exist_ok=True)
    script_path.write_text(script)
    return _slurm(*command).split(";")[0]
