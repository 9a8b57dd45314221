#!/usr/bin/env python
"""Benchmark training speed: seconds per epoch, images per second, and one whole IMP level.

Each ``--case`` is a string of ``main_imp.py`` flags, so a case is exactly the run it stands for; all cases run
in one process and print one table. On CUDA, epochs are timed with CUDA events after warm-up epochs and the
median is reported; on the CPU with ``time.perf_counter``. ``--full-level`` runs one real level 0 (the same
``Run.train_level`` as ``main_imp.py``: scheduled evaluations, checkpoints, the rewind state and the level's files,
written to a temporary folder) and reports its wall time; without it the level is estimated from the epochs.

    python bench/bench.py                                  # CPU: a tiny synthetic case, seconds
    python bench/bench.py --common "--data-root ../shared/data --data-fraction 0.01 --augment autoaug --cutout" \\
        --case "--compile off" --case "--compile graph" --full-level
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lottery.cli import parse_args  # noqa: E402
from lottery.run import Run, cpu_state  # noqa: E402
from lottery.run_dir import RunDir  # noqa: E402
from pruning import Mask  # noqa: E402
from training.loop import LevelTrainer  # noqa: E402

CPU_DEFAULT = "--dataset synthetic --per-class 20 --width 8 --batch-size 50 --augment autoaug --cutout"


class Timer:
    """Wall time of a block: CUDA events on a GPU (no host sync inside the block), perf_counter otherwise."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def __enter__(self) -> "Timer":
        if self.cuda:
            self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            self.start.record()
        else:
            self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            self.seconds = self.start.elapsed_time(self.end) / 1000
        else:
            self.seconds = time.perf_counter() - self.t0


def evaluations_per_level(epochs: int, eval_every: int) -> int:
    """Scheduled evaluations plus the one at the level's end (counted once when they coincide)."""
    scheduled = epochs // eval_every if eval_every > 0 else 0
    return scheduled + (0 if eval_every > 0 and epochs % eval_every == 0 else 1)


def time_full_level(run: Run, model: torch.nn.Module) -> float:
    """Wall time of one real level 0 of ``run``, written to a temporary run folder that is removed afterwards."""
    with tempfile.TemporaryDirectory() as out:
        hp = dataclasses.replace(run.hp, job=dataclasses.replace(run.hp.job, out=out))
        run = dataclasses.replace(run, dir=RunDir(hp))
        run.dir.claim()
        started = time.perf_counter()
        run.train_level(model, Mask.dense(model), 0, (cpu_state(model), 0))
        return time.perf_counter() - started


def training_flops_per_image(model: torch.nn.Module, image_shape: tuple[int, ...]) -> float:
    """Forward + backward FLOPs of one image (``torch.utils.flop_counter``, counted on a CPU copy in fp32)."""
    clone = copy.deepcopy(model).to("cpu", memory_format=torch.contiguous_format).float()
    with FlopCounterMode(display=False) as counter:
        clone(torch.rand(1, *image_shape)).sum().backward()
    return float(counter.get_total_flops())


def time_parts(trainer: LevelTrainer, device: torch.device, repeats: int) -> dict:
    """An epoch's two parts timed apart, in milliseconds (medians): augmenting one chunk, and one training step
    (the step function the epoch uses, on one augmented batch). Together with s/epoch they show where an epoch's
    time goes: ``s/epoch - chunks * augment - steps * step`` is the loop's own overhead."""
    batch_size = trainer.config.batch_size
    x_chunk, y_chunk = next(iter(trainer.batches.epoch(batch_size, trainer.chunk_steps)))
    augment_s, step_s = [], []
    for _ in range(repeats):
        with Timer(device) as t:
            x_augmented = trainer.augment(x_chunk)
        augment_s.append(t.seconds)
    x, y = x_augmented[:batch_size].clone(), y_chunk[:batch_size]
    step = trainer.step_fn(x, y)
    for _ in range(repeats):
        with Timer(device) as t:
            for _ in range(trainer.chunk_steps):
                step(x, y)
        step_s.append(t.seconds / trainer.chunk_steps)
    return {"augment_ms": 1000 * statistics.median(augment_s), "step_ms": 1000 * statistics.median(step_s),
            "chunks_per_epoch": math.ceil(trainer.steps_per_epoch / trainer.chunk_steps)}


def open_case(argv: list[str], tile: int = 1) -> tuple[Run, torch.nn.Module]:
    """The run ``argv`` describes (its training set tiled ``tile`` times) and its initial model, as
    ``main_imp.py`` would build them."""
    run = Run.open(parse_args(argv), tile=tile)
    return run, run.build_model(run.seeds.init)


def case_trainer(run: Run, model: torch.nn.Module) -> LevelTrainer:
    """Level 0's trainer (a dense mask), the model in training mode."""
    trainer = run.trainer(model, Mask.dense(model))
    model.train()
    return trainer


def build_trainer(argv: list[str], tile: int = 1) -> tuple:
    """``(hp, env, data, model, trainer)`` for the run ``argv`` describes, its training set tiled ``tile`` times,
    with a dense mask: what ``main_imp.py`` would train at level 0."""
    run, model = open_case(argv, tile)
    return run.hp, run.env, run.data, model, case_trainer(run, model)


def bench_case(argv: list[str], warmup: int, timed: int, full_level: bool, tile: int) -> dict:
    started = time.perf_counter()
    run, model = open_case(argv, tile)
    hp, env, data, trainer = run.hp, run.env, run.data, case_trainer(run, model)
    device = env.device
    epochs = hp.training.epochs
    ready_s = None  # process work until the first epoch is done: building, capture, autotuning, compilation
    for e in range(warmup):
        trainer.run_epoch(e % epochs)
        if e == 0:  # run_epoch ends with a host sync
            ready_s = time.perf_counter() - started
    seconds = []
    for e in range(timed):
        with Timer(device) as t:
            trainer.run_epoch((warmup + e) % epochs)
        seconds.append(t.seconds)
    trainer.test_metrics()  # warm-up: the first evaluation pays for cuDNN autotuning of its batch shape
    with Timer(device) as t_eval:
        trainer.test_metrics()
    per_epoch = statistics.median(seconds)
    parts = time_parts(trainer, device, repeats=timed)
    flops_per_step = training_flops_per_image(model, (data.in_channels, data.image_size, data.image_size)) \
        * hp.training.batch_size
    parts["step_tflops"] = flops_per_step / parts["step_ms"] / 1e9
    level = {"level_s": epochs * per_epoch + evaluations_per_level(epochs, hp.job.eval_every) * t_eval.seconds,
             "level_kind": "estimated"}
    if full_level:
        level = {"level_s": time_full_level(run, model), "level_kind": "measured"}
    images = trainer.steps_per_epoch * hp.training.batch_size
    return {"case": " ".join(argv), "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "setup": f"{env.precision}, compile {env.compile}, data on {env.data_path}"
                     + (f", speedups {','.join(env.speedups)}" if env.speedups else ""),
            "train_images": len(data.y_train), "steps_per_epoch": trainer.steps_per_epoch,
            "chunk_steps": trainer.chunk_steps, "ready_s": ready_s, "s_per_epoch": per_epoch,
            "min_s_per_epoch": min(seconds),
            "images_per_s": images / per_epoch, "eval_s": t_eval.seconds, "epochs": epochs, **parts, **level}


COLUMNS = ("case", "device", "setup", "train imgs", "steps (per chunk)", "s/epoch (median)", "img/s",
           "test eval (s)", "augment (ms/chunk)", "step (ms)", "step TFLOP/s", "one level (s)")


def format_rows(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = (f"`{r['case'] or '(defaults)'}`", r["device"], r["setup"], r["train_images"],
                 f"{r['steps_per_epoch']} ({r['chunk_steps']})", f"{r['s_per_epoch']:.4f}", f"{r['images_per_s']:.0f}",
                 f"{r['eval_s']:.3f}", f"{r['augment_ms']:.2f}", f"{r['step_ms']:.2f}", f"{r['step_tflops']:.3g}",
                 f"{r['level_s']:.1f} ({r['level_kind']}, {r['epochs']} epochs)")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", action="append", default=[], help="main_imp.py flags of one case (repeatable)")
    p.add_argument("--common", default="", help="flags added to every case")
    p.add_argument("--warmup-epochs", type=int, default=2, help="untimed epochs first (compilation, capture)")
    p.add_argument("--epochs", type=int, default=5, help="timed epochs; the median is reported")
    p.add_argument("--full-level", action="store_true", help="also run one whole level (else estimate it)")
    p.add_argument("--tile", type=int, default=1, help="repeat the training subset N times (e.g. 1%% x 100 "
                   "for a full-size epoch when only a 1%% cut of the data is at hand)")
    args = p.parse_args(argv)
    common = shlex.split(args.common) or ([] if torch.cuda.is_available() else shlex.split(CPU_DEFAULT))
    cases = args.case or [""]
    rows = []
    for case in cases:
        row = bench_case([*common, *shlex.split(case)], args.warmup_epochs, args.epochs, args.full_level, args.tile)
        print(f"{row['case']}: {row['s_per_epoch']:.4f} s/epoch, {row['images_per_s']:.0f} img/s", flush=True)
        rows.append(row)
    print(format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
