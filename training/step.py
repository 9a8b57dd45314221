"""One training step, the same step captured as a CUDA graph, and augmentation captured likewise.

A step takes an already augmented uint8 batch (augmentation runs once per chunk of steps, see
``training.batches``), converts it to [0,1] floats, optionally mixes, runs forward/backward under autocast,
SGD, and re-applies the mask (``masked_update``). With AdvProp (``training.advprop``) it also draws adversarial
examples and trains on the mean of both losses. Loss and correct predictions accumulate in device tensors, read
once per epoch; nothing in a step waits for the host.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from augment import mix_batch
from training.advprop import AdvProp
from training.precision import autocast, to_float
from training.sgd import SGD


def masked_update(optimizer: SGD, apply_mask: Callable[[], None]) -> Callable[[], None]:
    """The parameter update of a step: SGD, then the pruned weights zeroed again (``pruning.Mask.applier``)."""
    def update() -> None:
        optimizer.step()
        apply_mask()
    return update


class TrainStep:
    def __init__(self, model: nn.Module, optimizer: SGD, update: Callable[[], None], num_classes: int,
                 mixup: float, cutmix: float, device: torch.device, precision: str, channels_last: bool,
                 advprop: AdvProp | None = None):
        """``update``: what follows each backward, ``optimizer``'s step and then the mask (``masked_update``)."""
        self.model, self.optimizer, self.update = model, optimizer, update
        self.num_classes, self.mixup, self.cutmix = num_classes, mixup, cutmix
        self.device, self.precision, self.channels_last = device, precision, channels_last
        self.advprop = advprop
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)

    def _loss(self, inputs: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with autocast(self.device, self.precision):
            logits = self.model(inputs)
        return F.cross_entropy(logits.float(), target), logits

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        inputs = to_float(x, self.channels_last)
        target = y
        if self.mixup > 0 or self.cutmix > 0:
            inputs, target = mix_batch(inputs, y, self.num_classes, self.mixup, self.cutmix)
        loss, logits = self._loss(inputs, target)
        if self.advprop is not None:
            adversarial = self.advprop.attack(lambda adv: self._loss(adv, target)[0], inputs)
            with self.advprop.auxiliary():
                adversarial_loss, _ = self._loss(adversarial, target)
            loss = (loss + adversarial_loss) / 2
        self.optimizer.zero_grad()
        loss.backward()
        self.update()
        with torch.no_grad():
            self.loss_sum += loss.detach()
            self.correct += (logits.argmax(1) == y).sum()

    def metric_tensors(self) -> list[torch.Tensor]:
        return [self.loss_sum, self.correct]

    def state_tensors(self) -> list[torch.Tensor]:
        """Every tensor a step writes: model parameters and buffers, AdvProp's twins, momentum, lr, metrics."""
        extra = self.advprop.tensors() if self.advprop is not None else []
        return [*self.model.parameters(), *self.model.buffers(), *extra, *self.optimizer.buffers,
                self.optimizer.lr, *self.metric_tensors()]


class GraphedStep:
    """``TrainStep`` replayed from one CUDA graph: a step costs a few microseconds of launch time.

    Capture needs warm-up steps, which really update the model; every tensor the step writes (weights,
    BatchNorm buffers, momentum, metrics) is saved first and restored after capture, so the graphed run
    starts from exactly the state the eager run would (only the random stream has moved on). Inputs are copied
    into static buffers each step.
    """

    def __init__(self, step: TrainStep, x: torch.Tensor, y: torch.Tensor, warmup_steps: int = 3):
        self.step = step
        self.x, self.y = x.clone(), y.clone()
        state = step.state_tensors()
        saved = [t.detach().clone() for t in state]
        stream = torch.cuda.Stream(step.device)
        stream.wait_stream(torch.cuda.current_stream(step.device))
        with torch.cuda.stream(stream):
            for _ in range(warmup_steps):
                step(self.x, self.y)
        torch.cuda.current_stream(step.device).wait_stream(stream)
        for p in step.optimizer.params:
            p.grad = None  # gradients are allocated inside the graph's memory pool
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            step(self.x, self.y)
        with torch.no_grad():
            for t, value in zip(state, saved):
                t.copy_(value)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x.copy_(x, non_blocking=True)
        self.y.copy_(y, non_blocking=True)
        self.graph.replay()

    def metric_tensors(self) -> list[torch.Tensor]:
        return self.step.metric_tensors()


class GraphedTransform:
    """A stateless batch transform (the augmentation) replayed from CUDA graphs, one graph per input shape.

    An epoch has at most two chunk shapes, so at most two graphs are captured. The result is a static buffer
    that the next call overwrites; the training loop consumes it, in stream order, before that.
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], warmup_calls: int = 2):
        self.fn, self.warmup_calls = fn, warmup_calls
        self.graphs: dict[tuple, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    def _capture(self, x: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        static_in = x.clone()
        stream = torch.cuda.Stream(x.device)
        stream.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(stream):
            for _ in range(self.warmup_calls):
                self.fn(static_in)
        torch.cuda.current_stream(x.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.fn(static_in)
        return graph, static_in, static_out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape), x.dtype, x.device)
        if key not in self.graphs:
            self.graphs[key] = self._capture(x)
        graph, static_in, static_out = self.graphs[key]
        static_in.copy_(x, non_blocking=True)
        graph.replay()
        return static_out
