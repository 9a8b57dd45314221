"""Learning-rate schedules as functions of the global step.

Every level runs the same schedule over ``epochs * steps_per_epoch`` steps; a level rewound to epoch N starts
at step ``N * steps_per_epoch``, the step whose weights it rewinds to, so all levels end at the same step.
"""
from __future__ import annotations

import math
from typing import Callable

MULTISTEP_MILESTONES, MULTISTEP_GAMMA = (0.5, 0.75), 0.1


def cosine(t: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * t))


def multistep(t: float) -> float:
    return MULTISTEP_GAMMA ** sum(t >= m for m in MULTISTEP_MILESTONES)


# name -> multiplier of the base learning rate at progress t = step / total_steps in [0, 1)
SCHEDULES: dict[str, Callable[[float], float]] = {"cosine": cosine, "multistep": multistep}


def lr_at(step: int, total_steps: int, base_lr: float, schedule: str) -> float:
    """Learning rate for the step that moves the weights from step ``step`` to ``step + 1``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
    return base_lr * SCHEDULES[schedule](step / total_steps)
