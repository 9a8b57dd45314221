"""The IMP loop end to end on tiny CPU runs: rewind invariant, schedule alignment, resume, idempotence."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from lottery.cli import main, parse_args
from lottery.run import CheckpointClock
from lottery.runner import run
from pruning import Mask
from training.schedule import lr_at
from training.sgd import SGD
from tests.conftest import tiny_argv
from tests.train_hooks import Starts, StopAfter, Trained
from utils.provenance import code_version


def run_dir_of(out: Path) -> Path:
    (only,) = [p for p in out.iterdir() if p.is_dir()]
    return only


class Spy(Starts):
    """Each level's start (``Starts``) and the learning rates its steps set."""

    def on_level_start(self, trainer, level, start_epoch):
        super().on_level_start(trainer, level, start_epoch)
        self[level]["lrs"], self.current = [], level


@pytest.fixture
def spy(monkeypatch):
    """Records each level's starting state, optimizer buffers and learning rates as the real code runs."""
    seen = Spy()
    original_set_lr = SGD.set_lr

    def set_lr(self, value):
        seen[seen.current]["lrs"].append(value)
        original_set_lr(self, value)

    monkeypatch.setattr(SGD, "set_lr", set_lr)
    return seen


def test_level_k_starts_from_rewind_state_times_mask(tmp_path, spy):
    hp = parse_args(tiny_argv(tmp_path, "--rounds", "3"))
    records = run(hp, [spy])
    root = run_dir_of(tmp_path)
    rewind = torch.load(root / "level_0" / "rewind.pt")
    for level in (1, 2):
        mask = Mask.load(root / f"level_{level}" / "mask.pt")
        start = spy[level]["state"]
        for name, value in rewind.items():
            expected = value * mask[name] if name in mask else value  # BN statistics and classifier rewound too
            assert torch.equal(start[name], expected), (level, name)
        assert spy[level]["momentum_zero"], "optimizer state must be fresh each level"
        assert spy[level]["start_epoch"] == 1
        assert abs(records[level]["density"] - 0.8 ** level) < 1e-3
    # the rewind state is level 0 after exactly one epoch: its weights differ from init, not from level 0's end
    init = spy[0]["state"]
    assert not torch.equal(rewind["fc.weight"], init["fc.weight"])


def test_learning_rate_resumes_at_the_rewind_step(tmp_path, spy):
    hp = parse_args(tiny_argv(tmp_path, "--schedule", "cosine"))
    run(hp, [spy])
    spe, total = spy[0]["steps_per_epoch"], spy[0]["total_steps"]
    assert spy[0]["lrs"][0] == pytest.approx(hp.training.lr)
    assert spy[1]["lrs"][0] == pytest.approx(lr_at(1 * spe, total, hp.training.lr, "cosine"))
    assert spy[1]["lrs"] == pytest.approx(spy[0]["lrs"][spe:])  # same steps, same schedule, same end
    assert len(spy[0]["lrs"]) == total


def test_rewind_trained_and_init(tmp_path, spy):
    run(parse_args(tiny_argv(tmp_path / "t", "--rewind", "trained")), [spy])
    root = run_dir_of(tmp_path / "t")
    final0 = torch.load(root / "level_0" / "weights.pt")
    mask = Mask.load(root / "level_1" / "mask.pt")
    assert torch.equal(spy[1]["state"]["stem.0.weight"], final0["stem.0.weight"] * mask["stem.0.weight"])
    assert spy[1]["start_epoch"] == 0
    run(parse_args(tiny_argv(tmp_path / "i", "--rewind", "init")), [spy])
    assert torch.equal(spy[1]["state"]["fc.weight"], spy[0]["state"]["fc.weight"])


def _result_rows(root: Path) -> list[dict]:
    rows = json.loads((root / "results.json").read_text())["levels"]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.mark.parametrize("stop_level, stop_epoch, minutes", [(0, 2, "0"), (1, 2, "0"), (1, 2, "60")])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, stop_level, stop_epoch, minutes):
    """With checkpoints after every epoch the rerun resumes mid-level; with none due yet (60 minutes), it
    retrains the interrupted level from its start. Either way the results equal the uninterrupted run's."""
    argv = tiny_argv(tmp_path / "a")
    run(parse_args(argv))
    reference = run_dir_of(tmp_path / "a")

    argv_b = tiny_argv(tmp_path / "b", "--checkpoint-minutes", minutes)
    assert main(argv_b, [StopAfter(stop_level, stop_epoch)]) == 130
    root = run_dir_of(tmp_path / "b")
    assert (root / f"level_{stop_level}" / "checkpoint.pt").exists() == (minutes == "0")
    assert main(argv_b) == 0
    assert _result_rows(root) == _result_rows(reference)
    for level in (0, 1):
        ours = torch.load(root / f"level_{level}" / "weights.pt")
        theirs = torch.load(reference / f"level_{level}" / "weights.pt")
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert not (root / f"level_{stop_level}" / "checkpoint.pt").exists()


def test_second_identical_command_trains_nothing(tmp_path):
    argv = tiny_argv(tmp_path)
    first = run(parse_args(argv))
    second = run(parse_args(argv), [Trained(allowed=set())])
    assert second == first


def test_outputs_layout_and_results_schema(tmp_path):
    run(parse_args(tiny_argv(tmp_path)))
    root = run_dir_of(tmp_path)
    assert root.name == parse_args(tiny_argv(tmp_path)).run_id()
    results = json.loads((root / "results.json").read_text())
    assert set(results) == {"hparams", "headline", "levels"} and results["headline"] == "test_acc"
    for r in results["levels"]:
        assert set(r) == {"level", "density", "test_acc", "best_test_acc", "train_acc", "train_loss", "epochs",
                          "seconds", "test_balanced_acc", "test_class_acc"}
        assert len(r["test_class_acc"]) == 10
        assert 0 <= r["test_acc"] <= r["best_test_acc"] <= 1 and 0 < r["density"] <= 1
    assert results["levels"][0]["epochs"] == 3 and results["levels"][1]["epochs"] == 2
    csv_lines = (root / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("level,density,test_acc") and len(csv_lines) == 3
    metrics = json.loads((root / "level_1" / "metrics.json").read_text())
    assert all(0 < layer["density"] <= 1 for layer in metrics["layers"].values())
    assert len(metrics["history"]) == 2
    assert metrics["environment"] == {"device": "cpu", "precision": "fp32", "channels_last": False,
                                      "data_path": "cpu", "compile": "off", "torch": torch.__version__,
                                      "code_version": code_version()}
    assert code_version() is None or re.fullmatch(r"[0-9a-f]{10}(-dirty)?", code_version())
    assert len(json.loads((root / "hparams.json").read_text())["hparams"]) == 4
    import numpy as np
    assert len(np.load(root / "subset_indices.npy")) == 200


def test_device_resident_and_dataloader_paths_train_identically(tmp_path):
    """--data-path gpu (resident tensors) and cpu (DataLoader workers) draw the same batches."""
    resident = run(parse_args(tiny_argv(tmp_path / "g", "--data-path", "gpu")))
    loader = run(parse_args(tiny_argv(tmp_path / "c", "--data-path", "cpu", "--workers", "1")))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(resident) == strip(loader)


@pytest.mark.parametrize("extra", [["--augment", "contrast", "--mixup", "0.2", "--cutmix", "1.0"],
                                   ["--augment", "augmix", "--cutout"]])
def test_strong_augmentation_and_mixing_train_end_to_end(tmp_path, extra):
    (record,) = run(parse_args(tiny_argv(tmp_path, "--rounds", "1", "--epochs", "2", *extra)))
    assert 0 < record["train_loss"] < 10 and 0 <= record["test_acc"] <= 1
    hparams = json.loads((run_dir_of(tmp_path) / "hparams.json").read_text())["hparams"]["data"]
    assert hparams["augment"] == extra[1]


def test_more_rounds_continue_a_finished_run_and_a_precision_change_is_warned(tmp_path, capsys):
    first = run(parse_args(tiny_argv(tmp_path, "--rounds", "1")))
    root = run_dir_of(tmp_path)
    metrics_path = root / "level_0" / "metrics.json"
    metrics = json.loads(metrics_path.read_text())
    metrics["environment"]["precision"] = "bf16"  # as if level 0 had run on a GPU
    metrics_path.write_text(json.dumps(metrics))
    trained = Trained()
    capsys.readouterr()
    second = run(parse_args(tiny_argv(tmp_path, "--rounds", "2")), [trained])
    assert run_dir_of(tmp_path) == root  # same run id: --rounds is not part of it
    assert trained == [1] and second[0] == first[0] and len(second) == 2
    assert "earlier levels of this run trained in bf16; the next ones train in fp32" in capsys.readouterr().err


def test_checkpoint_clock_is_due_once_per_interval_from_the_level_start():
    now = [100.0]
    clock = CheckpointClock(minutes=2, clock=lambda: now[0])
    due = []
    for t in (100.0, 150.0, 219.9, 220.0, 221.0, 339.0, 340.0, 1000.0):
        now[0] = t
        due.append(clock.due())
    assert due == [False, False, False, True, False, False, True, True]
    every_epoch = CheckpointClock(minutes=0, clock=lambda: now[0])
    assert every_epoch.due() and every_epoch.due()
