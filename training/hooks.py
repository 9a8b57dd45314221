"""Hooks: what tests and tools attach to a run's training instead of patching the trainer.

A hook is called at the training loop's events, in the order of the run's hook list, after the run's own work at
that event (at an epoch's end: the rewind state and the checkpoint are written first). Override what you need.
``on_chunk_end`` comes between chunks of steps, when nothing of the run is waiting for the host: where runs
packed into one process take turns (``lottery.pack``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from training.loop import LevelTrainer


class TrainHook:
    def on_level_start(self, trainer: "LevelTrainer", level: int, start_epoch: int) -> None:
        """The level's model holds its starting state (masked, or resumed from a checkpoint); nothing trained."""

    def on_chunk_end(self, trainer: "LevelTrainer") -> None:
        """A chunk of steps has been queued (on CUDA it may still be running)."""

    def on_epoch_end(self, trainer: "LevelTrainer", level: int, epoch: int, history: list[dict]) -> None:
        """Epoch ``epoch`` (counted from 1) is done and recorded in ``history``; its checkpoint is written."""
