"""A SimCLR pretraining run: ``<out>/<run-id>/`` as main_imp.py's runs are claimed (``hparams.json``,
``job.json``, ``subset_indices.npy``: the pool), trained epoch by epoch with resumable checkpoints
(``checkpoint.pt``, due by wall time, written in the background, with the RNG state, so a resumed CPU run is the
uninterrupted one bit for bit), and finished by ``backbone.pt`` (what ``main_imp.py --init-checkpoint`` loads)
and then ``metrics.json`` (written last: the run is finished exactly when it exists).

``backbone.pt`` is ``{"state_dict": backbone tensors, "projection_head": head tensors, "run_id", "hparams"}``:
``--init-checkpoint`` reads ``state_dict``, the architecture's network without its classifier, so every tensor
but ``fc.*`` loads and the projection head never does.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from datasets import ImageDataset
from lottery.run import CheckpointClock, Run, Seeds, cpu_state
from lottery.run_dir import RunDir
from selfsup.hparams import SSLHparams
from selfsup.knn import knn_accuracy
from selfsup.model import Contrastive, build
from selfsup.step import ContrastiveStep
from selfsup.views import simclr_views
from training.batches import DeviceBatches, HostBatches, steps_per_chunk, steps_per_epoch
from training.loop import Environment, compile_augmentation
from training.schedule import lr_at
from training.sgd import SGD
from training.step import GraphedStep, GraphedTransform
from utils.errors import UserError
from utils.io import BackgroundSaver, load_json, load_torch, save_json, save_torch
from utils.seeding import rng_state, seed_all, set_rng_state

BACKBONE, METRICS, CHECKPOINT = "backbone.pt", "metrics.json", "checkpoint.pt"


def backbone_path(hp: SSLHparams) -> Path:
    """Where the run of ``hp`` writes its backbone checkpoint (nothing is computed or written)."""
    return (RunDir(hp).root / BACKBONE).absolute()


class Pretrainer:
    """Optimizer, batches, views and step of one pretraining run; ``model`` holds its starting weights."""

    def __init__(self, model: Contrastive, data: ImageDataset, hp: SSLHparams, env: Environment):
        self.model, self.data, self.hp, self.env = model, data, hp, env
        t = hp.training
        self.optimizer = SGD(model.parameters(), t.momentum, t.weight_decay)
        unlabelled = torch.zeros(len(data.x_train), dtype=torch.long)  # the step never sees a label
        if env.data_path == "gpu":
            self.batches = DeviceBatches(data.x_train, unlabelled, env.device)
        else:
            self.batches = HostBatches(data.x_train, unlabelled, env.device, hp.job.workers)
        self.steps_per_epoch = steps_per_epoch(len(self.batches), t.batch_size)
        self.total_steps = t.epochs * self.steps_per_epoch
        # two views of every image of a chunk are augmented at once
        self.chunk_steps = steps_per_chunk(self.steps_per_epoch, t.batch_size, 2 * data.x_train[0].numel())
        self.use_graphs = env.compile != "off" and env.device.type == "cuda"
        trained = torch.compile(model) if env.compile == "full" else model
        self.step = ContrastiveStep(trained, self.optimizer, t.temperature, env.device, env.precision,
                                    env.channels_last)
        views = simclr_views(data).to(env.device)
        self.views = compile_augmentation(views) if env.compile == "full" else views
        if self.use_graphs:
            self.views = GraphedTransform(self.views)
        self._graphed: GraphedStep | None = None
        self.x_test = data.x_test.to(env.device if env.data_path == "gpu" else torch.device("cpu"))

    def step_fn(self, first: torch.Tensor, second: torch.Tensor):
        if not self.use_graphs:
            return self.step
        if self._graphed is None:
            self._graphed = GraphedStep(self.step, first, second)
        return self._graphed

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])

    def run_epoch(self, epoch: int) -> dict:
        """Train one epoch (global steps from ``epoch * steps_per_epoch``); one host read, at the end."""
        t = self.hp.training
        global_step = epoch * self.steps_per_epoch
        for x_chunk, _ in self.batches.epoch(t.batch_size, self.chunk_steps):
            first, second = self.views(x_chunk)
            for a, b in zip(first.split(t.batch_size), second.split(t.batch_size)):
                self.optimizer.set_lr(lr_at(global_step, self.total_steps, t.lr, t.schedule))
                self.step_fn(a, b)(a, b)
                global_step += 1
        metrics = self.step.metric_tensors()
        loss_sum, hits = torch.stack([m.double() for m in metrics]).tolist()
        for m in metrics:
            m.zero_()
        return {"epoch": epoch + 1, "train_loss": loss_sum / self.steps_per_epoch,
                "positive_top1": hits / (self.steps_per_epoch * 2 * t.batch_size), "knn_acc": None}

    def knn(self) -> float:
        j, env = self.hp.job, self.env
        return knn_accuracy(self.model.backbone, self.batches.x, self.data.y_train, self.x_test, self.data.y_test,
                            self.data.num_classes, j.knn_k, j.knn_temperature, env.device, env.precision,
                            env.channels_last)


def _finished(root: Path) -> dict | None:
    if not (root / METRICS).exists():
        return None
    (root / CHECKPOINT).unlink(missing_ok=True)  # a kill between metrics.json and the checkpoint's removal
    if not (root / BACKBONE).exists():
        raise UserError(f"{root / BACKBONE} is missing; remove {root / METRICS} to pretrain again")
    return load_json(root / METRICS, remedy=f"remove {root} to pretrain again")["result"]


def pretrain(hp: SSLHparams) -> dict:
    """Train (or resume, or find finished) the run of ``hp``; returns its result record."""
    opened = Run.open(hp)
    hp, env, data, run_dir = opened.hp, opened.env, opened.data, opened.dir
    seeds = Seeds(hp.training.seed)
    if hp.training.batch_size > len(opened.indices):
        raise UserError(f"--batch-size {hp.training.batch_size} exceeds the pool's {len(opened.indices)} images "
                        f"(a batch would hold an image twice, its own negative)")
    opened.claim()
    done = _finished(run_dir.root)
    if done is not None:
        print(f"finished already: {run_dir.root / BACKBONE} (kNN accuracy {100 * done['knn_acc']:.2f}%)")
        return done
    seed_all(seeds.init)
    model = build(hp.model, data).to(env.device)
    if env.channels_last:
        model = model.to(memory_format=torch.channels_last)
    trainer = Pretrainer(model, data, hp, env)
    checkpoint = run_dir.root / CHECKPOINT
    history: list[dict] = []
    start = 0
    if checkpoint.exists():
        saved = load_torch(checkpoint, remedy="delete it to pretrain from the start")
        trainer.load_state_dict(saved["trainer"])
        set_rng_state(saved["rng"])
        start, history = saved["epoch"], saved["history"]
        print(f"resuming after epoch {start} from {checkpoint}")
    else:
        seed_all(seeds.train(0))
    _train(hp, trainer, history, start, checkpoint)
    return _finish(hp, env, run_dir.root, model, history, len(opened.indices))


def _train(hp: SSLHparams, trainer: Pretrainer, history: list[dict], start: int, checkpoint: Path) -> None:
    t, j = hp.training, hp.job
    clock = CheckpointClock(j.checkpoint_minutes)
    trainer.model.train()
    bar = tqdm(range(start, t.epochs), desc="SimCLR", initial=start, total=t.epochs, leave=False,
               dynamic_ncols=True)
    with BackgroundSaver() as saver:
        for epoch in bar:
            started = time.perf_counter()
            record = trainer.run_epoch(epoch)
            if not math.isfinite(record["train_loss"]):
                raise UserError(f"pretraining diverged at epoch {epoch + 1} (loss = {record['train_loss']}); "
                                f"lower --lr")
            if epoch + 1 == t.epochs or (j.knn_every > 0 and (epoch + 1) % j.knn_every == 0):
                record["knn_acc"] = trainer.knn()
            record["seconds"] = time.perf_counter() - started
            history.append(record)
            bar.set_postfix(loss=f"{record['train_loss']:.3f}", pos=f"{record['positive_top1']:.3f}",
                            knn="-" if record["knn_acc"] is None else f"{record['knn_acc']:.3f}")
            if epoch + 1 < t.epochs and clock.due():
                saver.save({"trainer": trainer.state_dict(), "rng": rng_state(), "epoch": epoch + 1,
                            "history": list(history)}, checkpoint)
    bar.close()


def _finish(hp: SSLHparams, env: Environment, root: Path, model: Contrastive, history: list[dict],
            pool: int) -> dict:
    last = history[-1]
    evaluated = [h["knn_acc"] for h in history if h["knn_acc"] is not None]
    record = {"knn_acc": last["knn_acc"], "best_knn_acc": max(evaluated), "train_loss": last["train_loss"],
              "positive_top1": last["positive_top1"], "epochs": len(history), "pool_images": pool, "seconds": sum(h["seconds"] for h in history)}
    save_torch({"state_dict": cpu_state(model.backbone), "projection_head": cpu_state(model.head),
                "run_id": hp.run_id(), "hparams": hp.to_dict()}, root / BACKBONE)
    knn = {"k": hp.job.knn_k, "temperature": hp.job.knn_temperature, "bank": "the pool, unaugmented, its labels",
           "query": "the test set"}
    save_json({"result": record, "knn": knn, "history": history, "environment": env.describe()}, root / METRICS)
    (root / CHECKPOINT).unlink(missing_ok=True)
    print(f"SimCLR: kNN accuracy {100 * record['knn_acc']:.2f}% (k={hp.job.knn_k}), loss {record['train_loss']:.3f}, "
          f"{record['seconds']:.1f}s; backbone: {root / BACKBONE}")
    return record
