"""Training one IMP level: epochs of steps, scheduled evaluation, progress, divergence check, callbacks."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn
from torch.utils._triton import has_triton
from tqdm import tqdm

import augment
from datasets import ImageDataset
from pruning import Mask
from training.advprop import AdvProp
from training.batches import DeviceBatches, HostBatches, steps_per_chunk, steps_per_epoch
from training.config import RuntimeConfig, TrainConfig
from training.evaluate import confusion
from training.hooks import TrainHook
from training.metrics import summarise
from training.schedule import lr_at
from training.sgd import SGD
from training.speedups import parse_speedups, prepare_model, update_builder
from training.step import GraphedStep, GraphedTransform, TrainStep
from utils.device import resolve_precision
from utils.provenance import code_version
from utils.errors import DivergenceError, UserError

EpochCallback = Callable[[int, list[dict]], None]

# ``--compile auto`` on CUDA compiles the model (``full``) for a level of at least this many training steps.
# Measured on an H200 (torch 2.11, ResNet-18, batch 100, bf16, autoaug + Cutout): torch.compile made the captured
# step 2.17 ms instead of 2.77 ms, and cost about 23 s once per process (5 s when Inductor's on-disk cache already
# holds the graphs); the levels after the first reuse the compiled code. So it pays from about 40,000 steps per
# process: 10,000 per level is 10% of CIFAR-10 at 200 epochs. Smaller levels replay the uncompiled step (``graph``).
# ``full`` also compiles the augmentation (``compile_augmentation``): about 30 s more when the cache is cold, which
# a 16-level run repays from about 15% of CIFAR-10 (0.13 ms saved per step), or from 10% once the cache is warm.
COMPILE_MIN_STEPS = 10_000


def auto_compile(config: RuntimeConfig, device: torch.device, train_images: int | None) -> str:
    """What ``--compile auto`` means for a level of ``train_images`` (None: unknown, e.g. evaluation only)."""
    if device.type != "cuda":
        return "off"
    if train_images is None or not has_triton():  # torch.compile needs Triton on CUDA
        return "graph"
    steps = steps_per_epoch(train_images, config.batch_size) * config.epochs
    return "full" if steps >= COMPILE_MIN_STEPS else "graph"


def compile_augmentation(policy: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``torch.compile`` for the augmentation of a ``--compile full`` level: the same distribution, fewer kernels.

    A policy is hundreds of small elementwise ops (AutoAugment computes every candidate op for every image and
    keeps the chosen one); Inductor fuses them. ``fallback_random`` makes the compiled code draw with aten's random
    ops, as the eager policy does, not with Inductor's own generator: on the CPU one seed then gives the same images
    compiled or not (tests/test_batches.py); on CUDA the same seed gives other images (60% of values differed on an
    H200, torch 2.11), so ``tests/test_step_paths.py`` checks the distribution instead (one image augmented 16,384
    times: per-pixel means and spreads agree within sampling error; passed on an H200). ``dynamic=False``: an epoch
    has at most two chunk shapes, each compiled once per process; the policies of later levels reuse the compiled
    code.
    Measured on an H200 (torch 2.11, AutoAugment + Cutout, 100% of CIFAR-10, inside the chunk's CUDA graph): a
    chunk of 2,700 images in 1.38 ms instead of 4.96 ms, the epoch in 1.117 s instead of 1.200 s, for about 30 s
    more compilation once per process with a cold Inductor cache (a few seconds with a warm one).
    """
    return torch.compile(policy, dynamic=False, options={"fallback_random": True})


@dataclass
class Environment:
    """Everything about where a run executes, resolved once from the job hyperparameters."""
    device: torch.device
    precision: str
    channels_last: bool
    data_path: str
    compile: str
    speedups: tuple[str, ...] = ()  # --speedups (training.speedups), which LevelTrainer applies

    @classmethod
    def resolve(cls, config: RuntimeConfig, device: torch.device, train_images: int | None = None) -> "Environment":
        """Resolve the ``auto`` settings (``--compile auto`` from the size of the training set, ``train_images``:
        see ``auto_compile``); on CUDA also turn on cuDNN autotuning (``cudnn.benchmark``), which pays here because
        every training batch has the same shape."""
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        precision = resolve_precision(config.precision, device)
        data_path = config.data_path if config.data_path != "auto" else ("gpu" if device.type == "cuda" else "cpu")
        compile_mode = config.compile if config.compile != "auto" else auto_compile(config, device, train_images)
        if compile_mode == "graph" and device.type != "cuda":
            raise UserError("--compile graph needs a CUDA device")
        speedups = parse_speedups(config.speedups)
        return cls(device, precision, device.type == "cuda" and precision == "bf16", data_path, compile_mode,
                   speedups)

    def describe(self) -> dict:
        """What a level actually ran on, for its metrics.json (``auto`` settings resolved)."""
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else self.device.type
        speedups = {"speedups": list(self.speedups)} if self.speedups else {}  # a default run's record as before
        return {"device": name, "precision": self.precision, "channels_last": self.channels_last,
                "data_path": self.data_path, "compile": self.compile, **speedups, "torch": torch.__version__,
                "code_version": code_version()}


@dataclass
class Trained:
    """What ``LevelTrainer.train`` returns: one record per epoch (the resumed ones included), and the metrics of
    the last test evaluation (``training.metrics.summarise``)."""
    history: list[dict]
    test: dict


class LevelTrainer:
    """Owns the optimizer, batches and step function for one level of one run.

    ``model`` must already hold the level's starting weights with the mask applied; ``train`` runs epochs
    ``[start_epoch, epochs)`` on the global step schedule, so a level rewound to epoch N resumes the learning
    rate exactly where level 0 was after N epochs. ``hooks`` are called at the loop's events (``training.hooks``).
    """

    def __init__(self, model: nn.Module, mask: Mask, data: ImageDataset, config: TrainConfig, env: Environment,
                 hooks: Sequence[TrainHook] = ()):
        self.model, self.config, self.env, self.data, self.hooks = model, config, env, data, tuple(hooks)
        t = config
        prepare_model(model, env.speedups)  # before AdvProp copies the BatchNorms
        # AdvProp's auxiliary BatchNorms start as copies of the model's, as the level starts (after the rewind)
        self.advprop = AdvProp(model, t.advprop_eps / 255, t.advprop_step_size / 255, t.advprop_steps,
                               t.advprop_start == "random") if t.advprop else None
        extra = self.advprop.parameters() if self.advprop is not None else []
        self.optimizer = SGD([*model.parameters(), *extra], t.momentum, t.weight_decay)
        self.apply_mask = mask.applier(model)
        if env.data_path == "gpu":
            self.batches = DeviceBatches(data.x_train, data.y_train, env.device)
        else:
            self.batches = HostBatches(data.x_train, data.y_train, env.device, t.workers)
        # with --data-path cpu the test set stays in host memory too; evaluation copies it batch by batch
        test_home = env.device if env.data_path == "gpu" else torch.device("cpu")
        self.x_test, self.y_test = data.x_test.to(test_home), data.y_test.to(test_home)
        self.steps_per_epoch = steps_per_epoch(len(self.batches), t.batch_size)
        self.total_steps = t.epochs * self.steps_per_epoch
        self.chunk_steps = steps_per_chunk(self.steps_per_epoch, t.batch_size, data.x_train[0].numel())
        self.use_graphs = env.compile != "off" and env.device.type == "cuda"
        trained = torch.compile(model) if env.compile == "full" else model
        update = update_builder(env.speedups)(self.optimizer, self.apply_mask)
        self.step = TrainStep(trained, self.optimizer, update, data.num_classes, t.mixup, t.cutmix,
                              env.device, env.precision, env.channels_last, self.advprop)
        # training images per class, for the many/medium/few-shot accuracies of long-tailed runs
        self.shot_counts = (torch.bincount(data.y_train, minlength=data.num_classes).tolist()
                            if t.long_tail else None)
        policy = augment.build(t.augment, data.image_size, t.cutout, data.crop,
                               data.vflip).to(env.device)
        identity = len(policy) == 0  # "none" without Cutout: nothing to compile or capture
        self.augment: Callable[[torch.Tensor], torch.Tensor] = policy
        if env.compile == "full" and not identity:
            self.augment = compile_augmentation(policy)
        if self.use_graphs and not identity:
            self.augment = GraphedTransform(self.augment)
        self._graphed: GraphedStep | None = None

    def step_fn(self, x: torch.Tensor, y: torch.Tensor) -> Callable:
        """The eager step, or on CUDA the graph captured from the level's first batch."""
        if not self.use_graphs:
            return self.step
        if self._graphed is None:
            self._graphed = GraphedStep(self.step, x, y)
        return self._graphed

    def state_dict(self) -> dict:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.advprop is not None:
            state["advprop_bn"] = self.advprop.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.advprop is not None:
            self.advprop.load_state_dict(state["advprop_bn"])
        self.apply_mask()

    def test_metrics(self) -> dict:
        """Accuracy, balanced and per-class accuracy (and shot groups when long-tailed) on the test set; the
        confusion counts accumulate on the device and are read once."""
        counts = confusion(self.model, self.x_test, self.y_test, self.data.num_classes, self.env.device,
                           self.env.precision, self.env.channels_last)
        return summarise(counts.cpu().numpy(), self.shot_counts)

    def run_epoch(self, epoch: int) -> dict:
        """Train one epoch (global steps ``epoch * steps_per_epoch ...``); returns its training metrics.

        The only host synchronisation is reading the accumulated loss and accuracy at the end.
        """
        t = self.config
        global_step = epoch * self.steps_per_epoch
        for x_chunk, y_chunk in self.batches.epoch(t.batch_size, self.chunk_steps):
            for x, y in zip(self.augment(x_chunk).split(t.batch_size), y_chunk.split(t.batch_size)):
                self.optimizer.set_lr(lr_at(global_step, self.total_steps, t.lr, t.schedule))
                self.step_fn(x, y)(x, y)
                global_step += 1
            for hook in self.hooks:
                hook.on_chunk_end(self)
        metrics = self.step.metric_tensors()
        loss_sum, correct = torch.stack([m.double() for m in metrics]).tolist()  # the epoch's one sync
        for m in metrics:
            m.zero_()
        return {"epoch": epoch + 1, "train_loss": loss_sum / self.steps_per_epoch,
                "train_acc": correct / (self.steps_per_epoch * t.batch_size)}

    def evaluates_after(self, epoch: int) -> bool:
        """Whether the test set is evaluated after epoch ``epoch`` (counted from 1): every --eval-every epochs
        and at the level's end."""
        t = self.config
        return epoch == t.epochs or (t.eval_every > 0 and epoch % t.eval_every == 0)

    def train(self, level: int, start_epoch: int, history: Sequence[dict] = (),
              on_epoch_end: EpochCallback | None = None, desc: str = "") -> Trained:
        """Run epochs ``[start_epoch, epochs)`` after the ``history`` of the epochs before (a resumed level's);
        ``on_epoch_end(epoch, history so far)`` is the caller's own work after each epoch, before the hooks'."""
        t = self.config
        history, test = list(history), {}
        self.model.train()
        for hook in self.hooks:
            hook.on_level_start(self, level, start_epoch)
        bar = tqdm(range(start_epoch, t.epochs), desc=desc or f"level {level}", initial=start_epoch,
                   total=t.epochs, leave=False, dynamic_ncols=True)
        for epoch in bar:
            started = time.perf_counter()
            train = self.run_epoch(epoch)
            if not math.isfinite(train["train_loss"]):
                raise DivergenceError(level, epoch, train["train_loss"])
            evaluated = self.evaluates_after(epoch + 1)
            if evaluated:
                test = self.test_metrics()
            record = {**train, "test_acc": test["test_acc"] if evaluated else None,
                      "test_balanced_acc": test["test_balanced_acc"] if evaluated else None,
                      "seconds": time.perf_counter() - started}
            history.append(record)
            bar.set_postfix(loss=f"{record['train_loss']:.3f}", acc=f"{record['train_acc']:.3f}",
                            test="-" if record["test_acc"] is None else f"{record['test_acc']:.3f}")
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, history)
            for hook in self.hooks:
                hook.on_epoch_end(self, level, epoch + 1, history)
        bar.close()
        return Trained(history, test)
