"""Hooks the tests attach to runs (``run(hp, hooks)``, ``main(argv, hooks)``) to watch or interrupt training."""
from __future__ import annotations

from training.hooks import TrainHook


class Starts(TrainHook, dict):
    """``starts[level]``: each trained level's starting state (masked, or resumed), start epoch, optimizer state
    and size, as the real code runs."""

    def on_level_start(self, trainer, level, start_epoch):
        self[level] = {"state": {k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
                       "momentum_zero": all(not b.any() for b in trainer.optimizer.buffers),
                       "start_epoch": start_epoch, "steps_per_epoch": trainer.steps_per_epoch,
                       "total_steps": trainer.total_steps,
                       "params": sum(p.numel() for p in trainer.model.parameters())}


class StopAfter(TrainHook):
    """Ctrl-C after epoch ``epoch`` of level ``level`` (its checkpoint written); ``level=None``: of any level,
    ``epoch=None``: after any epoch."""

    def __init__(self, level: int | None, epoch: int | None):
        self.level, self.epoch = level, epoch

    def on_epoch_end(self, trainer, level, epoch, history):
        if self.level in (None, level) and self.epoch in (None, epoch):
            raise KeyboardInterrupt


class Trained(TrainHook, list):
    """The levels trained, in order; a level outside ``allowed`` (when given) fails the test."""

    def __init__(self, allowed: set[int] | None = None):
        super().__init__()
        self.allowed = allowed

    def on_level_start(self, trainer, level, start_epoch):
        assert self.allowed is None or level in self.allowed, f"level {level} was trained again"
        self.append(level)
