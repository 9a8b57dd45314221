#!/usr/bin/env python
"""Check the training path on a GPU stage by stage, each stage in its own process under a time limit.

A first run on a new machine (or after a change to the CUDA path) should not be a full benchmark whose one
hanging step leaves nothing to read. Each stage here runs in a child process that prints as it goes; a stage
that overruns its limit prints the Python stack of every thread (``faulthandler``) before it is killed, so a
hang says where it is. Stages, in order, each building on what the previous one proved:

    cuda        CUDA start-up, a bf16 matrix product, a synchronisation
    eager       three eager training steps of the recipe (``--compile off``)
    graph       the training step captured as a CUDA graph and replayed (``GraphedStep``)
    augment     the augmentation of one chunk captured and replayed (``GraphedTransform``)
    epoch       three whole epochs with the default settings
    tiled       one epoch of the training set repeated ``--tile`` times (a full-size epoch)
    compile     three epochs with ``--compile full`` (torch.compile inside the graph)

    python bench/gpu_check.py --flags "--data-root .data --per-class 50 --augment autoaug --cutout"

On a CPU the CUDA-only stages report ``skipped``. Exit status: 0 when no stage failed or overran.
"""
from __future__ import annotations

import argparse
import faulthandler
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SKIPPED = 3  # a stage's exit status when it does not apply here (a CUDA stage on a CPU)


def _log(message: str) -> None:
    print(f"    {message}", flush=True)


def _sync() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _needs_cuda() -> None:
    import torch
    if not torch.cuda.is_available():
        sys.exit(SKIPPED)


def _trainer(flags: list[str], tile: int = 1):
    from bench import build_trainer
    return build_trainer(flags, tile)[-1]


def _first_batch(trainer):
    batch_size = trainer.config.batch_size
    x_chunk, y_chunk = next(iter(trainer.batches.epoch(batch_size, trainer.chunk_steps)))
    return x_chunk, y_chunk, batch_size


def stage_cuda(flags: list[str], tile: int) -> None:
    _needs_cuda()
    import torch
    _log(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    (a @ a).sum().item()
    _log("bf16 matmul and sync done")


def stage_eager(flags: list[str], tile: int) -> None:
    trainer = _trainer([*flags, "--compile", "off"])
    x_chunk, y_chunk, b = _first_batch(trainer)
    x = trainer.augment(x_chunk)
    _sync()
    _log(f"augmented a chunk of {len(x)} eagerly")
    for _ in range(3):
        trainer.step(x[:b], y_chunk[:b])
    _sync()
    _log(f"3 eager steps, loss sum {float(trainer.step.loss_sum):.3f}")


def stage_graph(flags: list[str], tile: int) -> None:
    _needs_cuda()
    trainer = _trainer([*flags, "--compile", "graph"])
    trainer.augment = trainer.augment.fn if hasattr(trainer.augment, "fn") else trainer.augment  # eager policy
    x_chunk, y_chunk, b = _first_batch(trainer)
    x = trainer.augment(x_chunk)
    x, y = x[:b].clone(), y_chunk[:b].clone()
    step = trainer.step_fn(x, y)
    _sync()
    _log("captured the training step")
    for _ in range(5):
        step(x, y)
    _sync()
    _log(f"5 replays, loss sum {float(trainer.step.loss_sum):.3f}")


def stage_augment(flags: list[str], tile: int) -> None:
    _needs_cuda()
    trainer = _trainer([*flags, "--compile", "graph"])
    x_chunk, _, _ = _first_batch(trainer)
    for shape in (x_chunk, x_chunk[: len(x_chunk) // 2]):
        out = trainer.augment(shape)
        _sync()
        _log(f"captured and replayed the augmentation of {len(shape)} images")
        again = trainer.augment(shape).clone()
        _sync()
        _log(f"second replay differs from the first: {not bool((again == out).all())}")


def _epochs(trainer, n: int, what: str) -> None:
    for epoch in range(n):
        started = time.perf_counter()
        record = trainer.run_epoch(epoch)  # ends with a host sync
        _log(f"{what} epoch {epoch + 1}: {time.perf_counter() - started:.3f} s, loss {record['train_loss']:.3f}")


def stage_epoch(flags: list[str], tile: int) -> None:
    _epochs(_trainer(flags), 3, "default")


def stage_tiled(flags: list[str], tile: int) -> None:
    _epochs(_trainer(flags, tile), 1, f"tiled x{tile}")


def stage_compile(flags: list[str], tile: int) -> None:
    _needs_cuda()
    _epochs(_trainer([*flags, "--compile", "full"]), 3, "compile full")


def stage_sleep(flags: list[str], tile: int) -> None:
    """For tests: a stage that overruns any limit."""
    time.sleep(3600)


STAGES: dict[str, Callable[[list[str], int], None]] = {
    "cuda": stage_cuda, "eager": stage_eager, "graph": stage_graph, "augment": stage_augment,
    "epoch": stage_epoch, "tiled": stage_tiled, "compile": stage_compile,
}
TEST_STAGES = {"sleep": stage_sleep}


def run_stage(name: str, flags: str, tile: int, limit: float) -> tuple[str, float]:
    """Run one stage in a child process; its outcome (ok, skipped, failed (rc), overran) and seconds."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", name, "--flags", flags, "--tile", str(tile),
           "--limit", str(limit)]
    started = time.perf_counter()
    try:
        rc = subprocess.run(cmd, timeout=limit + 10).returncode
    except subprocess.TimeoutExpired:  # not even faulthandler's watchdog got through
        return "overran (no stack)", time.perf_counter() - started
    seconds = time.perf_counter() - started
    if rc != 0 and seconds >= limit:
        return "overran (stack above)", seconds
    return {0: "ok", SKIPPED: "skipped"}.get(rc, f"failed (exit {rc})"), seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--flags", default="--dataset synthetic --per-class 20 --width 8 --batch-size 50 "
                   "--augment autoaug --cutout", help="main_imp.py flags of the run the stages use")
    p.add_argument("--stages", default=",".join(STAGES), help="comma-separated, in order (default: all)")
    p.add_argument("--tile", type=int, default=100, help="repeats of the training set in the 'tiled' stage")
    p.add_argument("--limit", type=float, default=120, help="seconds a stage may take before it is stopped")
    p.add_argument("--stage", help=argparse.SUPPRESS)  # run one stage in this process (the child's side)
    args = p.parse_args(argv)
    stages = {**STAGES, **TEST_STAGES}
    if args.stage:
        # dump every thread's stack shortly before the parent gives up on this stage, then exit
        faulthandler.dump_traceback_later(args.limit, exit=True)
        stages[args.stage](shlex.split(args.flags), args.tile)
        return 0
    names = [s for s in args.stages.split(",") if s]
    unknown = [s for s in names if s not in stages]
    if unknown:
        p.error(f"unknown stages {unknown}; choose from {', '.join(STAGES)}")
    results = []
    for name in names:
        print(f"== {name} ==", flush=True)
        outcome, seconds = run_stage(name, args.flags, args.tile, args.limit)
        print(f"== {name}: {outcome} in {seconds:.1f} s ==", flush=True)
        results.append((name, outcome, seconds))
    print("\n| stage | outcome | seconds |\n|---|---|---|")
    for name, outcome, seconds in results:
        print(f"| {name} | {outcome} | {seconds:.1f} |")
    return 0 if all(o in ("ok", "skipped") for _, o, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
