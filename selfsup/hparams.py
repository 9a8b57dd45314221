"""pretrain_ssl.py's hyperparameters: frozen dataclasses that generate its CLI and name its run directory, as
``lottery/hparams.py``'s do for main_imp.py (the pool and the backbone are the same groups' fields).

The defaults are the CIFAR SimCLR recipe of the public reimplementation the README cites (ResNet-18, batch 512,
NT-Xent at temperature 0.5, SGD with momentum 0.9, learning rate 0.3 x 512 / 256 = 0.6, weight decay 1e-6, cosine
schedule without warm-up, a 2048-wide 2-layer projection head to 128 dimensions), at 500 epochs.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, field

from lottery.hparams import BackboneHparams, HparamTree, SubsetHparams, _choices, _flag, _schedules


@dataclass(frozen=True)
class SSLModelHparams(BackboneHparams):
    proj_hidden: int = _flag(2048, "hidden width of the projection head (Linear, BatchNorm, ReLU, Linear); the "
                             "head is dropped from the backbone checkpoint")
    proj_dim: int = _flag(128, "output width of the projection head, where NT-Xent compares the views")


@dataclass(frozen=True)
class SSLTrainingHparams:
    epochs: int = _flag(500, "epochs over the pool")
    batch_size: int = _flag(512, "images per step; each gives two views, so a forward pass sees twice as many")
    lr: float = _flag(0.6, "peak learning rate (SGD; 0.3 x batch / 256)")
    momentum: float = _flag(0.9, "SGD momentum")
    weight_decay: float = _flag(1e-6, "weight decay (all parameters)")
    schedule: str = _flag("cosine", "learning-rate schedule over all steps", _choices(_schedules))
    temperature: float = _flag(0.5, "NT-Xent temperature")
    seed: int = _flag(0, "seed of initialisation, data order and augmentation")
    precision: str = _flag("auto", "auto = bf16 autocast + channels_last on CUDA, fp32 on CPU",
                           lambda: ["auto", "bf16", "fp32"])


@dataclass(frozen=True)
class SSLJobHparams:
    """Where and how fast a pretraining runs, and how its representation is evaluated: not in the run id (the
    kNN settings change the reported accuracy, not the backbone; metrics.json records them)."""
    data_root: str = _flag("data", "folder holding <dataset>.npz or torchvision's download, or an image-file "
                           "dataset's files (README: Datasets)")
    out: str = _flag("runs_ssl", "output folder; each run writes <out>/<run-id>/")
    device: str = _flag("auto", "cuda when available, else cpu; or any torch device string")
    knn_every: int = _flag(10, "epochs between kNN evaluations on the test set; the last epoch is always "
                           "evaluated, and 0 evaluates only there")
    knn_k: int = _flag(200, "neighbours of the kNN evaluation")
    knn_temperature: float = _flag(0.1, "temperature of the kNN's similarity weights exp(cos / T)")
    checkpoint_minutes: float = _flag(2.0, "minutes of training between resumable checkpoints (0: every epoch)")
    data_path: str = _flag("auto", "gpu: the pool resident on the device; cpu: DataLoader from host memory; "
                           "auto: gpu on CUDA", lambda: ["auto", "gpu", "cpu"])
    compile: str = _flag("auto", "as main_imp.py's: graph (CUDA graphs of the step and the views), full (also "
                         "torch.compile), off; auto: full on CUDA from 10,000 steps, else graph; off elsewhere",
                         lambda: ["auto", "off", "graph", "full"], nargs="?", const="full")
    workers: int = _flag(2, "DataLoader workers of the cpu data path")
    print_checkpoint: bool = _flag(False, "print the path of the backbone checkpoint this command writes (or "
                                   "wrote) and exit, training nothing (scripts/run_cifar10_ssl.sh uses it)")


@dataclass(frozen=True)
class SSLHparams(HparamTree):
    RESULT_GROUPS: typing.ClassVar[tuple[str, ...]] = ("data", "model", "training")

    data: SubsetHparams = field(default_factory=SubsetHparams)
    model: SSLModelHparams = field(default_factory=SSLModelHparams)
    training: SSLTrainingHparams = field(default_factory=SSLTrainingHparams)
    job: SSLJobHparams = field(default_factory=SSLJobHparams)
