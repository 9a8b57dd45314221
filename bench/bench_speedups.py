#!/usr/bin/env python
"""What each speed-up of the training step buys: the same case timed with the speed-ups added one at a time.

The first four rows each add one change to the row above. Each variant runs in its own process (cuDNN's
autotuning and torch.compile keep per-process state), timed as ``bench/bench.py`` times a case:

    before          --compile graph and the foreach SGD update (the defaults until November 2026)
    fused SGD       the update as torch's fused kernel (``training.sgd``, now the default)
    compile model   --compile full as it was until 27 November 2026: torch.compile of the model only
    compile         --compile full: torch.compile of the model and of the augmentation, inside their graphs
    default         no flags at all: what ``--compile auto`` and the defaults give for this case
    cudnn-all       fused SGD, with cuDNN timing every algorithm it has rather than its first 10 (torch's default)
    tuned           compile + Inductor's coordinate-descent tuning of its kernels
    max-autotune    compile + Inductor's max-autotune (Triton templates tried against cuDNN for convolutions)
    combo kernels   compile + Inductor's horizontal fusion of independent small kernels into one launch
    multi-kernel    compile + Inductor's reductions compiled two ways, the faster chosen at run time
    cooperative     compile + Inductor's cooperative reductions (one kernel, grid-synchronised, for a long
                    reduction over few outputs: the BatchNorm statistics, at 1.3 of 4.8 TB/s in the profile)
    masked update   compile + the SGD update and the mask as one compiled function (``--speedups masked_update``)
    no BN counter   compile + BatchNorm without counting into its never-read ``num_batches_tracked``
                    (``--speedups bn_counters``)
    im2col stem     compile + the stem convolution as im2col and one matrix product (``--speedups im2col_stem``)
    deterministic   compile + ``cudnn.deterministic`` (algorithms without the workspace-zeroing kernels that
                    cost 60 us a step in the profile, if cuDNN's deterministic ones are as fast)
    levers          compile + all four above

None from "cudnn-all" on is a default: on an H200 timing every cuDNN algorithm bought under 1% over "fused SGD"
(1.467 against 1.476 s per epoch), the tuned compile did not finish within 100 s, and max-autotune bought 2%
over "compile model" (1.169 against 1.190 s) for 92 s of compilation. The rest, three Inductor options and the
candidates of ``--speedups`` (``training/speedups.py``), are not yet measured on a GPU.

    python bench/bench_speedups.py --common "--data-root .data --per-class 50 --augment autoaug --cutout \\
        --eval-every 0" --tile 100 --variants "before,fused SGD,compile model,compile,default"
    python bench/bench_speedups.py --common "..." --tile 100 \\
        --variants "default,masked update,no BN counter,im2col stem,deterministic,levers"

Columns: seconds per epoch (median), the speed-up over the first row, one training step and one augmentation
chunk in ms, and ``ready``, the process's seconds until its first epoch is done (building, capture, autotuning,
compilation).
"""
from __future__ import annotations

import argparse
import functools
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> (main_imp.py flags, settings the child applies before building the trainer)
VARIANTS: dict[str, tuple[str, dict]] = {
    "before": ("--compile graph", {"fused_sgd": False}),
    "fused SGD": ("--compile graph", {"fused_sgd": True}),
    "compile model": ("--compile full", {"fused_sgd": True, "eager_augment": True}),
    "compile": ("--compile full", {"fused_sgd": True}),
    "default": ("", {}),
    "cudnn-all": ("--compile graph", {"fused_sgd": True, "cudnn_limit": 0}),
    "tuned": ("--compile full", {"fused_sgd": True, "inductor": {"coordinate_descent_tuning": True}}),
    "max-autotune": ("--compile full", {"inductor": {"max_autotune": True}}),
    "combo kernels": ("--compile full", {"inductor": {"combo_kernels": True}}),
    "multi-kernel": ("--compile full", {"inductor": {"triton.multi_kernel": 1}}),
    "cooperative": ("--compile full", {"inductor": {"triton.cooperative_reductions": True}}),
    "masked update": ("--compile full --speedups masked_update", {}),
    "no BN counter": ("--compile full --speedups bn_counters", {}),
    "im2col stem": ("--compile full --speedups im2col_stem", {}),
    "deterministic": ("--compile full", {"cudnn_deterministic": True}),
    "levers": ("--compile full --speedups masked_update,bn_counters,im2col_stem", {"cudnn_deterministic": True}),
}


def apply_settings(settings: dict) -> None:
    """Set this process up so that the trainer ``bench.build_trainer`` builds uses ``settings``: torch's and
    Inductor's options, and the defaults of earlier days (the non-fused SGD, the eager augmentation)."""
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # the library, and bench.py as the child imports it
    import torch
    import training.loop as loop
    from training.sgd import SGD

    if "fused_sgd" in settings:
        loop.SGD = functools.partial(SGD, fused=settings["fused_sgd"])
    if "cudnn_limit" in settings:  # cudnn.benchmark is turned on later (Environment.resolve); the limit stays
        torch.backends.cudnn.benchmark_limit = settings["cudnn_limit"]
    import torch._inductor.config as inductor
    for name, value in settings.get("inductor", {}).items():  # "triton.multi_kernel": config.triton.multi_kernel
        *groups, leaf = name.split(".")
        config = functools.reduce(getattr, groups, inductor)
        if not hasattr(config, leaf):  # an option this torch lacks: the variant's row says so
            raise AttributeError(f"torch {torch.__version__} has no Inductor option {name}")
        setattr(config, leaf, value)
    if settings.get("eager_augment"):
        loop.compile_augmentation = lambda policy: policy
    if settings.get("cudnn_deterministic"):
        torch.backends.cudnn.deterministic = True


def run_child(name: str, common: str, tile: int, epochs: int) -> dict:
    """The variant in a child process; its result row, or ``{"error": ...}``."""
    flags, settings = VARIANTS[name]
    apply_settings(settings)
    from bench import bench_case
    return bench_case([*shlex.split(common), *shlex.split(flags)], 1, epochs, False, tile)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--common", default="", help="main_imp.py flags of the case (the recipe)")
    p.add_argument("--tile", type=int, default=1, help="repeat the training subset N times (see bench.py)")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per variant, after one warm-up epoch")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, in order (default: all)")
    p.add_argument("--limit", type=float, default=300, help="seconds a variant may take")
    p.add_argument("--child", help=argparse.SUPPRESS)  # run one variant in this process
    args = p.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(run_child(args.child, args.common, args.tile, args.epochs)), flush=True)
        return 0
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        p.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    rows = []
    for name in names:
        cmd = [sys.executable, __file__, "--child", name, "--common", args.common, "--tile", str(args.tile),
               "--epochs", str(args.epochs)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.limit)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            last = (done.stderr.strip().splitlines() or [""])[-1]
            row = json.loads(lines[-1][7:]) if lines else {"error": f"exit {done.returncode}: {last[-200:]}"}
        except subprocess.TimeoutExpired:
            row = {"error": f"over {args.limit:.0f} s"}
        print(f"{name}: {row.get('s_per_epoch', row.get('error'))}", flush=True)
        rows.append((name, row))
    print(format_rows(rows))
    return 0 if all("error" not in row for _, row in rows) else 1


def format_rows(rows: list[tuple[str, dict]]) -> str:
    lines = ["| variant | setup | s/epoch | speed-up | step (ms) | augment (ms/chunk) | ready (s) |",
             "|---|---|---|---|---|---|---|"]
    base = next((row["s_per_epoch"] for _, row in rows if "s_per_epoch" in row), None)
    for name, row in rows:
        if "error" in row:
            lines.append(f"| {name} | failed: {row['error']} | | | | | |")
            continue
        lines.append(f"| {name} | {row['setup']} | {row['s_per_epoch']:.4f} | {base / row['s_per_epoch']:.2f}x | "
                     f"{row['step_ms']:.3f} | {row['augment_ms']:.2f} | {row['ready_s']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
