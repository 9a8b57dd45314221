"""The IMP loop: train dense, save the rewind state, then prune / rewind / retrain level by level.

The baselines take the same loop with another plan (``level_plan``): one-shot magnitude pruning (OMP) is level 0
and one level at --target-density; pruning at initialisation (SNIP, GraSP, SynFlow, random ERK / uniform) is a
single level whose mask scores the initial weights; --match-density is a single dense level of a narrower
network. --reinit (``lottery/reinit.py``) retrains a finished run's masks from a fresh initialisation.

Invariant (tested): level k > 0 starts from ``rewind state x mask_k`` (weights, BatchNorm statistics and
classifier all rewound; optimizer state fresh) at the rewind step of the learning-rate schedule, and mask_k
keeps round((1 - rate)^k * size) of the prunable weights. Finished levels are skipped; an interrupted level
resumes from its last checkpoint with the saved RNG state, reproducing the uninterrupted run exactly on the CPU
(tested). On CUDA the warm-up steps before graph capture draw random numbers too, so a resumed level continues
with other augmentation draws than the uninterrupted run would have: the same distribution, not the same bits.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

import datasets
import models
from datasets import ImageDataset
from lottery.hparams import HparamTree, Hparams
from lottery.run_dir import RunDir, check_writable, format_table
from lottery.small_dense import match_width
from models.pretrained import initialise
from pruning import METHODS, Mask, ScoreContext, prune
from training.batches import scoring_batches
from training.loop import Environment, LevelTrainer
from utils.device import resolve_device
from utils.errors import UserError
from utils.io import BackgroundSaver, load_torch, save_json, save_torch, to_host
from utils.seeding import derive_seed, rng_state, seed_all, set_rng_state


# What each derived random stream is for: derive_seed(seed, level, purpose). The initialisation uses
# derive_seed(seed, 0), the fresh one of --reinit derive_seed(seed, 0, REINIT_STREAM). Changing any of these
# changes every run's results (and the pinned tests).
PRUNE_STREAM, TRAIN_STREAM, REINIT_STREAM = 1, 2, 3


def load_subset(hp: HparamTree) -> tuple[ImageDataset, np.ndarray]:
    """The dataset restricted to the class-balanced (or long-tailed) subset this run trains on: ``hp.data`` is a
    ``SubsetHparams`` (main_imp.py's ``DataHparams``, or pretrain_ssl.py's pool), ``hp.job`` has ``data_root``."""
    d = hp.data
    long_tail, imbalance = d.long_tail_profile()
    full = datasets.load(d.dataset, hp.job.data_root, d.image_size)
    if d.test_cap():
        full = full.first_test_images(d.test_cap())
    labels = full.y_train.numpy()
    if d.per_class == 0 and d.data_fraction == 1.0 and long_tail == "none":
        # the whole training set, as it comes: the same indices a balanced draw of everything gives, and the
        # only choice for a set whose classes differ in size (ISIC's, CLaMM's)
        indices = np.arange(len(labels))
        return full.subset(indices), indices
    n_max = datasets.per_class_count(labels, full.num_classes, d.data_fraction, d.per_class)
    counts = datasets.class_counts(n_max, full.num_classes, long_tail, imbalance)
    indices = datasets.draw_indices(labels, counts, d.data_seed)
    return full.subset(indices), indices


def build_model(hp: Hparams, data: ImageDataset, env: Environment, width: int | None = None) -> torch.nn.Module:
    """The freshly initialised model (``run`` then loads ``--init``/``--init-checkpoint`` weights over it);
    ``width`` overrides ``--width`` (the small dense baseline)."""
    m = hp.model
    model = models.build(m.arch, data.num_classes, in_channels=data.in_channels, width=width or m.width,
                         image_size=data.image_size, mean=data.mean, std=data.std, head=m.head,
                         tvmf_kappa=m.tvmf_kappa, head_scale=m.head_scale,
                         harmonic_basis=m.harmonic_basis).to(env.device)
    return model.to(memory_format=torch.channels_last) if env.channels_last else model


def load_level_model(hp: Hparams, run_dir: RunDir, level: int, data: ImageDataset, env: Environment) -> torch.nn.Module:
    """Level ``level``'s final network from its ``weights.pt`` and ``mask.pt`` (mask applied again), in eval mode
    (at the matched width for a small dense run, as ``run`` built it)."""
    model = build_model(hp, data, env, match_width(hp, data).width if hp.model.match_density else None)
    hint = run_dir.redo_hint(level)
    model.load_state_dict(load_torch(run_dir.level(level) / "weights.pt", map_location=env.device, remedy=hint))
    Mask.load(run_dir.level(level) / "mask.pt", remedy=hint).apply_(model)
    return model.eval()


def cpu_state(model: torch.nn.Module) -> dict:
    return to_host(model.state_dict())


def level_plan(hp: Hparams) -> list[tuple[int, float]]:
    """(level, target density) of every level the run trains; density 1 is the dense level 0."""
    when = METHODS[hp.pruning.prune_method].when
    if hp.model.match_density:  # the small dense baseline: one dense level
        return [(0, 1.0)]
    if when == "init":  # pruning at initialisation: one sparse level, trained from the start
        return [(0, hp.pruning.target_density)]
    if when == "trained":  # one-shot pruning of the trained dense level 0, then one sparse level
        return [(0, 1.0), (1, hp.pruning.target_density)]
    return [(k, (1 - hp.pruning.prune_rate) ** k) for k in range(hp.job.rounds)]


def next_mask(hp: Hparams, model: torch.nn.Module, previous: Mask, data: ImageDataset, level: int,
              density: float) -> Mask:
    """Score ``model`` (level k-1's trained weights, or the initial ones for pruning at initialisation) by
    --prune-method and keep ``density`` of all prunable weights.

    Scores that need data get ``--score-batches`` batches of ``--batch-size`` images of the training subset,
    a fixed draw without augmentation (the scores are then the same whatever --augment says).
    """
    p = hp.pruning
    method = METHODS[p.prune_method]
    generator = torch.Generator().manual_seed(derive_seed(hp.training.seed, level, PRUNE_STREAM))
    device = next(model.parameters()).device
    batches = (scoring_batches(data.x_train, data.y_train, p.score_batches, hp.training.batch_size, generator,
                               device) if method.needs_data else [])
    ctx = ScoreContext(generator, density, batches, tuple(data.x_train.shape[1:]))
    return prune(method.scorer, model, previous, density, p.prune_scope, ctx,
                 p.synflow_rounds if method.iterative else 1)


def describe_mask(mask: Mask, level: int) -> None:
    """Print the realised global and per-layer density (metrics.json records them too), and warn about any
    layer left with no weight at all."""
    layers = ", ".join(f"{name.removesuffix('.weight')} {100 * d['density']:.1f}%"
                       for name, d in mask.per_layer().items())
    print(f"level {level}: mask keeps {100 * mask.density():.2f}% of prunable weights ({layers})")
    for name in mask.empty_layers():
        print(f"warning: level {level}: layer {name} is pruned to zero weights", file=sys.stderr)


@dataclass
class OpenedRun:
    """A run resolved and loaded, its directory not yet claimed: ``hp`` is the canonical form (it names the run)."""
    hp: Hparams
    env: Environment
    data: ImageDataset
    indices: np.ndarray
    dir: RunDir

    def claim(self) -> None:
        """Create (or check) the run directory, record this start, and say what runs where."""
        hp, env, run_dir = self.hp, self.env, self.dir
        run_dir.claim()
        run_dir.record_job()
        run_dir.claim_indices(self.indices)
        print(f"run {hp.run_id()} -> {run_dir.root}  ({len(self.indices)} training images, "
              f"{self.data.num_classes} classes, {env.device}, {env.precision}, data on {env.data_path}, "
              f"compile {env.compile})")
        earlier = run_dir.recorded_precisions() - {env.precision}
        if earlier:
            print(f"warning: earlier levels of this run trained in {', '.join(sorted(earlier))}; the next ones "
                  f"train in {env.precision} (--precision {hp.training.precision} on {env.device})", file=sys.stderr)


def open_run(hp: HparamTree) -> OpenedRun:
    """Resolve the device, check the output folder, load the subset: everything that can be refused is checked
    here, before anything is written (``OpenedRun.claim`` writes). Also pretrain_ssl.py's (``hp`` an
    ``SSLHparams``: a pool, a device, an output folder, a precision and a compile mode, as here)."""
    device = resolve_device(hp.job.device)
    check_writable(hp.job.out)
    run_dir = RunDir(hp)
    hp = run_dir.hp  # the canonical form, which names the run
    data, indices = load_subset(hp)
    # a Cutout square that covers the image from some centres blanks it (pretrain_ssl.py's pool has no Cutout)
    if isinstance(hp, Hparams) and hp.data.cutout >= data.image_size:
        raise UserError(f"--cutout {hp.data.cutout} must be smaller than the {data.image_size}-px input images "
                        f"(a square as large as the image blanks whole training images)")
    env = Environment.resolve(hp, device, len(indices))
    return OpenedRun(hp, env, data, indices, run_dir)


def level_mask(hp: Hparams, run_dir: RunDir, model: torch.nn.Module, previous: Mask, data: ImageDataset,
               level: int, density: float, init_state: dict) -> Mask:
    """A sparse level's mask: the saved one, or scored now and saved. IMP and OMP score level k-1's trained
    weights, pruning at initialisation the initial ones."""
    path = run_dir.level(level) / "mask.pt"
    if path.exists():
        return Mask.load(path, remedy=run_dir.redo_hint(level))
    model.load_state_dict(init_state if level == 0 else load_torch(run_dir.level(level - 1) / "weights.pt",
                                                                   remedy=run_dir.redo_hint(level - 1)))
    started = time.perf_counter()
    mask = next_mask(hp, model, previous, data, level, density)
    print(f"level {level}: {hp.pruning.prune_method} mask in {time.perf_counter() - started:.1f}s")
    mask.save(path)
    return mask


def run(hp: Hparams) -> list[dict]:
    if hp.pruning.reinit:
        from lottery.reinit import run_reinit  # a branch of a finished run: lottery/reinit.py
        return run_reinit(hp)
    checkpoint = hp.model.init_checkpoint  # the path: the canonical form names the file by its content
    opened = open_run(hp)
    hp, env, data, run_dir = opened.hp, opened.env, opened.data, opened.dir
    small_dense = match_width(hp, data) if hp.model.match_density else None
    seed_all(derive_seed(hp.training.seed, 0))
    model = build_model(hp, data, env, small_dense.width if small_dense else None)
    # before the run directory is claimed: a checkpoint that matches nothing leaves nothing behind
    init_report = initialise(model, hp.model.init, checkpoint, hp.model.arch)
    opened.claim()
    if small_dense is not None:
        small_dense.record(run_dir.root / "small_dense.json")
    if init_report is not None:
        print(init_report.summary())
        save_json(init_report.to_dict(), run_dir.root / "init.json")
    init_state = cpu_state(model)  # level 0 starts here; epoch:N rewinds to these weights trained N epochs
    mask = Mask.dense(model)
    for level, density in level_plan(hp):
        if density < 1:
            mask = level_mask(hp, run_dir, model, mask, data, level, density, init_state)
        if run_dir.finished_record(level) is None:
            later = [k for k in run_dir.level_folders() if k > level]
            if later:
                raise UserError(f"{run_dir.level(later[0])} exists but level {level}, which it is computed from, "
                                f"is not finished; {run_dir.redo_hint(level)}")
            train_level(hp, env, run_dir, model, mask, data, level, _start(hp, run_dir, level, init_state))
            run_dir.write_results(data.headline)
    records = run_dir.write_results(data.headline)
    print(format_table(records, data.headline))
    return records


def _start(hp: Hparams, run_dir: RunDir, level: int, init_state: dict) -> tuple[dict, int]:
    """Starting weights (before masking) and epoch of ``level``."""
    if level == 0:
        return init_state, 0
    if hp.rewind_epoch is None:  # 'trained': continue from the previous level, schedule from its start
        return load_torch(run_dir.level(level - 1) / "weights.pt", remedy=run_dir.redo_hint(level - 1)), 0
    return load_torch(run_dir.level(0) / "rewind.pt", remedy=run_dir.redo_hint(0)), hp.rewind_epoch


class CheckpointClock:
    """Says after which epochs a level writes its resumable checkpoint: the first epoch to end at least
    ``minutes`` after the level (re)started or after the previous checkpoint.

    Wall time rather than epochs, because an epoch lasts anything from 20 ms (1% of CIFAR-10 on a GPU, where a
    level is over in seconds and every checkpoint would be 85 MiB written for nothing) to minutes (a CPU), and
    what a user wants bounded is the training a crash can lose.
    """

    def __init__(self, minutes: float, clock: Callable[[], float] = time.monotonic):
        self.interval, self.clock = 60 * minutes, clock
        self.last = clock()

    def due(self) -> bool:
        now = self.clock()
        if now - self.last < self.interval:
            return False
        self.last = now
        return True


def train_level(hp: Hparams, env: Environment, run_dir: RunDir, model: torch.nn.Module, mask: Mask,
                data: ImageDataset, level: int, start: tuple[dict, int]) -> dict:
    """Train one level from ``start`` = (weights before masking, epoch of the schedule to begin at)."""
    level_dir = run_dir.level(level)
    checkpoint_path = level_dir / "checkpoint.pt"
    state, start_epoch = start
    if mask.density() < 1:
        describe_mask(mask, level)
    model.load_state_dict(state)
    mask.apply_(model)  # the level starts from (rewind state x mask): the IMP invariant
    trainer = LevelTrainer(model, mask, data, hp, env)
    history: list[dict] = []
    rewind_path = level_dir / "rewind.pt"
    saved = None
    if checkpoint_path.exists():
        saved = load_torch(checkpoint_path, remedy=f"delete it to retrain level {level} from its start")
        rewind_due = level == 0 and hp.rewind_epoch is not None and saved["epoch"] >= hp.rewind_epoch
        if rewind_due and not rewind_path.exists():
            # rewind.pt was deleted after it was written: only level 0's first epochs can write it again
            print(f"level 0: {rewind_path} is missing; training level 0 from its start to write it again")
            saved = None
    if saved is not None:
        trainer.load_state_dict(saved["trainer"])
        set_rng_state(saved["rng"])
        start_epoch, history = saved["epoch"], saved["history"]
        print(f"level {level}: resuming after epoch {start_epoch} from {checkpoint_path}")
    else:
        seed_all(derive_seed(hp.training.seed, level, TRAIN_STREAM))
    if level == 0 and hp.rewind_epoch == 0 and not rewind_path.exists():
        save_torch(cpu_state(model), rewind_path)

    saver = BackgroundSaver()  # checkpoints are written while the next epochs train
    clock = CheckpointClock(hp.job.checkpoint_minutes)

    def on_epoch_end(epoch: int, history: list[dict]) -> None:
        if level == 0 and epoch == hp.rewind_epoch:
            save_torch(cpu_state(model), rewind_path)
        if epoch < hp.training.epochs and clock.due():
            saver.save({"trainer": trainer.state_dict(), "rng": rng_state(), "epoch": epoch,
                        "history": list(history)}, checkpoint_path)

    density = mask.density()
    with saver:
        trainer.train(level, start_epoch, history, on_epoch_end, desc=f"level {level} ({100 * density:.1f}%)")
    evaluated = [h["test_acc"] for h in history if h["test_acc"] is not None]
    record = {"level": level, "density": density, "test_acc": history[-1]["test_acc"],
              "best_test_acc": max(evaluated), "train_acc": history[-1]["train_acc"],
              "train_loss": history[-1]["train_loss"], "epochs": len(history),
              "seconds": sum(h["seconds"] for h in history), **trainer.last_test}
    save_torch(cpu_state(model), level_dir / "weights.pt")
    mask.save(level_dir / "mask.pt")
    save_json({"result": record, "layers": mask.per_layer(), "history": history, "environment": env.describe()},
              level_dir / "metrics.json")
    checkpoint_path.unlink(missing_ok=True)
    print(f"level {level:>2}: density {100 * density:6.2f}%  test {100 * record['test_acc']:.2f}%  "
          f"(best {100 * record['best_test_acc']:.2f}%)  balanced {100 * record['test_balanced_acc']:.2f}%  "
          f"train {100 * record['train_acc']:.2f}%  {record['seconds']:.1f}s")
    return record
