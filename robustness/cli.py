"""evaluate.py's command line: run directories, suites, levels, data folders; then a summary per run."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Sequence

from robustness import DEFAULT_SUITES, SUITES
from robustness.evaluation import C10C_DIR, CIFAR101_DIR, CIFAR102_DIR, Options, evaluate_run
from robustness.tables import format_summary
from utils.errors import UserError


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated level numbers, got {text!r}") from None


def _suites(text: str) -> list[str]:
    suites = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown suite {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    return suites


def command(runs: Sequence[str | Path], suites: Sequence[str], data_root: str | None = None,
            c10c_root: str | None = None) -> str:
    """The evaluate.py command line that computes ``suites`` for ``runs`` (what the notebook prints for numbers
    it does not have)."""
    argv = ["python", "evaluate.py", *map(str, runs), "--suite", ",".join(suites)]
    if data_root is not None:
        argv += ["--data-root", str(data_root)]
    if c10c_root is not None and "c10c" in suites:
        argv += ["--c10c-root", str(c10c_root)]
    return shlex.join(argv)


def build_parser() -> argparse.ArgumentParser:
    o = Options()
    p = argparse.ArgumentParser(prog="evaluate.py", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="Robustness and analysis of finished main_imp.py runs; results go into "
                                "each run directory (robustness.json, robustness_<suite>.csv, plots/).")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (<out>/<run-id>)")
    p.add_argument("--suite", type=_suites, metavar="SUITES", default=list(DEFAULT_SUITES),
                   help=f"comma-separated suites from {', '.join(SUITES)} ('clean' is always evaluated)")
    p.add_argument("--levels", type=_int_list, metavar="LEVELS", default=None,
                   help="comma-separated levels (default: all finished)")
    p.add_argument("--data-root", metavar="PATH", default=o.data_root,
                   help="folder with the run's dataset (<dataset>.npz, as for "
                   "main_imp.py) and, by default, the suites' data folders")
    p.add_argument("--c10c-root", metavar="PATH", default=None,
                   help=f"CIFAR-10-C folder (default: DATA_ROOT/{C10C_DIR})")
    p.add_argument("--cifar101-root", metavar="PATH", default=None,
                   help=f"CIFAR-10.1 folder (default: DATA_ROOT/{CIFAR101_DIR})")
    p.add_argument("--cifar102-root", metavar="PATH", default=None,
                   help=f"CIFAR-10.2 folder (default: DATA_ROOT/{CIFAR102_DIR})")
    p.add_argument("--cifar102-all", action="store_true", help="also evaluate CIFAR-10.2's train and test splits "
                   "together (12,000 images, as the paper did)")
    p.add_argument("--device", metavar="DEVICE", default=o.device,
                   help="cuda when available, else cpu; or any torch device")
    p.add_argument("--eval-batch-size", type=int, metavar="N", default=o.eval_batch_size,
                   help="images per forward pass (accuracy)")
    p.add_argument("--attack-batch-size", type=int, metavar="N", default=o.attack_batch_size,
                   help="images per forward/backward pass of an attack")
    p.add_argument("--adv-images", type=int, metavar="N", default=o.adv_images, help="attack the first N test images")
    p.add_argument("--cka-images", type=int, metavar="N", default=o.cka_images,
                   help="compare on the first N test images")
    p.add_argument("--plots", action="store_true", help="also write <run>/plots/*.png")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = Options(args.data_root, args.c10c_root, args.cifar101_root, args.cifar102_root, args.cifar102_all,
                      args.device, args.eval_batch_size, args.attack_batch_size, args.adv_images, args.cka_images)
    try:
        if min(args.eval_batch_size, args.attack_batch_size, args.adv_images, args.cka_images) < 1:
            raise UserError("--eval-batch-size, --attack-batch-size, --adv-images and --cka-images must be >= 1")
        if "autoattack" in args.suite:  # before any run is evaluated
            from robustness.adversarial import require_torchattacks
            require_torchattacks()
        for run in args.runs:
            store = evaluate_run(run, args.suite, args.levels, options)
            print(f"== {run}\n{format_summary(store.records)}")
        if args.plots:
            from robustness.plots import write_plots
            for run in args.runs:
                for path in write_plots(run, args.runs):
                    print(f"wrote {path}")
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
