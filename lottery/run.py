"""A run's public API: set it up once (data, model, seed streams, its directory), then train it level by level.

    run = Run.open(hp, hooks)                  # checks everything that can be refused; writes nothing
    model = run.build_model(run.seeds.init)    # the initialisation, from its own seed stream
    run.claim()                                # creates (or checks) <out>/<run-id>/
    record = run.train_level(model, mask, level, start)   # one level: checkpoints, resume, its files
    records = run.finish()                     # results.json and results.csv; the table printed
    model = run.load_level_model(level)        # a finished level's network, for evaluation

The IMP loop and its baselines (``lottery/runner.py``) and ``--reinit`` (``lottery/reinit.py``) are built on it,
and so are the tools (``bench/bench.py``) and the tests, which watch or interrupt training through ``hooks``
(``training.hooks.TrainHook``) rather than by patching the trainer. Every training-level resumes from its last
checkpoint with the saved RNG state, reproducing the uninterrupted run exactly on the CPU (tested). On CUDA the
warm-up steps before graph capture draw random numbers too, so a resumed level continues with other augmentation
draws than the uninterrupted run would have: the same distribution, not the same bits.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

import datasets
import models
from datasets import ImageDataset
from lottery.hparams import HparamTree, Hparams
from lottery.run_dir import RunDir, check_writable, format_table
from lottery.small_dense import WidthMatch, match_width
from pruning import METHODS, Mask
from training.config import RuntimeConfig, TrainConfig
from training.hooks import TrainHook
from training.loop import Environment, LevelTrainer
from utils.device import resolve_device
from utils.errors import UserError
from utils.io import BackgroundSaver, load_torch, save_json, save_torch, to_host
from utils.seeding import derive_seed, rng_state, seed_all, set_rng_state

# What each derived random stream is for: derive_seed(seed, level, purpose) (``Seeds``). Changing any of these
# changes every run's results (and the pinned tests).
PRUNE_STREAM, TRAIN_STREAM, REINIT_STREAM = 1, 2, 3


@dataclass(frozen=True)
class Seeds:
    """A run's random streams, each derived from --seed so that none depends on what ran before it."""
    seed: int

    @property
    def init(self) -> int:
        """The initialisation."""
        return derive_seed(self.seed, 0)

    @property
    def reinit(self) -> int:
        """The fresh initialisation of --reinit."""
        return derive_seed(self.seed, 0, REINIT_STREAM)

    def prune(self, level: int) -> int:
        """The scoring of level ``level``'s mask (its batches, random scores)."""
        return derive_seed(self.seed, level, PRUNE_STREAM)

    def train(self, level: int) -> int:
        """Level ``level``'s data order and augmentation draws."""
        return derive_seed(self.seed, level, TRAIN_STREAM)


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
    """The freshly initialised model (from torch's global RNG: seed it first); ``width`` overrides ``--width``
    (the small dense baseline)."""
    m = hp.model
    model = models.build(m.arch, data.num_classes, in_channels=data.in_channels, width=width or m.width,
                         image_size=data.image_size, mean=data.mean, std=data.std, head=m.head,
                         tvmf_kappa=m.tvmf_kappa, head_scale=m.head_scale,
                         harmonic_basis=m.harmonic_basis).to(env.device)
    return model.to(memory_format=torch.channels_last) if env.channels_last else model


def load_level_model(hp: Hparams, run_dir: RunDir, level: int, data: ImageDataset, env: Environment) -> torch.nn.Module:
    """Level ``level``'s final network from its ``weights.pt`` and ``mask.pt`` (mask applied again), in eval mode
    (at the matched width for a small dense run, as the run built it)."""
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


def describe_mask(mask: Mask, level: int) -> None:
    """Print the realised global and per-layer density (metrics.json records them too), and warn about any
    layer left with no weight at all."""
    layers = ", ".join(f"{name.removesuffix('.weight')} {100 * d['density']:.1f}%"
                       for name, d in mask.per_layer().items())
    print(f"level {level}: mask keeps {100 * mask.density():.2f}% of prunable weights ({layers})")
    for name in mask.empty_layers():
        print(f"warning: level {level}: layer {name} is pruned to zero weights", file=sys.stderr)


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


@dataclass
class Run:
    """A run resolved and loaded: ``hp`` is the canonical form (it names the run), ``data`` the training subset
    (``indices`` into the dataset's training split), ``hooks`` what its levels call as they train,
    ``init_checkpoint`` the path of ``--init-checkpoint`` as given (the canonical form names the file by its
    content). ``open`` and ``claim`` serve pretrain_ssl.py too (``hp`` an ``SSLHparams``); the rest is IMP's."""
    hp: HparamTree
    env: Environment
    data: ImageDataset
    indices: np.ndarray
    dir: RunDir
    hooks: tuple[TrainHook, ...] = ()
    init_checkpoint: str = ""

    @classmethod
    def open(cls, hp: HparamTree, hooks: Sequence[TrainHook] = (), tile: int = 1) -> "Run":
        """Resolve the device, check the output folder, load the subset: everything that can be refused is
        checked here, before anything is written (``claim`` writes). ``tile`` repeats the training subset (the
        same images, more steps per epoch: for timing only, ``bench/bench.py``)."""
        checkpoint = hp.model.init_checkpoint if isinstance(hp, Hparams) else ""
        device = resolve_device(hp.job.device)
        check_writable(hp.job.out)
        run_dir = RunDir(hp)
        hp = run_dir.hp  # the canonical form, which names the run
        data, indices = load_subset(hp)
        # a Cutout square that covers the image from some centres blanks it (pretrain_ssl.py's pool has no Cutout)
        if isinstance(hp, Hparams) and hp.data.cutout >= data.image_size:
            raise UserError(f"--cutout {hp.data.cutout} must be smaller than the {data.image_size}-px input images "
                            f"(a square as large as the image blanks whole training images)")
        if tile > 1:
            data.x_train, data.y_train = data.x_train.repeat(tile, 1, 1, 1), data.y_train.repeat(tile)
        env = Environment.resolve(RuntimeConfig.of(hp), device, len(data.y_train))
        return cls(hp, env, data, indices, run_dir, tuple(hooks), checkpoint)

    @property
    def config(self) -> TrainConfig:
        """What the training loop reads of ``hp``."""
        return TrainConfig.from_hparams(self.hp)

    @property
    def seeds(self) -> Seeds:
        return Seeds(self.hp.training.seed)

    def small_dense(self) -> WidthMatch | None:
        """The matched width of --match-density (None without it)."""
        return match_width(self.hp, self.data) if self.hp.model.match_density else None

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

    def build_model(self, seed: int, width: int | None = None) -> torch.nn.Module:
        """A fresh model initialised from stream ``seed`` (``self.seeds.init`` or ``.reinit``)."""
        seed_all(seed)
        return build_model(self.hp, self.data, self.env, width)

    def load_level_model(self, level: int) -> torch.nn.Module:
        return load_level_model(self.hp, self.dir, level, self.data, self.env)

    def trainer(self, model: torch.nn.Module, mask: Mask) -> LevelTrainer:
        """The trainer of one level of this run (``model`` holds the level's masked starting state)."""
        return LevelTrainer(model, mask, self.data, self.config, self.env, self.hooks)

    def train_level(self, model: torch.nn.Module, mask: Mask, level: int, start: tuple[dict, int]) -> dict:
        """Train level ``level`` from ``start`` = (weights before masking, epoch of the schedule to begin at), or
        resume it from its checkpoint; write its files and return its result record."""
        hp, run_dir = self.hp, self.dir
        level_dir = run_dir.level(level)
        checkpoint_path = level_dir / "checkpoint.pt"
        state, start_epoch = start
        if mask.density() < 1:
            describe_mask(mask, level)
        model.load_state_dict(state)
        mask.apply_(model)  # the level starts from (rewind state x mask): the IMP invariant
        trainer = self.trainer(model, mask)
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
            seed_all(self.seeds.train(level))
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
            trained = trainer.train(level, start_epoch, history, on_epoch_end,
                                    desc=f"level {level} ({100 * density:.1f}%)")
        history = trained.history
        evaluated = [h["test_acc"] for h in history if h["test_acc"] is not None]
        record = {"level": level, "density": density, "test_acc": history[-1]["test_acc"],
                  "best_test_acc": max(evaluated), "train_acc": history[-1]["train_acc"],
                  "train_loss": history[-1]["train_loss"], "epochs": len(history),
                  "seconds": sum(h["seconds"] for h in history), **trained.test}
        save_torch(cpu_state(model), level_dir / "weights.pt")
        mask.save(level_dir / "mask.pt")
        save_json({"result": record, "layers": mask.per_layer(), "history": history,
                   "environment": self.env.describe()}, level_dir / "metrics.json")
        checkpoint_path.unlink(missing_ok=True)
        print(f"level {level:>2}: density {100 * density:6.2f}%  test {100 * record['test_acc']:.2f}%  "
              f"(best {100 * record['best_test_acc']:.2f}%)  balanced {100 * record['test_balanced_acc']:.2f}%  "
              f"train {100 * record['train_acc']:.2f}%  {record['seconds']:.1f}s")
        self.dir.write_results(self.data.headline)
        return record

    def finish(self) -> list[dict]:
        """Write results.json and results.csv from every finished level on disk, print the table, return it."""
        records = self.dir.write_results(self.data.headline)
        print(format_table(records, self.data.headline))
        return records
