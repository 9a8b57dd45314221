"""The pruning invariants: exact densities, nested masks, pruned weights stay zero while training."""
from __future__ import annotations

import pytest
import torch

import models
from pruning import METHODS, SCORERS, Mask, ScoreContext, mask_from_scores, prunable_names
from training.sgd import SGD


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return models.build("resnet18", 10, width=4)


def test_prunable_are_all_convs_and_only_convs():
    model = tiny_model()
    names = prunable_names(model)
    assert "conv1.weight" in names or any("stem" in n for n in names)
    assert any("shortcut" in n or "downsample" in n for n in names)  # shortcut convs are pruned too
    params = dict(model.named_parameters())
    assert all(params[n].dim() == 4 for n in names)
    assert sum(p.dim() == 4 for p in params.values()) == len(names)
    assert not any("fc" in n or "bn" in n for n in names)


@pytest.mark.parametrize("scope", ["global", "layerwise"])
@pytest.mark.parametrize("method", sorted(name for name, m in METHODS.items() if m.when == "imp"))
def test_density_after_level_k_is_exact_and_masks_nest(scope, method):
    model = tiny_model()
    mask = Mask.dense(model)
    gen = torch.Generator().manual_seed(0)
    for k in range(1, 12):
        with torch.no_grad():  # fresh weights each level, as after retraining
            for p in model.parameters():
                p.normal_()
        new = mask_from_scores(SCORERS[method](model, mask, ScoreContext(gen)), 0.8 ** k, scope, mask)
        assert all(not (new[n] & ~mask[n]).any() for n in mask), "a pruned weight came back"
        if scope == "global":
            assert new.kept() == round(0.8 ** k * new.size())
        else:
            for name, m in new.items():
                assert abs(int(m.sum()) - 0.8 ** k * m.numel()) <= 1, name
        assert abs(new.density() - 0.8 ** k) <= len(new) / new.size()
        mask = new


def test_magnitude_keeps_largest_weights():
    model = tiny_model()
    mask = mask_from_scores(SCORERS["magnitude"](model, Mask.dense(model), ScoreContext()), 0.5, "global", Mask.dense(model))
    params = dict(model.named_parameters())
    kept = torch.cat([params[n].detach().abs()[m] for n, m in mask.items()])
    pruned = torch.cat([params[n].detach().abs()[~m] for n, m in mask.items()])
    assert kept.min() >= pruned.max()


def test_pruned_weights_stay_exactly_zero_through_training():
    model = tiny_model()
    mask = mask_from_scores(SCORERS["random"](model, Mask.dense(model), ScoreContext(torch.Generator().manual_seed(1))),
                            0.3, "global", Mask.dense(model))
    apply_mask = mask.applier(model)
    apply_mask()
    opt = SGD(model.parameters(), momentum=0.9, weight_decay=5e-4)
    opt.set_lr(0.1)
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    params = dict(model.named_parameters())
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        assert any(params[n].grad[~m].abs().sum() > 0 for n, m in mask.items())  # gradients do reach them
        opt.step()
        apply_mask()
        for n, m in mask.items():
            assert torch.count_nonzero(params[n].detach()[~m]) == 0
            assert torch.count_nonzero(params[n].detach()[m]) == int(m.sum())


def test_mask_save_load_roundtrip(tmp_path):
    model = tiny_model()
    mask = mask_from_scores(SCORERS["magnitude"](model, Mask.dense(model), ScoreContext()), 0.4, "layerwise",
                            Mask.dense(model))
    mask.save(tmp_path / "mask.pt")
    loaded = Mask.load(tmp_path / "mask.pt")
    assert loaded.keys() == mask.keys() and all(torch.equal(loaded[n], mask[n]) for n in mask)
    assert all(m.dtype == torch.bool for m in loaded.values())


@pytest.mark.parametrize("fused", [True, False])
def test_sgd_matches_torch_sgd(fused):
    torch.manual_seed(0)
    a = torch.nn.Linear(5, 3)
    b = torch.nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    ours = SGD(a.parameters(), momentum=0.9, weight_decay=5e-4, fused=fused)
    theirs = torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    for step in range(4):
        lr = 0.1 / (step + 1)
        ours.set_lr(lr)
        for g in theirs.param_groups:
            g["lr"] = lr
        x = torch.randn(7, 5)
        for model, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)


@pytest.mark.parametrize("fused", [True, False])
def test_sgd_leaves_parameters_without_gradients_alone_as_torch_does(fused):
    torch.manual_seed(0)
    a = torch.nn.ModuleDict({"used": torch.nn.Linear(5, 3), "unused": torch.nn.Linear(5, 3)})
    b = torch.nn.ModuleDict({"used": torch.nn.Linear(5, 3), "unused": torch.nn.Linear(5, 3)})
    b.load_state_dict(a.state_dict())
    ours = SGD(a.parameters(), momentum=0.9, weight_decay=5e-4, fused=fused)
    theirs = torch.optim.SGD(b.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    ours.set_lr(0.1)
    x = torch.randn(7, 5)
    for model, opt in ((a, ours), (b, theirs)):
        for _ in range(2):
            opt.zero_grad()
            model["used"](x).square().mean().backward()
            opt.step()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, msg=name)
    assert torch.equal(a["unused"].weight, b["unused"].weight)


def test_mask_from_scores_never_revives_pruned_weights_whatever_the_scores():
    previous = Mask({"w": torch.tensor([True, True, False, False])})
    scores = {"w": torch.tensor([float("-inf"), 1.0, 2.0, 0.5])}  # a live weight scored -inf, pruned ones high
    for scope in ("global", "layerwise"):
        assert mask_from_scores(scores, 0.5, scope, previous)["w"].tolist() == [True, True, False, False]
        assert mask_from_scores(scores, 0.25, scope, previous)["w"].tolist() == [False, True, False, False]
        with pytest.raises(ValueError, match="only 2 are still alive"):
            mask_from_scores(scores, 0.75, scope, previous)
    with pytest.raises(ValueError, match="NaN"):
        mask_from_scores({"w": torch.tensor([float("nan"), 1.0, 2.0, 0.5])}, 0.25, "global", previous)


def test_empty_layers_are_reported():
    model = tiny_model()
    mask = Mask.dense(model)
    first = next(iter(mask))
    mask[first] = torch.zeros_like(mask[first])
    assert mask.empty_layers() == [first]
    assert mask.per_layer()[first]["density"] == 0.0


def test_sgd_uses_the_fused_kernel_where_torch_has_one():
    assert SGD(torch.nn.Linear(2, 2).parameters(), momentum=0.9, weight_decay=0.0).fused is True
    assert SGD(torch.nn.Linear(2, 2, device="meta").parameters(), momentum=0.9, weight_decay=0.0).fused is False
    assert SGD(torch.nn.Linear(2, 2).parameters(), momentum=0.9, weight_decay=0.0, fused=False).fused is False
