"""Test metrics: accuracy, balanced and per-class accuracy from a device-side confusion count; many/medium/
few-shot accuracy of long-tailed runs, recorded in each level's metrics.json and in results.json."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from lottery.cli import main
from lottery.run_dir import format_table
from tests.conftest import tiny_argv
from training.evaluate import confusion
from training.metrics import shot_group, summarise



def test_balanced_accuracy_on_a_hand_made_confusion():
    counts = np.array([[8, 2, 0, 0],   # class 0: 8 of 10 right
                       [1, 1, 0, 0],   # class 1: 1 of 2
                       [0, 0, 0, 0],   # class 2: no test images
                       [0, 3, 0, 3]])  # class 3: 3 of 6
    m = summarise(counts)
    assert m["test_acc"] == pytest.approx(12 / 18)
    assert m["test_class_acc"] == [0.8, 0.5, None, 0.5]
    assert m["test_balanced_acc"] == pytest.approx((0.8 + 0.5 + 0.5) / 3)
    assert "test_many_acc" not in m


def test_shot_groups_split_at_100_and_20_training_images():
    assert [shot_group(n) for n in (500, 101, 100, 20, 19, 1)] == ["many", "many", "medium", "medium", "few", "few"]
    counts = np.diag([9, 5, 3, 4, 1]) + np.eye(5, k=1, dtype=int)[:, :5]  # every class but the last misses once
    m = summarise(counts, train_counts=[300, 150, 60, 20, 5])
    recall = [0.9, 5 / 6, 0.75, 0.8, 1.0]
    assert m["test_many_acc"] == pytest.approx((recall[0] + recall[1]) / 2)
    assert m["test_medium_acc"] == pytest.approx((recall[2] + recall[3]) / 2)
    assert m["test_few_acc"] == pytest.approx(recall[4])
    assert summarise(counts, train_counts=[300] * 5)["test_few_acc"] is None  # an empty group


class FixedPredictions(nn.Module):
    """Predicts the class stored in each image's first pixel."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        predicted = (x[:, 0, 0, 0] * 255).round()
        return (predicted[:, None] == torch.arange(self.num_classes, device=x.device)).float()


def test_confusion_counts_on_the_device_in_batches():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 5, (37,), generator=g)
    predicted = torch.randint(0, 5, (37,), generator=g)
    x = predicted.to(torch.uint8).view(-1, 1, 1, 1).expand(37, 1, 2, 2).contiguous()
    counts = confusion(FixedPredictions(5), x, y, 5, torch.device("cpu"), "fp32", batch_size=8)
    expected = np.zeros((5, 5), dtype=np.int64)
    np.add.at(expected, (y.numpy(), predicted.numpy()), 1)
    assert isinstance(counts, torch.Tensor) and counts.dtype == torch.long
    assert np.array_equal(counts.numpy(), expected)


def test_long_tailed_run_records_shot_groups(tmp_path):
    # synthetic: 10 classes; exp long tail from 110 to 11 images: many, medium and few classes
    argv = tiny_argv(tmp_path, "--per-class", "110", "--long-tail", "exp", "--imbalance", "0.1", "--rounds", "1",
                     "--epochs", "1", "--rewind", "init", "--batch-size", "100")
    assert main(argv) == 0
    (run,) = tmp_path.iterdir()
    results = json.loads((run / "results.json").read_text())
    level = results["levels"][0]
    assert json.loads((run / "level_0" / "metrics.json").read_text())["result"] == level
    train_counts = [int(110 * 0.1 ** (i / 9)) for i in range(10)]
    groups = [shot_group(n) for n in train_counts]
    assert set(groups) == {"many", "medium", "few"}
    for group in ("many", "medium", "few"):
        members = [a for a, g in zip(level["test_class_acc"], groups) if g == group]
        assert level[f"test_{group}_acc"] == pytest.approx(np.mean(members))
    assert level["test_balanced_acc"] == pytest.approx(np.mean(level["test_class_acc"]))
    assert results["headline"] == "test_acc"


def test_balanced_runs_have_no_shot_groups_and_keep_the_old_keys(tmp_path):
    assert main(tiny_argv(tmp_path, "--rounds", "1", "--epochs", "2", "--per-class", "10")) == 0
    (run,) = tmp_path.iterdir()
    level = json.loads((run / "results.json").read_text())["levels"][0]
    old = {"level", "density", "test_acc", "best_test_acc", "train_acc", "train_loss", "epochs", "seconds"}
    assert old <= set(level) and "test_many_acc" not in level
    history = json.loads((run / "level_0" / "metrics.json").read_text())["history"]
    assert all(h["test_balanced_acc"] is not None for h in history)  # --eval-every 1
    header = (run / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:8] == ["level", "density", "test_acc", "best_test_acc", "train_acc", "train_loss", "epochs",
                          "seconds"] and "test_balanced_acc" in header


def test_console_table_leads_with_the_headline_and_reads_old_records():
    records = [{"level": 0, "density": 1.0, "test_acc": 0.5, "test_balanced_acc": 0.25, "best_test_acc": 0.6,
                "train_acc": 0.9},
               {"level": 1, "density": 0.8, "test_acc": 0.4, "best_test_acc": 0.6, "train_acc": 0.9}]  # older run
    balanced = format_table(records, "test_balanced_acc").splitlines()
    assert balanced[0].split()[2] == "balanced" and balanced[1].split()[2] == "25.00%"
    assert balanced[2].split()[2] == "-"
    assert format_table(records).splitlines()[1].split()[2] == "50.00%"


@pytest.mark.cuda
def test_confusion_on_cuda_without_host_sync():
    y = torch.randint(0, 5, (300,), device="cuda")
    x = torch.randint(0, 5, (300,), device="cuda").to(torch.uint8).view(-1, 1, 1, 1).expand(300, 1, 2, 2).contiguous()
    model = FixedPredictions(5)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        counts = confusion(model, x, y, 5, torch.device("cuda"), "bf16", batch_size=64)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert int(counts.sum()) == 300 and bool((counts.diagonal().sum() == (x[:, 0, 0, 0].long() == y).sum()))
