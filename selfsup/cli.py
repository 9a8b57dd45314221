"""pretrain_ssl.py's command line, generated from ``selfsup.hparams`` by main_imp.py's machinery, and its checks."""
from __future__ import annotations

import argparse
from typing import Sequence

from lottery.cli import SEED_LIMIT, _check, build_parser, parse_tree
from selfsup.hparams import SSLHparams
from utils.errors import exit_status

DESCRIPTION = ("Pretrain the architecture's backbone with SimCLR on the training images, without their labels, "
               "for main_imp.py --init-checkpoint.")


def validate(hp: SSLHparams) -> None:
    """Reject settings that cannot make a meaningful run, before anything is loaded or written."""
    d, m, t, j = hp.data, hp.model, hp.training, hp.job
    _check(0 < d.data_fraction <= 1, f"--data-fraction must be in (0, 1], got {d.data_fraction}")
    _check(d.per_class >= 0, f"--per-class must be >= 0, got {d.per_class}")
    _check(d.per_class == 0 or d.data_fraction == 1.0, "give --data-fraction or --per-class, not both")
    _check(d.image_size == 0 or d.image_size >= 8, f"--image-size must be 0 or >= 8, got {d.image_size}")
    _check(m.width >= 1 and m.proj_hidden >= 1 and m.proj_dim >= 1,
           "--width, --proj-hidden and --proj-dim must be >= 1")
    _check(t.epochs >= 1, f"--epochs must be >= 1, got {t.epochs}")
    _check(t.batch_size >= 2, f"--batch-size must be >= 2 (an image's negatives are the batch's others), got "
           f"{t.batch_size}")
    _check(t.lr > 0 and t.momentum >= 0 and t.weight_decay >= 0, "--lr must be > 0, --momentum and "
           "--weight-decay >= 0")
    _check(t.temperature > 0 and j.knn_temperature > 0, "--temperature and --knn-temperature must be > 0")
    for flag, seed in (("--seed", t.seed), ("--data-seed", d.data_seed)):
        _check(0 <= seed < SEED_LIMIT, f"{flag} must be in [0, 2**32), got {seed}")
    _check(j.knn_k >= 1, f"--knn-k must be >= 1, got {j.knn_k}")
    _check(j.knn_every >= 0 and j.checkpoint_minutes >= 0 and j.workers >= 0,
           "--knn-every, --checkpoint-minutes and --workers must be >= 0")


def build_ssl_parser() -> argparse.ArgumentParser:
    return build_parser("pretrain_ssl.py", SSLHparams, DESCRIPTION)


def parse_args(argv: Sequence[str] | None = None) -> SSLHparams:
    hp = parse_tree(build_ssl_parser(), SSLHparams, argv)
    validate(hp)
    return hp


def main(argv: Sequence[str] | None = None) -> int:
    from selfsup.loop import backbone_path, pretrain  # imported late: --help and bad flags need no torch start-up

    def body() -> None:
        hp = parse_args(argv)
        if hp.job.print_checkpoint:
            print(backbone_path(hp))
        else:
            pretrain(hp)
    return exit_status(body)
