"""One training step, and the same step captured as a CUDA graph.

The step is the whole hot path: augment the uint8 batch on the device, convert to [0,1] floats, optionally
mix, forward/backward under autocast, SGD, re-apply the mask. Loss and correct predictions accumulate in
device tensors, read once per epoch; nothing in a step waits for the host.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from augment import mix_batch
from training.evaluate import autocast, to_float
from training.sgd import SGD


class TrainStep:
    def __init__(self, model: nn.Module, optimizer: SGD, apply_mask: Callable[[], None], augment: nn.Module,
                 num_classes: int, mixup: float, cutmix: float, device: torch.device, precision: str,
                 channels_last: bool):
        self.model, self.optimizer, self.apply_mask, self.augment = model, optimizer, apply_mask, augment
        self.num_classes, self.mixup, self.cutmix = num_classes, mixup, cutmix
        self.device, self.precision, self.channels_last = device, precision, channels_last
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        inputs = to_float(self.augment(x), self.channels_last)
        target = y
        if self.mixup > 0 or self.cutmix > 0:
            inputs, target = mix_batch(inputs, y, self.num_classes, self.mixup, self.cutmix)
        with autocast(self.device, self.precision):
            logits = self.model(inputs)
        loss = F.cross_entropy(logits.float(), target)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.apply_mask()
        with torch.no_grad():
            self.loss_sum += loss.detach()
            self.correct += (logits.argmax(1) == y).sum()

    def metric_tensors(self) -> list[torch.Tensor]:
        return [self.loss_sum, self.correct]


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
        model, opt = step.model, step.optimizer
        state = [*model.parameters(), *model.buffers(), *opt.buffers, opt.lr, *step.metric_tensors()]
        saved = [t.detach().clone() for t in state]
        stream = torch.cuda.Stream(step.device)
        stream.wait_stream(torch.cuda.current_stream(step.device))
        with torch.cuda.stream(stream):
            for _ in range(warmup_steps):
                step(self.x, self.y)
        torch.cuda.current_stream(step.device).wait_stream(stream)
        for p in model.parameters():
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
