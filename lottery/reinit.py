"""--reinit: a finished run's masks trained from a fresh random initialisation, the classic ticket control.

The branch is its own run (the trunk's flags plus --reinit, so its own id and directory under --out) and never
retrains the trunk: it reads the trunk's ``level_<k>/mask.pt`` for every sparse level the trunk has finished
(up to --rounds) and trains each from one new initialisation, drawn from its own seed stream, from epoch 0 of the
schedule. Everything else matches the trunk's level k (subset, data order, augmentation draws), so a level
differs from the ticket only in its initial weights. ``trunk.json`` names the trunk's run id and directory.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Sequence

from lottery.hparams import Hparams
from lottery.run import Run, cpu_state, level_plan
from lottery.run_dir import RunDir
from pruning import Mask
from training.hooks import TrainHook
from utils.errors import UserError
from utils.io import save_json


def trunk_of(hp: Hparams) -> Hparams:
    return dataclasses.replace(hp, pruning=dataclasses.replace(hp.pruning, reinit=False))


def trunk_levels(trunk: RunDir) -> list[int]:
    """The trunk's finished sparse levels; an error when it has none, a warning for the ones still missing."""
    wanted = [level for level, density in level_plan(trunk.hp) if density < 1]
    done = [level for level in wanted if trunk.finished_record(level) is not None]
    if not done:
        raise UserError(f"--reinit needs a finished run to branch from: {trunk.root} has no finished sparse level; "
                        f"run the same command without --reinit first")
    missing = sorted(set(wanted) - set(done))
    if missing:
        print(f"warning: trunk {trunk.root} has not finished levels {missing}; --reinit trains levels {done}",
              file=sys.stderr)
    return done


def run_reinit(hp: Hparams, hooks: Sequence[TrainHook] = ()) -> list[dict]:
    """Train the trunk's finished masks from the fresh initialisation; the results of the branch's levels."""
    trunk = RunDir(trunk_of(hp))
    trunk.adopt_earlier()  # a trunk written under an earlier id of its flags
    levels = trunk_levels(trunk)  # checked before anything of the branch is written
    run = Run.open(hp, hooks)
    run.claim()
    save_json({"trunk_run_id": trunk.hp.run_id(), "trunk_dir": str(trunk.root)}, run.dir.root / "trunk.json")
    model = run.build_model(run.seeds.reinit)
    init_state = cpu_state(model)
    for level in levels:
        mask = Mask.load(trunk.level(level) / "mask.pt", remedy=trunk.redo_hint(level))
        if run.dir.finished_record(level) is None:
            run.train_level(model, mask, level, (init_state, 0))
    return run.finish()
