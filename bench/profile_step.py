#!/usr/bin/env python
"""Where a training step's time goes: ``torch.profiler`` over a few steps and one augmentation chunk.

For each ``--case`` (``main_imp.py`` flags, as in ``bench/bench.py``) it builds the level-0 trainer, runs one
warm-up epoch (CUDA-graph capture, cuDNN autotuning, compilation), then profiles

- ``--steps`` training steps as the epoch runs them (graph replays on CUDA with the default ``--compile``),
- the same number of eager steps (the kernels one graph replay contains, each with its own launch),
- one augmentation chunk,

and prints the top operators by device time (self time; kernels by name for graph replays), the optimizer's
update timed alone for the fused and the foreach SGD, and the whole step with each of the two updates. On a
CPU the same tables show CPU time.

    python bench/profile_step.py --common "--data-root .data --per-class 50 --augment autoaug --cutout" \\
        --case "--compile graph" --tile 100
"""
from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from pathlib import Path
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import CPU_DEFAULT, Timer, build_trainer  # noqa: E402


def profile_table(fn: Callable[[], None], device: torch.device, rows: int) -> str:
    """The top ``rows`` operators or kernels of ``fn`` by self time on ``device`` (CPU time on a CPU)."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    sort_by = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort_by, row_limit=rows, max_name_column_width=60)


def optimizer_ms(trainer, fused: bool, repeats: int = 20) -> float:
    """Median time of one SGD update of every parameter (gradients as the last step left them)."""
    optimizer = trainer.optimizer
    was_fused, optimizer.fused = optimizer.fused, fused
    params = [p.detach().clone() for p in optimizer.params]
    buffers = [b.clone() for b in optimizer.buffers]
    times = []
    for _ in range(repeats):
        with Timer(trainer.env.device) as t:
            optimizer.step()
        times.append(t.seconds)
    with torch.no_grad():  # leave the model as it was
        for p, saved in zip(optimizer.params, params):
            p.copy_(saved)
        for b, saved in zip(optimizer.buffers, buffers):
            b.copy_(saved)
    optimizer.fused = was_fused
    return 1000 * statistics.median(times)


def step_ms(trainer, x: torch.Tensor, y: torch.Tensor, fused: bool, repeats: int = 5, steps: int = 20) -> float:
    """Median time of one whole training step as an epoch runs it (re-captured as a CUDA graph on CUDA), with
    the fused or the foreach SGD update. Capture restores the state it changes; the timed steps do train."""
    optimizer = trainer.optimizer
    was_fused, optimizer.fused = optimizer.fused, fused
    trainer._graphed = None  # capture the step again with this update
    step = trainer.step_fn(x, y)
    for _ in range(3):
        step(x, y)
    times = []
    for _ in range(repeats):
        with Timer(trainer.env.device) as t:
            for _ in range(steps):
                step(x, y)
        times.append(t.seconds / steps)
    optimizer.fused, trainer._graphed = was_fused, None
    return 1000 * statistics.median(times)


def profile_case(argv: list[str], tile: int, steps: int, rows: int) -> None:
    hp, env, data, model, trainer = build_trainer(argv, tile)
    device = env.device
    trainer.run_epoch(0)  # warm-up: graph capture, autotuning, compilation
    batch_size = hp.training.batch_size
    x_chunk, y_chunk = next(iter(trainer.batches.epoch(batch_size, trainer.chunk_steps)))
    x = trainer.augment(x_chunk)[:batch_size].clone()
    y = y_chunk[:batch_size]
    step = trainer.step_fn(x, y)

    def run_steps(fn: Callable) -> Callable[[], None]:
        return lambda: [fn(x, y) for _ in range(steps)]

    print(f"\n=== {' '.join(argv)} (tile {tile}): {env.precision}, compile {env.compile}, {device} ===")
    print(f"\n--- {steps} training steps as an epoch runs them ({type(step).__name__}) ---")
    print(profile_table(run_steps(step), device, rows))
    if step is not trainer.step:
        print(f"\n--- {steps} eager steps ---")
        print(profile_table(run_steps(trainer.step), device, rows))
    print(f"\n--- one augmentation chunk ({trainer.chunk_steps} batches) ---")
    print(profile_table(lambda: trainer.augment(x_chunk), device, rows))
    print(f"\nSGD update alone: fused {optimizer_ms(trainer, True):.3f} ms, "
          f"foreach {optimizer_ms(trainer, False):.3f} ms")
    print(f"whole step ({type(step).__name__}): fused SGD {step_ms(trainer, x, y, True):.3f} ms, "
          f"foreach {step_ms(trainer, x, y, False):.3f} ms, fused again {step_ms(trainer, x, y, True):.3f} ms")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", action="append", default=[], help="main_imp.py flags of one case (repeatable)")
    p.add_argument("--common", default="", help="flags added to every case")
    p.add_argument("--tile", type=int, default=1, help="repeat the training subset N times (see bench.py)")
    p.add_argument("--steps", type=int, default=10, help="training steps profiled per table")
    p.add_argument("--rows", type=int, default=25, help="rows per table")
    args = p.parse_args(argv)
    common = shlex.split(args.common) or ([] if torch.cuda.is_available() else shlex.split(CPU_DEFAULT))
    for case in args.case or [""]:
        profile_case([*common, *shlex.split(case)], args.tile, args.steps, args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
