"""The command line, generated from the hyperparameter dataclasses, and its validation."""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import typing
from typing import TYPE_CHECKING, Any, NoReturn, Sequence

from lottery.hparams import (RESULT_GROUPS, HparamTree, Hparams, ModelHparams, PruningHparams, TrainingHparams,
                             parse_rewind_epoch)
from utils.errors import UserError, exit_status
from utils.lock import release_all

if TYPE_CHECKING:
    from training.hooks import TrainHook


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


# what --help calls a flag's value: by field name where the type alone would not say, else by type
METAVARS = {"data_root": "PATH", "out": "PATH", "init_checkpoint": "PATH", "device": "DEVICE",
            "rewind": "{epoch:N,init,trained}", "image_size": "S", "imbalance": "R", "cutout": "LEN",
            "mixup": "ALPHA", "cutmix": "ALPHA", "match_density": "D", "target_density": "D",
            "tvmf_kappa": "KAPPA", "speedups": "NAME[,NAME]"}
_TYPE_METAVARS = {int: "N", float: "F"}


DESCRIPTION = ("Find sparse winning tickets by iterative magnitude pruning with weight rewinding on small, "
               "class-balanced image subsets.")


def build_parser(prog: str = "main_imp.py", tree: type[HparamTree] = Hparams,
                 description: str = DESCRIPTION) -> argparse.ArgumentParser:
    """One flag per field of ``tree``'s groups (``Hparams`` for main_imp.py), in an argument group per group."""
    parser = _Parser(prog=prog, description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for group_name, group_cls in ((f.name, f.default_factory) for f in dataclasses.fields(tree)):
        arg_group = parser.add_argument_group(group_name)
        types = typing.get_type_hints(group_cls)  # the annotation, not the default's type: 0 for a float is fine
        for f in dataclasses.fields(group_cls):
            meta = f.metadata
            kwargs: dict[str, Any] = {"default": f.default, "help": meta["help"].replace("%", "%%"),
                                      "dest": f"{group_name}.{f.name}", **meta["argparse"]}
            if types[f.name] is bool:  # off by default: a switch --x; on by default: --x / --no-x
                kwargs["action"] = "store_true" if f.default is False else argparse.BooleanOptionalAction
            else:
                kwargs["type"] = types[f.name]
                if meta["choices"] is not None:
                    kwargs["choices"] = meta["choices"]()
                else:  # --help shows "--epochs N", not argparse's "--epochs TRAINING.EPOCHS"
                    kwargs.setdefault("metavar", METAVARS.get(f.name) or _TYPE_METAVARS.get(types[f.name]) or
                                      f.name.upper())
            arg_group.add_argument(_flag_name(f.name), **kwargs)
    return parser


# numpy's legacy seeding (np.random.seed, which seed_all calls) takes seeds below 2**32
SEED_LIMIT = 2**32


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(message)


def validate(hp: Hparams) -> None:
    """Reject settings that cannot make a meaningful run, before anything is loaded or written."""
    d, p, t, j = hp.data, hp.pruning, hp.training, hp.job
    _check_finite(hp)
    _check(j.out.strip() != "", "--out must name a folder (got an empty one, which would be the current folder)")
    _check(0 < d.data_fraction <= 1, f"--data-fraction must be in (0, 1], got {d.data_fraction}")
    _check(d.per_class >= 0, f"--per-class must be >= 0, got {d.per_class}")
    _check(d.test_images >= 0, f"--test-images must be >= 0 (0 = the whole test set), got {d.test_images}")
    _check(d.per_class == 0 or d.data_fraction == 1.0, "give --data-fraction or --per-class, not both")
    _check(0 < d.imbalance <= 1, f"--imbalance must be in (0, 1], got {d.imbalance}")
    _check(d.image_size == 0 or d.image_size >= 8, f"--image-size must be 0 or >= 8, got {d.image_size}")
    _check(d.cutout >= 0 and d.mixup >= 0 and d.cutmix >= 0, "--cutout, --mixup and --cutmix must be >= 0")
    _check(hp.model.width >= 1, f"--width must be >= 1, got {hp.model.width}")
    _validate_model(hp)
    _validate_advprop(hp)
    _check(j.rounds >= 1, f"--rounds must be >= 1, got {j.rounds}")
    _check(0 < p.prune_rate < 1, f"--prune-rate must be in (0, 1), got {p.prune_rate}")
    rewind = p.rewind
    _check(rewind in ("init", "trained") or parse_rewind_epoch(rewind) is not None,
           f"--rewind must be epoch:N (N in ASCII digits), init or trained, got {rewind!r}")
    _check(t.epochs >= 1 and t.batch_size >= 1, "--epochs and --batch-size must be >= 1")
    _check(hp.rewind_epoch is None or hp.rewind_epoch < t.epochs,
           f"--rewind {rewind} must lie before the last epoch (--epochs {t.epochs})")
    _check(t.lr > 0 and t.momentum >= 0 and t.weight_decay >= 0, "--lr must be > 0, --momentum and "
           "--weight-decay >= 0")
    for flag, seed in (("--seed", t.seed), ("--data-seed", d.data_seed)):
        _check(0 <= seed < SEED_LIMIT, f"{flag} must be in [0, 2**32), got {seed}")
    _check(j.eval_every >= 0 and j.checkpoint_minutes >= 0 and j.workers >= 0,
           "--eval-every, --checkpoint-minutes and --workers must be >= 0")
    from training.speedups import parse_speedups  # imports torch: only once the flags are known
    _check("im2col_stem" not in parse_speedups(j.speedups) or hp.model.arch != "hresnet18",
           "--speedups im2col_stem needs a plain convolution as the stem, not --arch hresnet18's harmonic one")
    _validate_baselines(hp)


def _check_finite(hp: Hparams) -> None:
    """Every result-affecting number is finite: argparse's float() reads "inf" and "nan" too, and an infinite
    learning rate or weight decay would only show as a diverged level, an infinite attack radius as a crash."""
    for group in RESULT_GROUPS:
        for name, value in dataclasses.asdict(getattr(hp, group)).items():
            if isinstance(value, float):
                _check(math.isfinite(value), f"{_flag_name(name)} must be a finite number, got {value}")


def _validate_baselines(hp: Hparams) -> None:
    """The one-shot methods, --reinit and --match-density: each flag only where it changes something."""
    from pruning import METHODS  # the registry imports torch; read it only once the flags are known
    p, name, default = hp.pruning, hp.pruning.prune_method, PruningHparams()
    method = METHODS[name]
    if method.when == "imp":
        _check(p.target_density == 0, f"--target-density is for the one-shot methods, not --prune-method {name}")
    else:
        _check(0 < p.target_density < 1, f"--prune-method {name} needs --target-density D with 0 < D < 1")
        _check(p.prune_rate == default.prune_rate, f"--prune-rate is for IMP, not --prune-method {name}")
    _check(p.score_batches >= 1, f"--score-batches must be >= 1, got {p.score_batches}")
    _check(p.score_batches == default.score_batches or method.needs_data,
           f"--score-batches is for the methods that score data (snip, grasp), not {name}")
    _check(p.synflow_rounds >= 1, f"--synflow-rounds must be >= 1, got {p.synflow_rounds}")
    _check(p.synflow_rounds == default.synflow_rounds or method.iterative,
           f"--synflow-rounds is for --prune-method synflow, not {name}")
    _check(name != "random_erk" or p.prune_scope == "global",
           "random_erk sets its own per-layer densities: use it with --prune-scope global")
    match = hp.model.match_density
    _check(0 <= match < 1, f"--match-density must be in (0, 1) (0 = off), got {match}")
    _check(match == 0 or (name == "magnitude" and not p.reinit),
           "--match-density trains one dense network: not with another --prune-method or --reinit")


def _validate_model(hp: Hparams) -> None:
    from models.pretrained import TORCHVISION_ARCHS  # a plain dict; imports no torchvision model code

    m = hp.model
    _check(m.tvmf_kappa >= 0, f"--tvmf-kappa must be >= 0, got {m.tvmf_kappa}")
    _check(m.head == "tvmf" or m.tvmf_kappa == ModelHparams().tvmf_kappa,
           f"--tvmf-kappa applies to --head tvmf only (got --head {m.head})")
    _check(m.head != "linear" or m.head_scale == ModelHparams().head_scale,
           "--head-scale applies to --head cosine and tvmf only")
    _check(m.arch == "hresnet18" or m.harmonic_basis == ModelHparams().harmonic_basis,
           f"--harmonic-basis applies to --arch hresnet18 only (got --arch {m.arch})")
    if m.init == "imagenet":
        _check(m.arch in TORCHVISION_ARCHS, f"--init imagenet needs an arch with torchvision ImageNet weights "
               f"({', '.join(TORCHVISION_ARCHS)}), got {m.arch}")
        _check(m.width == 64, f"--init imagenet needs --width 64 (the pretrained model's), got {m.width}")
    if m.init_checkpoint:
        _check(os.path.isfile(m.init_checkpoint), f"--init-checkpoint {m.init_checkpoint}: no such file")


def _validate_advprop(hp: Hparams) -> None:
    t = hp.training
    defaults = TrainingHparams()
    tuned = [name for name in ("advprop_eps", "advprop_step_size", "advprop_steps", "advprop_start")
             if getattr(t, name) != getattr(defaults, name)]
    _check(t.advprop or not tuned, f"--{tuned[0].replace('_', '-') if tuned else ''} needs --advprop")
    _check(t.advprop_eps >= 0 and t.advprop_step_size > 0 and t.advprop_steps >= 1,
           "--advprop-eps must be >= 0, --advprop-step-size > 0 and --advprop-steps >= 1")


def parse_tree(parser: argparse.ArgumentParser, tree: type[HparamTree], argv: Sequence[str] | None) -> Any:
    """``argv`` parsed by ``parser`` (from ``build_parser(tree=tree)``) into an instance of ``tree``."""
    groups: dict[str, dict[str, Any]] = {}
    for key, value in vars(parser.parse_args(argv)).items():
        group, name = key.split(".", 1)
        groups.setdefault(group, {})[name] = value
    return tree.from_dict(groups)


def parse_args(argv: Sequence[str] | None = None) -> Hparams:
    hp = parse_tree(build_parser(), Hparams, argv)
    validate(hp)
    return hp


def main(argv: Sequence[str] | None = None, hooks: Sequence[TrainHook] = ()) -> int:
    """``main_imp.py``: parse, validate and train; ``hooks`` watch the training (tests, tools)."""
    from lottery.runner import run  # imported late: --help and bad flags need no torch start-up

    def body() -> None:
        run(parse_args(argv), hooks)
    try:
        return exit_status(body)
    finally:
        release_all()  # the run directory's training lock: in-process callers (tests, a notebook) may start again
