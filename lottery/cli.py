"""The command line, generated from the hyperparameter dataclasses, and its validation."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from typing import Any, NoReturn, Sequence

from lottery.hparams import Hparams
from utils.errors import UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def build_parser(prog: str = "main_imp.py") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description="Find sparse winning tickets by iterative magnitude pruning with "
                     "weight rewinding on small, class-balanced image subsets.",
                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for group_name, group_cls in ((f.name, f.default_factory) for f in dataclasses.fields(Hparams)):
        arg_group = parser.add_argument_group(group_name)
        types = typing.get_type_hints(group_cls)  # the annotation, not the default's type: 0 for a float is fine
        for f in dataclasses.fields(group_cls):
            meta = f.metadata
            kwargs: dict[str, Any] = {"default": f.default, "help": meta["help"].replace("%", "%%"),
                                      "dest": f"{group_name}.{f.name}", **meta["argparse"]}
            if types[f.name] is bool:
                kwargs["action"] = argparse.BooleanOptionalAction  # --x / --no-x, whatever the default
            else:
                kwargs["type"] = types[f.name]
                if meta["choices"] is not None:
                    kwargs["choices"] = meta["choices"]()
            arg_group.add_argument(_flag_name(f.name), **kwargs)
    return parser


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(message)


def validate(hp: Hparams) -> None:
    """Reject settings that cannot make a meaningful run, before anything is loaded or written."""
    d, p, t, j = hp.data, hp.pruning, hp.training, hp.job
    _check(0 < d.data_fraction <= 1, f"--data-fraction must be in (0, 1], got {d.data_fraction}")
    _check(d.per_class >= 0, f"--per-class must be >= 0, got {d.per_class}")
    _check(d.per_class == 0 or d.data_fraction == 1.0, "give --data-fraction or --per-class, not both")
    _check(0 < d.imbalance <= 1, f"--imbalance must be in (0, 1], got {d.imbalance}")
    _check(d.image_size == 0 or d.image_size >= 8, f"--image-size must be 0 or >= 8, got {d.image_size}")
    _check(d.cutout >= 0 and d.mixup >= 0 and d.cutmix >= 0, "--cutout, --mixup and --cutmix must be >= 0")
    _check(hp.model.width >= 1, f"--width must be >= 1, got {hp.model.width}")
    _check(j.rounds >= 1, f"--rounds must be >= 1, got {j.rounds}")
    _check(0 < p.prune_rate < 1, f"--prune-rate must be in (0, 1), got {p.prune_rate}")
    rewind = p.rewind
    if rewind not in ("init", "trained"):
        head, _, n = rewind.partition(":")
        _check(head == "epoch" and n.isdigit(), f"--rewind must be epoch:N, init or trained, got {rewind!r}")
    _check(t.epochs >= 1 and t.batch_size >= 1, "--epochs and --batch-size must be >= 1")
    _check(hp.rewind_epoch is None or hp.rewind_epoch < t.epochs,
           f"--rewind {rewind} must lie before the last epoch (--epochs {t.epochs})")
    _check(t.lr > 0 and t.momentum >= 0 and t.weight_decay >= 0, "--lr must be > 0, --momentum and "
           "--weight-decay >= 0")
    _check(j.eval_every >= 0 and j.checkpoint_minutes >= 0 and j.workers >= 0,
           "--eval-every, --checkpoint-minutes and --workers must be >= 0")


def parse_args(argv: Sequence[str] | None = None) -> Hparams:
    args = vars(build_parser().parse_args(argv))
    groups: dict[str, dict[str, Any]] = {}
    for key, value in args.items():
        group, name = key.split(".", 1)
        groups.setdefault(group, {})[name] = value
    hp = Hparams.from_dict(groups)
    validate(hp)
    return hp


def main(argv: Sequence[str] | None = None) -> int:
    from lottery.runner import run  # imported late: --help and bad flags need no torch start-up
    try:
        hp = parse_args(argv)
        run(hp)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    return 0
