"""What the training loop reads: the training and augmentation settings of one level, not the whole run's
hyperparameters (``lottery.hparams.Hparams``, which also name the run, its pruning and where it writes)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # training/ does not import the run's layer at run time
    from lottery.hparams import HparamTree, Hparams


@dataclass(frozen=True)
class RuntimeConfig:
    """What resolving the ``auto`` settings of a device reads (``training.loop.Environment.resolve``): the same
    for every entry point (main_imp.py's ``Hparams``, pretrain_ssl.py's ``SSLHparams``)."""
    epochs: int
    batch_size: int
    precision: str
    data_path: str
    compile: str
    speedups: str  # --speedups (training.speedups); pretrain_ssl.py has none

    @classmethod
    def of(cls, hp: "HparamTree") -> "RuntimeConfig":
        t, j = hp.training, hp.job
        return cls(epochs=t.epochs, batch_size=t.batch_size, precision=t.precision, data_path=j.data_path,
                   compile=j.compile, speedups=getattr(j, "speedups", ""))


@dataclass(frozen=True)
class TrainConfig(RuntimeConfig):
    """One IMP level's training settings (and the runtime ones it shares with every entry point)."""
    lr: float
    momentum: float
    weight_decay: float
    schedule: str
    augment: str
    cutout: int
    mixup: float
    cutmix: float
    long_tail: bool  # report many/medium/few-shot accuracies
    advprop: bool
    advprop_eps: float
    advprop_step_size: float
    advprop_steps: int
    advprop_start: str
    eval_every: int
    workers: int

    @classmethod
    def from_hparams(cls, hp: "Hparams") -> "TrainConfig":
        t, d, j = hp.training, hp.data, hp.job
        return cls(epochs=t.epochs, batch_size=t.batch_size, lr=t.lr, momentum=t.momentum,
                   weight_decay=t.weight_decay, schedule=t.schedule, precision=t.precision, augment=d.augment,
                   cutout=d.cutout, mixup=d.mixup, cutmix=d.cutmix, long_tail=d.long_tail != "none",
                   advprop=t.advprop, advprop_eps=t.advprop_eps, advprop_step_size=t.advprop_step_size,
                   advprop_steps=t.advprop_steps, advprop_start=t.advprop_start, eval_every=j.eval_every,
                   data_path=j.data_path, compile=j.compile, speedups=j.speedups, workers=j.workers)
