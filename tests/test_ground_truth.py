"""Numbers pinned against ground truth computed independently of the code under test: the rewind state is
the model after exactly N epochs, evaluation counts every test image, and the training metrics divide by the
samples each epoch really trained on (the last batch topped up from a second permutation)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from datasets.base import from_nhwc
from lottery.cli import parse_args
from lottery.runner import run
from pruning import Mask
from training.batches import epoch_order
from training.config import TrainConfig
from training.evaluate import accuracy
from training.hooks import TrainHook
from training.loop import Environment, LevelTrainer
from tests.conftest import tiny_argv

CLASSES, LOGIT = 4, 2.0


class PixelVote(nn.Module):
    """Predicts class ``round(255 * x[:, 0, 0, 0]) % CLASSES`` with a fixed logit margin: its accuracy and loss
    on any batch follow from the pixels and labels alone. ``unused`` is a (prunable) conv whose weights get
    zero gradients, so SGD and the mask have something to hold and the predictions never change."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Conv2d(1, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vote = (x[:, 0, 0, 0] * 255).round().long() % CLASSES
        return LOGIT * F.one_hot(vote, CLASSES).float() + 0 * self.unused.weight.sum()


def voting_images(n: int, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """n images whose first pixel is the vote i % CLASSES, labelled so that exactly ``correct`` images are right."""
    votes = np.arange(n) % CLASSES
    x = np.zeros((n, 4, 4, 3), np.uint8)
    x[:, 0, 0, 0] = votes
    y = np.where(correct, votes, (votes + 1) % CLASSES)
    return x, y


@pytest.mark.parametrize("n, batch", [(2537, 1000), (25, 10), (7, 1000)])
def test_evaluation_counts_every_test_image_including_a_partial_last_batch(n, batch):
    correct = np.zeros(n, bool)
    correct[::3] = True
    correct[-1] = True  # the last image (in the partial last batch) counts
    x, y = voting_images(n, correct)
    x_t = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    got = accuracy(PixelVote(), x_t, torch.from_numpy(y), torch.device("cpu"), "fp32", batch_size=batch)
    assert got.item() == correct.sum() / n  # exact: a dropped last batch or an empty loop would differ


def _trainer(n: int, batch: int, correct: np.ndarray, tmp_path) -> LevelTrainer:
    x, y = voting_images(n, correct)
    data = from_nhwc("votes", x, y, x[:5], y[:5], CLASSES, (0.5,) * 3, (0.25,) * 3)
    hp = parse_args(tiny_argv(tmp_path, "--batch-size", str(batch), "--augment", "none", "--workers", "0"))
    config = TrainConfig.from_hparams(hp)
    env = Environment.resolve(config, torch.device("cpu"))
    model = PixelVote()
    return LevelTrainer(model, Mask.dense(model), data, config, env)


def test_train_metrics_divide_by_the_samples_of_the_topped_up_epoch(tmp_path):
    """7 images in batches of 3: an epoch is 3 steps, 9 samples, 2 of them repeats from a second permutation.
    train_acc is the fraction of those 9 predicted right, train_loss the mean over them (batches are equal)."""
    n, batch = 7, 3
    correct = np.array([True, False, True, True, False, False, True])
    trainer = _trainer(n, batch, correct, tmp_path)
    torch.manual_seed(5)
    order = epoch_order(n, batch, torch.device("cpu")).reshape(-1).numpy()  # what the epoch will draw
    torch.manual_seed(5)
    record = trainer.run_epoch(0)
    assert len(order) == 9 and set(order) == set(range(n))
    right = correct[order]
    loss_right = -math.log(math.exp(LOGIT) / (math.exp(LOGIT) + CLASSES - 1))
    loss_wrong = -math.log(1 / (math.exp(LOGIT) + CLASSES - 1))
    assert record["train_acc"] == pytest.approx(right.sum() / 9, abs=1e-12)
    assert record["train_loss"] == pytest.approx(np.where(right, loss_right, loss_wrong).mean(), rel=1e-6)


@pytest.mark.parametrize("rewind, n", [("epoch:2", 2), ("init", 0)])
def test_rewind_file_is_the_model_after_exactly_n_epochs(tmp_path, rewind, n):
    """The states after each epoch are taken by a hook at the epoch's end, apart from the run's own callback that
    writes rewind.pt; saving one epoch early or late fails here."""
    after: dict[int, dict] = {}  # level 0's state after each epoch

    def snapshot(model: nn.Module) -> dict:
        return {k: v.clone() for k, v in model.state_dict().items()}

    class Level0States(TrainHook):
        def on_level_start(self, trainer, level, start_epoch):
            if level == 0:
                after[0] = snapshot(trainer.model)

        def on_epoch_end(self, trainer, level, epoch, history):
            if level == 0:
                after[epoch] = snapshot(trainer.model)

    run(parse_args(tiny_argv(tmp_path, "--epochs", "4", "--rewind", rewind)), [Level0States()])
    (rewind_file,) = tmp_path.glob("*/level_0/rewind.pt")
    saved = torch.load(rewind_file)
    assert sorted(after) == [0, 1, 2, 3, 4]
    assert all(torch.equal(saved[k], after[n][k]) for k in saved)
    for other in {max(n - 1, 0), n + 1} - {n}:
        assert not all(torch.equal(saved[k], after[other][k]) for k in saved), other
