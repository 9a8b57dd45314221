"""Submitting a sweep as one SLURM job array: one array task per run that is not finished yet (with ``PACK=N``,
one task per pack of runs: ``sweep.plan.Pack``).

The batch script is self-contained (one ``case`` branch per task, the exact main_imp.py command and its log),
so what runs is what ``DRY_RUN=1 LAUNCHER=slurm`` prints. Resubmitting is safe: finished runs are left out of
the new array, and a run that was cut off resumes from its last checkpoint (main_imp.py skips finished levels).
Submitting while an array of the same sweep (same prefix, same output folder) is still queued or running is
refused: both would train the same runs into the same folders. The array carries its sweep folder as its SLURM
comment, so arrays of the same prefix writing elsewhere, or left in the queue by an earlier cluster, do not count.
"""
from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path
from typing import Sequence

from sweep.plan import REPO, Pack, Run
from utils.errors import UserError


def job_name(prefix: str) -> str:
    return f"sweep-{prefix}"


def batch_script(runs: Sequence[Run | Pack], prefix: str, slurm_dir: Path, jobs: int | None) -> str:
    limit = f"%{jobs}" if jobs else ""
    lines = ["#!/usr/bin/env bash",
             f"#SBATCH --job-name={job_name(prefix)}",
             f"#SBATCH --array=0-{len(runs) - 1}{limit}",
             f"#SBATCH --output={slurm_dir}/%A_%a.out",
             f"# {len(runs)} tasks of sweep {prefix}; each task trains one run (or one pack of runs) and appends its",
             "# console output to the run's log (or the pack's), beside the run directories.",
             f"cd {shlex.quote(str(REPO))}",
             'case "$SLURM_ARRAY_TASK_ID" in']
    for i, run in enumerate(runs):
        lines.append(f"    {i}) log={shlex.quote(str(run.log))}")
        lines.append(f"       set -- {shlex.join(run.command())} ;;")
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


def queued_jobs(prefix: str, sweep_dir: Path) -> list[str]:
    """Ids of the arrays still queued or running that train the runs of ``sweep_dir`` (their comment)."""
    listing = _slurm("squeue", "-h", "-n", job_name(prefix), "-o", "%F|%k")
    return sorted({job for job, _, comment in (line.partition("|") for line in listing.splitlines())
                   if comment == str(sweep_dir)})


def submit(runs: Sequence[Run | Pack], prefix: str, out: Path, jobs: int | None, sbatch_args: Sequence[str],
           dry_run: bool) -> str | None:
    """Submit ``runs`` (the unfinished ones) as one array and return its job id; with ``dry_run`` print the
    sbatch command and the batch script instead."""
    sweep_dir = (out / prefix).resolve()
    slurm_dir = sweep_dir / "slurm"
    script_path = slurm_dir / f"array-{time.strftime('%Y%m%d-%H%M%S')}.sh"
    script = batch_script(runs, prefix, slurm_dir, jobs)
    # the comment marks the array as this folder's (queued_jobs); after SBATCH_ARGS, which must not change it
    command = ["sbatch", "--parsable", *sbatch_args, f"--comment={sweep_dir}", str(script_path)]
    if dry_run:
        print(f"# would write {script_path} and run: {shlex.join(command)}\n{script}")
        return None
    queued = queued_jobs(prefix, sweep_dir)
    if queued:
        raise UserError(f"job {', '.join(queued)} of sweep {prefix} ({sweep_dir}) is still queued or running; "
                        f"submitting again would train its runs twice. Wait for it (squeue -j {queued[0]}) or "
                        f"cancel it (scancel {queued[0]}), then resubmit: finished runs are left out")
    slurm_dir.mkdir(parents=True, exist_ok=True)
    script_path.write_text(script)
    return _slurm(*command).split(";")[0]
