"""The IMP loop: train dense, save the rewind state, then prune / rewind / retrain level by level; and ``run``,
which chooses between it and the --reinit branch (``lottery/reinit.py``). Both build on ``lottery.run.Run``.

The baselines take the same loop with another plan (``lottery.run.level_plan``): one-shot magnitude pruning (OMP)
is level 0 and one level at --target-density; pruning at initialisation (SNIP, GraSP, SynFlow, random ERK /
uniform) is a single level whose mask scores the initial weights; --match-density is a single dense level of a
narrower network.

Invariant (tested): level k > 0 starts from ``rewind state x mask_k`` (weights, BatchNorm statistics and
classifier all rewound; optimizer state fresh) at the rewind step of the learning-rate schedule, and mask_k
keeps round((1 - rate)^k * size) of the prunable weights. Finished levels are skipped; an interrupted level
resumes from its last checkpoint (``Run.train_level``).
"""
from __future__ import annotations

import time
from typing import Sequence

import torch

from datasets import ImageDataset
from lottery.hparams import Hparams
from lottery.reinit import run_reinit
from lottery.run import Run, cpu_state, level_plan
from models.pretrained import initialise
from pruning import METHODS, Mask, ScoreContext, prune
from training.batches import scoring_batches
from training.hooks import TrainHook
from utils.errors import UserError
from utils.io import load_torch, save_json


def next_mask(hp: Hparams, model: torch.nn.Module, previous: Mask, data: ImageDataset, level: int,
              density: float, seed: int) -> Mask:
    """Score ``model`` (level k-1's trained weights, or the initial ones for pruning at initialisation) by
    --prune-method and keep ``density`` of all prunable weights; ``seed`` is the level's pruning stream.

    Scores that need data get ``--score-batches`` batches of ``--batch-size`` images of the training subset,
    a fixed draw without augmentation (the scores are then the same whatever --augment says).
    """
    p = hp.pruning
    method = METHODS[p.prune_method]
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    batches = (scoring_batches(data.x_train, data.y_train, p.score_batches, hp.training.batch_size, generator,
                               device) if method.needs_data else [])
    ctx = ScoreContext(generator, density, batches, tuple(data.x_train.shape[1:]))
    return prune(method.scorer, model, previous, density, p.prune_scope, ctx,
                 p.synflow_rounds if method.iterative else 1)


def level_mask(run: Run, model: torch.nn.Module, previous: Mask, level: int, density: float,
               init_state: dict) -> Mask:
    """A sparse level's mask: the saved one, or scored now and saved. IMP and OMP score level k-1's trained
    weights, pruning at initialisation the initial ones."""
    run_dir = run.dir
    path = run_dir.level(level) / "mask.pt"
    if path.exists():
        return Mask.load(path, remedy=run_dir.redo_hint(level))
    model.load_state_dict(init_state if level == 0 else load_torch(run_dir.level(level - 1) / "weights.pt",
                                                                   remedy=run_dir.redo_hint(level - 1)))
    started = time.perf_counter()
    mask = next_mask(run.hp, model, previous, run.data, level, density, run.seeds.prune(level))
    print(f"level {level}: {run.hp.pruning.prune_method} mask in {time.perf_counter() - started:.1f}s")
    mask.save(path)
    return mask


def level_start(run: Run, level: int, init_state: dict) -> tuple[dict, int]:
    """Starting weights (before masking) and epoch of ``level``."""
    hp, run_dir = run.hp, run.dir
    if level == 0:
        return init_state, 0
    if hp.rewind_epoch is None:  # 'trained': continue from the previous level, schedule from its start
        return load_torch(run_dir.level(level - 1) / "weights.pt", remedy=run_dir.redo_hint(level - 1)), 0
    return load_torch(run_dir.level(0) / "rewind.pt", remedy=run_dir.redo_hint(0)), hp.rewind_epoch


def run_imp(run: Run) -> list[dict]:
    """Train every level of ``level_plan`` not finished yet; the results of all finished levels."""
    hp, run_dir = run.hp, run.dir
    small_dense = run.small_dense()
    model = run.build_model(run.seeds.init, small_dense.width if small_dense else None)
    # before the run directory is claimed: a checkpoint that matches nothing leaves nothing behind
    init_report = initialise(model, hp.model.init, run.init_checkpoint, hp.model.arch)
    run.claim()
    if small_dense is not None:
        small_dense.record(run_dir.root / "small_dense.json")
    if init_report is not None:
        print(init_report.summary())
        save_json(init_report.to_dict(), run_dir.root / "init.json")
    init_state = cpu_state(model)  # level 0 starts here; epoch:N rewinds to these weights trained N epochs
    mask = Mask.dense(model)
    for level, density in level_plan(hp):
        if density < 1:
            mask = level_mask(run, model, mask, level, density, init_state)
        if run_dir.finished_record(level) is None:
            later = [k for k in run_dir.level_folders() if k > level]
            if later:
                raise UserError(f"{run_dir.level(later[0])} exists but level {level}, which it is computed from, "
                                f"is not finished; {run_dir.redo_hint(level)}")
            run.train_level(model, mask, level, level_start(run, level, init_state))
    return run.finish()


def run(hp: Hparams, hooks: Sequence[TrainHook] = ()) -> list[dict]:
    """Train the run ``hp`` describes (the IMP loop, or the --reinit branch); the results of its finished levels."""
    if hp.pruning.reinit:
        return run_reinit(hp, hooks)
    return run_imp(Run.open(hp, hooks))
