"""The IMP loop: train dense, save the rewind state, then prune / rewind / retrain level by level.

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
from typing import Callable

import numpy as np
import torch

import datasets
import models
from datasets import ImageDataset
from lottery.hparams import Hparams
from lottery.run_dir import RunDir, format_table
from pruning import SCORERS, Mask, mask_from_scores
from training.loop import Environment, LevelTrainer
from utils.device import resolve_device
from utils.io import BackgroundSaver, load_torch, save_json, save_torch, to_host
from utils.seeding import derive_seed, rng_state, seed_all, set_rng_state


# What each derived random stream is for: derive_seed(seed, level, purpose). The initialisation uses
# derive_seed(seed, 0). Changing any of these changes every run's results (and the pinned tests).
PRUNE_STREAM, TRAIN_STREAM = 1, 2


def load_subset(hp: Hparams) -> tuple[ImageDataset, np.ndarray]:
    """The dataset restricted to the class-balanced (or long-tailed) subset this run trains on."""
    d = hp.data
    full = datasets.load(d.dataset, hp.job.data_root, d.image_size)
    labels = full.y_train.numpy()
    if d.per_class == 0 and d.data_fraction == 1.0 and d.long_tail == "none":
        # the whole training set, as it comes: the same indices a balanced draw of everything gives, and the
        # only choice for a set whose classes differ in size (ISIC's, CLaMM's)
        indices = np.arange(len(labels))
        return full.subset(indices), indices
    n_max = datasets.per_class_count(labels, full.num_classes, d.data_fraction, d.per_class)
    counts = datasets.class_counts(n_max, full.num_classes, d.long_tail, d.imbalance)
    indices = datasets.draw_indices(labels, counts, d.data_seed)
    return full.subset(indices), indices


def build_model(hp: Hparams, data: ImageDataset, env: Environment) -> torch.nn.Module:
    model = models.build(hp.model.arch, data.num_classes, in_channels=data.in_channels, width=hp.model.width,
                         image_size=data.image_size, mean=data.mean, std=data.std).to(env.device)
    return model.to(memory_format=torch.channels_last) if env.channels_last else model


def cpu_state(model: torch.nn.Module) -> dict:
    return to_host(model.state_dict())


def next_mask(hp: Hparams, model: torch.nn.Module, previous: Mask, level: int) -> Mask:
    """Score the trained weights of level-1 and keep (1 - rate)^level of all prunable weights."""
    generator = torch.Generator().manual_seed(derive_seed(hp.training.seed, level, PRUNE_STREAM))
    scores = SCORERS[hp.pruning.prune_method](model, previous, generator)
    density = (1 - hp.pruning.prune_rate) ** level
    return mask_from_scores(scores, density, hp.pruning.prune_scope, previous)


def run(hp: Hparams) -> list[dict]:
    device = resolve_device(hp.job.device)
    env = Environment.resolve(hp, device)
    data, indices = load_subset(hp)
    run_dir = RunDir(hp)
    run_dir.claim()
    run_dir.claim_indices(indices)
    print(f"run {hp.run_id()} -> {run_dir.root}  ({len(indices)} training images, {data.num_classes} classes, "
          f"{device}, {env.precision}, data on {env.data_path})")
    earlier = run_dir.recorded_precisions() - {env.precision}
    if earlier:
        print(f"warning: earlier levels of this run trained in {', '.join(sorted(earlier))}; the next ones train in "
              f"{env.precision} (--precision {hp.training.precision} on {device})", file=sys.stderr)

    seed_all(derive_seed(hp.training.seed, 0))
    model = build_model(hp, data, env)
    init_state = cpu_state(model)
    records: list[dict] = []
    mask = Mask.dense(model)
    for level in range(hp.job.rounds):
        level_dir = run_dir.level(level)
        if level > 0:
            mask_path = level_dir / "mask.pt"
            if mask_path.exists():
                mask = Mask.load(mask_path)
            else:
                model.load_state_dict(load_torch(run_dir.level(level - 1) / "weights.pt"))
                mask = next_mask(hp, model, mask, level)
                mask.save(mask_path)
        record = run_dir.finished_record(level)
        if record is None:
            record = train_level(hp, env, run_dir, model, mask, data, level, init_state)
        records.append(record)
        run_dir.write_results(records, data.headline)
    print(format_table(records, data.headline))
    return records


def _start(hp: Hparams, run_dir: RunDir, level: int, init_state: dict) -> tuple[dict, int]:
    """Starting weights (before masking) and epoch of ``level``."""
    if level == 0:
        return init_state, 0
    if hp.rewind_epoch is None:  # 'trained': continue from the previous level, schedule from its start
        return load_torch(run_dir.level(level - 1) / "weights.pt"), 0
    return load_torch(run_dir.level(0) / "rewind.pt"), hp.rewind_epoch


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
                data: ImageDataset, level: int, init_state: dict) -> dict:
    level_dir = run_dir.level(level)
    checkpoint_path = level_dir / "checkpoint.pt"
    state, start_epoch = _start(hp, run_dir, level, init_state)
    model.load_state_dict(state)
    mask.apply_(model)  # the level starts from (rewind state x mask): the IMP invariant
    trainer = LevelTrainer(model, mask, data, hp, env)
    history: list[dict] = []
    if checkpoint_path.exists():
        saved = load_torch(checkpoint_path)
        trainer.load_state_dict(saved["trainer"])
        set_rng_state(saved["rng"])
        start_epoch, history = saved["epoch"], saved["history"]
        print(f"level {level}: resuming after epoch {start_epoch} from {checkpoint_path}")
    else:
        seed_all(derive_seed(hp.training.seed, level, TRAIN_STREAM))
    if level == 0 and hp.rewind_epoch == 0 and not (level_dir / "rewind.pt").exists():
        save_torch(cpu_state(model), level_dir / "rewind.pt")

    saver = BackgroundSaver()  # checkpoints are written while the next epochs train
    clock = CheckpointClock(hp.job.checkpoint_minutes)

    def on_epoch_end(epoch: int, history: list[dict]) -> None:
        if level == 0 and epoch == hp.rewind_epoch:
            save_torch(cpu_state(model), level_dir / "rewind.pt")
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
    for name in mask.empty_layers():
        print(f"warning: level {level}: layer {name} is pruned to zero weights", file=sys.stderr)
    save_torch(cpu_state(model), level_dir / "weights.pt")
    mask.save(level_dir / "mask.pt")
    save_json({"result": record, "layers": mask.per_layer(), "history": history, "environment": env.describe()},
              level_dir / "metrics.json")
    checkpoint_path.unlink(missing_ok=True)
    print(f"level {level:>2}: density {100 * density:6.2f}%  test {100 * record['test_acc']:.2f}%  "
          f"(best {100 * record['best_test_acc']:.2f}%)  balanced {100 * record['test_balanced_acc']:.2f}%  "
          f"train {100 * record['train_acc']:.2f}%  {record['seconds']:.1f}s")
    return record
