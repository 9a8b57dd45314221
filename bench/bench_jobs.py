#!/usr/bin/env python
"""What ``JOBS=N`` and ``PACK=N`` buy on one device: training throughput of N runs at once (N processes) and of N
runs packed into one process (``lottery/pack.py``), against the same N one after another.

max(N) worker processes (as a sweep starts its runs) each build the case's model and data, train one warm-up
epoch (CUDA graph capture, cuDNN autotuning), and wait. For each N, the first N are told to train ``--epochs``
epochs one after another, then all at once; then one more worker process builds N trainers and trains them
packed, taking turns after each chunk of steps, each on its own CUDA stream (warm-up first, likewise). The table
gives the images per second of all N runs together in the three ways. Idle workers hold memory, not compute.
Start-up is not timed: a sweep pays it once per run (once per pack) either way.

    python bench/bench_jobs.py                      # CPU: a tiny synthetic case, N = 1, 2 (seconds)
    python bench/bench_jobs.py --common "--data-root .data --per-class 50 --augment autoaug --cutout" \\
        --jobs 1 2 4 8 --epochs 20                      # a GPU: 1% of CIFAR-10, the paper recipe
    python bench/bench_jobs.py --common "--data-root .data --per-class 50 --augment autoaug --cutout" \\
        --jobs 1 2 4 8 --epochs 2 --tile 100            # a GPU: 100% of CIFAR-10 (the 1% cut tiled)
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sweep.local import cpu_threads  # noqa: E402

CPU_DEFAULT = "--dataset synthetic --per-class 20 --width 8 --batch-size 50 --device cpu"


def worker(argv: list[str], epochs: int, tile: int = 1, pack: int = 0) -> None:
    """Build the case (``pack`` > 0: that many trainers of it, trained packed), warm up, say ``ready``; then for
    each ``go [THREADS]`` on stdin train ``epochs`` epochs (each trainer) with THREADS CPU threads (torch's default
    without it) and print ``{"images": ..., "seconds": ...}``."""
    sys.path.insert(0, str(REPO / "bench"))
    import torch
    from bench import build_trainer  # the case as main_imp.py would train its level 0
    from lottery.pack import take_turns

    built = [build_trainer(argv, tile) for _ in range(max(pack, 1))]
    hp, env = built[0][0], built[0][1]
    trainers = [b[-1] for b in built]
    default_threads = torch.get_num_threads()
    epoch = [0] * len(trainers)

    def train(n_epochs: int) -> None:
        def body(i: int, turn=None) -> None:
            trainer = trainers[i]
            trainer.hooks = (turn,) if turn is not None else ()
            for _ in range(n_epochs):
                trainer.run_epoch(epoch[i] % hp.training.epochs)  # ends with a host sync, as every epoch does
                epoch[i] += 1
        if pack:
            take_turns([lambda turn, i=i: body(i, turn) for i in range(pack)], env.device.type == "cuda")
        else:
            body(0)

    train(1)  # warm-up: graph capture (on the run's own stream when packed), autotuning
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        torch.set_num_threads(int(words[1]) if len(words) > 1 else default_threads)
        started = time.perf_counter()
        train(epochs)
        images = len(trainers) * epochs * trainers[0].steps_per_epoch * hp.training.batch_size
        print(json.dumps({"images": images, "seconds": time.perf_counter() - started}), flush=True)


def _read(process: subprocess.Popen) -> str:
    """The worker's next protocol line (``ready`` or a JSON result), skipping anything else it prints."""
    for line in process.stdout:
        if line.startswith(("ready", "{")):
            return line
    raise RuntimeError(f"a worker exited (status {process.wait()}); rerun with one job to see its error")


def start_workers(argv: list[str], n: int, epochs: int, tile: int = 1, pack: int = 0) -> list[subprocess.Popen]:
    """``n`` workers in this process's environment (``pack`` > 0: each trains that many runs packed); ``measure``
    gives each the CPU threads a sweep gives its runs."""
    command = [sys.executable, __file__, "--worker", "--epochs", str(epochs), "--common", shlex.join(argv),
               "--tile", str(tile), "--pack", str(pack)]
    workers = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(n)]
    for w in workers:
        _read(w)
    return workers


def _go(w: subprocess.Popen, threads: int | None) -> None:
    w.stdin.write("go\n" if threads is None else f"go {threads}\n")
    w.stdin.flush()


def measure(workers: list[subprocess.Popen]) -> dict:
    """Images per second of all ``workers`` together: one after another (each with the CPU threads of a run alone,
    as with ``JOBS=1``), then all at once (each with its share, as with ``JOBS=N``: ``sweep.local.cpu_threads``)."""
    images = seconds = 0.0
    for w in workers:
        _go(w, cpu_threads(1, os.environ))
        result = json.loads(_read(w))
        images, seconds = images + result["images"], seconds + result["seconds"]
    sequential = images / seconds
    started = time.perf_counter()
    for w in workers:
        _go(w, cpu_threads(len(workers), os.environ))
    images = sum(json.loads(_read(w))["images"] for w in workers)
    together = images / (time.perf_counter() - started)
    return {"jobs": len(workers), "sequential_img_s": sequential, "concurrent_img_s": together,
            "speedup": together / sequential}


def measure_packed(argv: list[str], n: int, epochs: int, tile: int) -> float:
    """Images per second of ``n`` runs packed into one worker process (``PACK=n``), which has the CPU threads of a
    run alone (a pack is one process of a sweep)."""
    (w,) = start_workers(argv, 1, epochs, tile, pack=n)
    try:
        _go(w, cpu_threads(1, os.environ))
        result = json.loads(_read(w))
    finally:
        w.stdin.close()
        w.wait()
    return result["images"] / result["seconds"]


def format_rows(rows: list[dict], case: str) -> str:
    lines = [f"case: `{case}`", "", "| N | one after another (img/s, all) | at once, JOBS=N (img/s, all) | speed-up "
             "| packed, PACK=N (img/s, all) | speed-up |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['jobs']} | {r['sequential_img_s']:.0f} | {r['concurrent_img_s']:.0f} | {r['speedup']:.2f}x "
              f"| {r['packed_img_s']:.0f} | {r['packed_img_s'] / r['sequential_img_s']:.2f}x |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--common", default=CPU_DEFAULT, help="main_imp.py flags of the case (default: a tiny CPU case)")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="numbers of runs at once")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per run")
    p.add_argument("--tile", type=int, default=1, help="repeat the training subset N times (see bench.py)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--pack", type=int, default=0, help=argparse.SUPPRESS)  # a worker training N runs packed
    args = p.parse_args(argv)
    if args.worker:
        worker(shlex.split(args.common), args.epochs, args.tile, args.pack)
        return 0
    rows = []
    workers = start_workers(shlex.split(args.common), max(args.jobs), args.epochs, args.tile)
    try:
        for n in args.jobs:
            rows.append(measure(workers[:n]))
            print(f"N={n}: {rows[-1]['concurrent_img_s']:.0f} img/s at once, {rows[-1]['sequential_img_s']:.0f} "
                  f"one after another", flush=True)
    finally:
        for w in workers:
            w.stdin.close()
            w.wait()
    for row in rows:  # after the JOBS workers are gone: the pack has the device to itself
        row["packed_img_s"] = measure_packed(shlex.split(args.common), row["jobs"], args.epochs, args.tile)
        print(f"N={row['jobs']}: {row['packed_img_s']:.0f} img/s packed", flush=True)
    print(format_rows(rows, args.common))
    return 0


if __name__ == "__main__":
    sys.exit(main())
