"""Running a sweep's runs on this machine, ``jobs`` at a time, each in its own process with its own log (or, with
``PACK=N``, each pack of runs in one process: ``sweep.plan.Pack``; a pack counts as one of the ``jobs``).

A failing run does not stop the others; the caller gets the failed ones back. With several GPUs visible, each
run starting gets the GPU with the fewest runs on it (``CUDA_VISIBLE_DEVICES``), which is round-robin when runs
take equally long and keeps every card busy when they do not. Unless OMP_NUM_THREADS is set, parallel runs get
an equal share of the CPU cores each (torch would give every process all of them, and on a CPU that makes
several runs at once slower than one after another).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Mapping, TextIO

from sweep.plan import REPO, Pack, Run


def cpu_threads(jobs: int, environ: Mapping[str, str]) -> int | None:
    """The CPU threads each of ``jobs`` runs at once gets: an equal share of the cores (torch would give every
    process all of them, oversubscribing them); None (torch's default) for a run alone or when ``environ`` sets
    OMP_NUM_THREADS."""
    if jobs <= 1 or "OMP_NUM_THREADS" in environ:
        return None
    return max(1, (os.cpu_count() or 1) // jobs)


def visible_gpus(env: Mapping[str, str]) -> list[str]:
    """The GPUs runs may be spread over: CUDA_VISIBLE_DEVICES's entries when it is set, else all of torch's."""
    if "CUDA_VISIBLE_DEVICES" in env:
        return [d.strip() for d in env["CUDA_VISIBLE_DEVICES"].split(",") if d.strip() and d.strip() != "-1"]
    import torch
    return [str(i) for i in range(torch.cuda.device_count())]


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass
class _Running:
    run: Run | Pack
    index: int
    process: subprocess.Popen
    log: TextIO
    started: float
    gpu: str | None


def run_local(runs: list[Run | Pack], jobs: int, gpus: list[str], out: TextIO = sys.stdout) -> list[Run]:
    """Train ``runs`` (runs or packs), ``jobs`` at a time; print one line when each starts and ends; return the
    runs that failed (of a pack that failed, those not finished)."""
    total, waiting, running, failed = len(runs), list(enumerate(runs, 1)), [], []

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=out, flush=True)

    def start(index: int, run: Run) -> _Running:
        env = dict(os.environ)
        gpu = None
        if len(gpus) > 1:
            busy = [sum(r.gpu == g for r in running) for g in gpus]
            gpu = gpus[busy.index(min(busy))]
            env["CUDA_VISIBLE_DEVICES"] = gpu
        threads = cpu_threads(jobs, env)
        if threads is not None:
            env["OMP_NUM_THREADS"] = str(threads)
        run.log.parent.mkdir(parents=True, exist_ok=True)
        log = open(run.log, "a")
        log.write(f"== {time.strftime('%Y-%m-%d %H:%M:%S')} {run.shell()}"
                  f"{'' if gpu is None else f'  (CUDA_VISIBLE_DEVICES={gpu})'}\n")
        log.flush()
        process = subprocess.Popen(run.command(), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        say(f"start  {index}/{total}  {run.label}{'' if gpu is None else f'  on GPU {gpu}'}  log: {run.log}")
        return _Running(run, index, process, log, time.monotonic(), gpu)

    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                running.append(start(*waiting.pop(0)))
            time.sleep(0.2)
            for r in [r for r in running if r.process.poll() is not None]:
                running.remove(r)
                r.log.close()
                took = duration(time.monotonic() - r.started)
                if r.process.returncode == 0:
                    say(f"done   {r.index}/{total}  {r.run.label}  {took}")
                else:
                    failed += [r.run] if isinstance(r.run, Run) else [x for x in r.run.runs if not x.finished_now()]
                    say(f"FAILED {r.index}/{total}  {r.run.label}  exit {r.process.returncode} after {took}  "
                        f"log: {r.run.log}")
    except KeyboardInterrupt:  # the runs got the terminal's Ctrl-C too; let them save and stop
        for r in running:
            r.process.wait()
        raise
    return failed
