"""Learning-rate schedules as functions of the global step.

Every level runs the same schedule over ``epochs * steps_per_epoch`` steps; a level rewound to epoch N starts
at step ``N * steps_per_epoch``, the step whose weights it rewinds to, so all levels end at the same step.
"""
from __future__ import annotations

import math

MULTISTEP_MILESTONES, MULTISTEP_GAMMA = (0.5, 0.75), 0.1
SCHEDULES = ("cosine", "multistep")


def lr_at(step: int, total_steps: int, base_lr: float, schedule: str) -> float:
    """Learning rate for the step that moves the weights from step ``step`` to ``step + 1``."""
    t = step / total_steps
    if schedule == "cosine":
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule == "multistep":
        return base_lr * MULTISTEP_GAMMA ** sum(t >= m for m in MULTISTEP_MILESTONES)
    raise ValueError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
