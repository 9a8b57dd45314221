"""Evaluate finished runs: for each run directory, level and suite, compute the cells not stored yet and store them.

Reads only what ``main_imp.py`` wrote (``hparams.json``, ``level_<k>/{weights.pt, mask.pt, metrics.json}``), plus
the dataset's test set and the suites' data; writes only ``robustness.json`` and its CSVs (and plots, when asked).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from tqdm import tqdm

import datasets
from lottery.run_dir import RunDir
from lottery.run import load_level_model
from robustness import SUITES
from robustness.store import Store, record
from robustness.units import Context, MissingData, Unit
from training.config import RuntimeConfig
from training.loop import Environment
from utils.device import resolve_device, resolve_precision
from utils.errors import UserError
from utils.io import load_json

# where the suites' data are looked for under --data-root unless given (README: Robustness evaluation)
C10C_DIR, CIFAR101_DIR, CIFAR102_DIR = "CIFAR-10-C", "CIFAR-10.1", "CIFAR-10.2"


@dataclass(frozen=True)
class Options:
    data_root: str = "data"
    c10c_root: str | None = None
    cifar101_root: str | None = None
    cifar102_root: str | None = None
    cifar102_all: bool = False
    device: str = "auto"
    eval_batch_size: int = 1000
    attack_batch_size: int = 500
    adv_images: int = 10_000
    cka_images: int = 10_000

    def root(self, given: str | None, default: str) -> Path:
        return Path(given) if given is not None else Path(self.data_root) / default


def run_data_root(path: str | Path) -> str:
    """The data folder a run trained with (``--data-root``, recorded in its ``job.json``), or ``Options``' default
    for a run written before job.json recorded it."""
    job = Path(path) / "job.json"
    return load_json(job).get("data_root", Options.data_root) if job.exists() else Options.data_root


def _levels(run: RunDir, asked: Sequence[int] | None, suites: Sequence[str]) -> list[int]:
    finished = run.finished_levels()
    if not finished:
        raise UserError(f"{run.root} has no finished level yet")
    levels = finished if asked is None else sorted(set(asked))
    absent = [k for k in levels if k not in finished]
    if absent:
        print(f"{run.root}: levels {absent} are not finished; evaluating {[k for k in levels if k in finished]}",
              file=sys.stderr)
        levels = [k for k in levels if k in finished]
    if "c10c" in suites and 0 not in levels:
        levels = [0, *levels]  # mCE is normalised by the same run's dense level 0
    return levels


def _units(ctx: Context, suites: Sequence[str]) -> list[Unit]:
    units = []
    for suite in ("clean", *(s for s in suites if s != "clean")):
        try:
            units += SUITES[suite](ctx)
        except MissingData as message:
            print(message, file=sys.stderr)
    return units


def cells(level: int, unit: Unit) -> list[tuple]:
    return [(level, unit.suite, name, severity, eps) for name, severity, eps in unit.cells]


def evaluate_run(path: str | Path, suites: Sequence[str], levels: Sequence[int] | None = None,
                 options: Options = Options()) -> Store:
    """Compute and store every cell of ``suites`` (and ``clean``) missing from ``path``'s robustness.json."""
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise UserError(f"unknown suite {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    run = RunDir.open(path)
    hp = run.hp
    device = resolve_device(options.device)
    env = Environment.resolve(RuntimeConfig.of(hp), device)
    data = datasets.load(hp.data.dataset, options.data_root, hp.data.image_size)
    levels = _levels(run, levels, suites)
    models: dict[int, torch.nn.Module] = {}  # the level under evaluation, and level 0 once CKA needs it

    def model(level: int) -> torch.nn.Module:
        if level not in models:
            for k in [k for k in models if k != 0]:
                del models[k]
            models[level] = load_level_model(hp, run, level, data, env)
        return models[level]

    ctx = Context(device, resolve_precision("auto", device), env.channels_last, options.eval_batch_size,
                  options.attack_batch_size, data.x_test, data.y_test, data.num_classes,
                  options.root(options.c10c_root, C10C_DIR), options.root(options.cifar101_root, CIFAR101_DIR),
                  options.root(options.cifar102_root, CIFAR102_DIR), options.cifar102_all, options.adv_images,
                  options.cka_images, reference=lambda: model(0))
    store = Store(run.root)
    units = _units(ctx, suites)
    todo = [(k, u) for k in levels for u in units if not store.done(cells(k, u), u.images)]
    skipped: set[str] = set()
    bar = tqdm(todo, desc=run.root.name, dynamic_ncols=True, disable=not todo)
    for level, unit in bar:
        if unit.suite in skipped:
            continue
        bar.set_postfix_str(f"level {level} {unit.suite} {unit.label}")
        density = load_json(run.level(level) / "metrics.json")["result"]["density"]
        try:
            values = unit.compute(model(level))
        except MissingData as message:
            print(message, file=sys.stderr)
            skipped.add(unit.suite)
            continue
        store.add([record(level, density, unit.suite, name, float(v), unit.images, severity, eps)
                   for (name, severity, eps), v in zip(unit.cells, values)])
    return store
