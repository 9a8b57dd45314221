"""Bad input: one clear line on stderr, exit status 2, no traceback, nothing half-written."""
from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lottery.cli import build_parser, main, parse_args
from lottery.hparams import _flag
from training.hooks import TrainHook
from tests.conftest import tiny_argv
from tests.train_hooks import StopAfter

ROOT = Path(__file__).resolve().parents[1]


def error_line(capsys) -> str:
    """The error message: the last stderr line (progress bars of finished work may precede it)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize("flag, value", [("--dataset", "mnist"), ("--arch", "alexnet"),
                                         ("--prune-method", "snipp"), ("--augment", "fancy")])
def test_unknown_choices(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exc:
        main(tiny_argv(tmp_path, flag, value))
    assert exc.value.code == 2
    assert value in error_line(capsys)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


@pytest.mark.parametrize("extra, words", [
    (["--data-fraction", "0"], "--data-fraction"),
    (["--data-fraction", "1.5"], "--data-fraction"),
    (["--data-fraction", "0.5", "--per-class", "3"], "not both"),
    (["--per-class", "500"], "500 were asked for"),
    (["--rewind", "epoch:3"], "--rewind"),
    (["--rewind", "step:1"], "--rewind"),
    (["--imbalance", "2"], "--imbalance"),
    (["--compile", "graph"], "needs a CUDA device"),  # tiny_argv runs on --device cpu
    (["--speedups", "masked_update,fast"], "--speedups: unknown fast; choose from"),
    (["--speedups", "im2col_stem", "--arch", "hresnet18"], "--speedups im2col_stem needs a plain convolution"),
])
def test_bad_values(tmp_path, capsys, extra, words):
    out = tmp_path / "runs"
    assert main([*tiny_argv(out), *extra]) == 2
    assert words in error_line(capsys)
    assert not out.exists(), "nothing may be written for bad input"


def test_missing_data_without_network_says_where_to_put_it(tmp_path, capsys, monkeypatch):
    def offline(*args, **kwargs):
        raise socket.gaierror("no network")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    out = tmp_path / "runs"
    assert main(["--dataset", "cifar10", "--data-root", str(tmp_path / "empty"), "--out", str(out),
                 "--device", "cpu"]) == 2
    line = error_line(capsys)
    assert "cifar10.npz" in line and "--data-root" in line
    assert not out.exists()


def test_different_run_under_same_id(tmp_path, capsys):
    assert main(tiny_argv(tmp_path)) == 0
    (run_dir,) = list(tmp_path.iterdir())
    hparams = run_dir / "hparams.json"
    hparams.write_text(hparams.read_text().replace('"epochs": 3', '"epochs": 4'))
    capsys.readouterr()
    assert main(tiny_argv(tmp_path)) == 2
    assert "different run" in error_line(capsys)


def test_corrupt_checkpoint_is_named(tmp_path, capsys):
    assert main(tiny_argv(tmp_path), [StopAfter(None, None)]) == 130
    (checkpoint,) = tmp_path.glob("*/level_0/checkpoint.pt")
    checkpoint.write_bytes(b"not a checkpoint")
    capsys.readouterr()
    assert main(tiny_argv(tmp_path)) == 2
    assert str(checkpoint) in error_line(capsys)


class PoisonLevel1(TrainHook):
    def on_level_start(self, trainer, level, start_epoch):
        if level == 1:
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(float("nan"))


def test_divergence_names_level_and_epoch_and_keeps_finished_levels(tmp_path, capsys):
    assert main(tiny_argv(tmp_path), [PoisonLevel1()]) == 2
    line = error_line(capsys)
    assert "diverged at level 1, epoch 2" in line
    (run_dir,) = list(tmp_path.iterdir())
    assert (run_dir / "level_0" / "metrics.json").exists()
    assert not (run_dir / "level_1" / "metrics.json").exists()
    assert '"level": 0' in (run_dir / "results.json").read_text()


def test_help_lists_every_flag_with_default():
    text = build_parser().format_help()
    for flag in ["--dataset", "--data-root", "--data-fraction", "--per-class", "--data-seed", "--seed", "--arch",
                 "--width", "--rounds", "--prune-rate", "--prune-scope", "--rewind", "--epochs", "--batch-size",
                 "--lr", "--momentum", "--weight-decay", "--schedule", "--eval-every", "--out", "--device",
                 "--long-tail", "--imbalance", "--prune-method", "--augment", "--cutout", "--mixup", "--cutmix",
                 "--precision", "--compile", "--data-path"]:
        assert flag in text, flag
    assert "(default: epoch:2)" in text and "(default: 16)" in text


def test_cli_process_prints_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "main_imp.py", "--data-fraction", "2", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_flags_parse_to_their_annotated_types(monkeypatch):
    """A float field with an int default still takes fractions; a bool field that is on by default gets
    --x / --no-x, one that is off by default is a plain switch --x."""
    @dataclasses.dataclass(frozen=True)
    class Extra:
        smoothing: float = _flag(0, "a float whose default is written as an int")
        warm: bool = _flag(True, "a switch that is on by default")
        extra_pass: bool = _flag(False, "a switch that is off by default")

    @dataclasses.dataclass(frozen=True)
    class Fake:
        extra: Extra = dataclasses.field(default_factory=Extra)

    parser = build_parser(tree=Fake)
    assert vars(parser.parse_args(["--smoothing", "0.1", "--no-warm"])) == {"extra.smoothing": 0.1,
                                                                           "extra.warm": False,
                                                                           "extra.extra_pass": False}
    assert vars(parser.parse_args([])) == {"extra.smoothing": 0, "extra.warm": True, "extra.extra_pass": False}
    assert vars(parser.parse_args(["--warm"]))["extra.warm"] is True
    assert vars(parser.parse_args(["--extra-pass"]))["extra.extra_pass"] is True
    assert "--no-extra-pass" not in {s for a in parser._actions for s in a.option_strings}


def test_every_real_flag_parses_to_its_field_type():
    hp = parse_args(["--mixup", "0.2", "--prune-rate", "0.5", "--epochs", "7", "--augment", "autoaug"])
    assert (hp.data.mixup, hp.pruning.prune_rate, hp.training.epochs, hp.data.augment) == (0.2, 0.5, 7, "autoaug")
    assert isinstance(hp.training.epochs, int) and isinstance(hp.data.mixup, float)
