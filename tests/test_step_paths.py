"""Masks stay exact on every training path: fp32, bf16 autocast, channels_last, and (on CUDA) CUDA graphs."""
from __future__ import annotations

import pytest
import torch

import augment
import models
from pruning import SCORERS, Mask, mask_from_scores
from training.sgd import SGD
from training.step import GraphedStep, TrainStep

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def make_step(device: str, precision: str, channels_last: bool, aug: str = "autoaug", seed: int = 0):
    torch.manual_seed(seed)
    model = models.build("resnet18", 10, width=8).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    dense = Mask.dense(model)
    mask = mask_from_scores(SCORERS["magnitude"](model, dense, None), 0.2, "global", dense)
    apply_mask = mask.applier(model)
    apply_mask()
    opt = SGD(model.parameters(), momentum=0.9, weight_decay=5e-4)
    opt.set_lr(0.1)
    aug_module = augment.build(aug, 32, cutout=0 if aug == "none" else 8)
    step = TrainStep(model, opt, apply_mask, aug_module, 10, 0.0, 0.0,
                     torch.device(device), precision, channels_last)
    return model, mask, step


def assert_pruned_zero(model, mask):
    params = dict(model.named_parameters())
    for name, m in mask.items():
        w = params[name].detach()
        assert torch.count_nonzero(w[~m.to(w.device)]) == 0, name


def batches(device: str, n: int = 4, size: int = 16):
    g = torch.Generator().manual_seed(1)
    return [(torch.randint(0, 256, (size, 3, 32, 32), generator=g, dtype=torch.uint8).to(device),
             torch.randint(0, 10, (size,), generator=g).to(device)) for _ in range(n)]


@pytest.mark.parametrize("precision, channels_last", [("fp32", False), ("bf16", True)])
def test_masks_exact_on_cpu_paths(precision, channels_last):
    model, mask, step = make_step("cpu", precision, channels_last)
    for x, y in batches("cpu", n=3):
        step(x, y)
    assert_pruned_zero(model, mask)
    assert step.loss_sum.item() > 0


@cuda
def test_masks_exact_under_bf16_channels_last_and_cuda_graph():
    model, mask, step = make_step("cuda", "bf16", True)
    data = batches("cuda", n=6)
    graphed = GraphedStep(step, *data[0])
    for x, y in data:
        graphed(x, y)
    torch.cuda.synchronize()
    assert_pruned_zero(model, mask)


@cuda
def test_graph_replay_matches_eager_steps(monkeypatch):
    """Capture's warm-up steps leave no trace, and replays compute what eager steps compute."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # compare fp32 with fp32, not TF32
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    data = batches("cuda", n=5)
    eager_model, _, eager = make_step("cuda", "fp32", False, aug="none")
    graph_model, _, step = make_step("cuda", "fp32", False, aug="none")
    graphed = GraphedStep(step, *data[0])
    eager(*data[0])
    graphed(*data[0])
    # the first loss depends only on the starting weights: warm-up updates would change it a lot
    torch.testing.assert_close(eager.loss_sum, step.loss_sum, rtol=1e-4, atol=1e-5)
    for x, y in data[1:]:
        eager(x, y)
        graphed(x, y)
    torch.cuda.synchronize()
    for (name, a), b in zip(eager_model.state_dict().items(), graph_model.state_dict().values()):
        torch.testing.assert_close(a.float(), b.float(), rtol=1e-2, atol=1e-3, msg=lambda m: f"{name}: {m}")
