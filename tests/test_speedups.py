"""The candidate speed-ups of training/speedups.py (``--speedups``) compute what the defaults compute (on the CPU),
and the flag changes what the trainer runs, and only when given."""
from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F

import models
from lottery.cli import parse_args
from lottery.runner import run
from pruning import SCORERS, Mask, ScoreContext, mask_from_scores
from training import speedups
from training.sgd import SGD
from training.step import masked_update
from tests.conftest import tiny_argv
from tests.test_bench import TINY, bench
from tests.test_masks import tiny_model
from utils.errors import UserError
from utils.seeding import seed_all


def first_epoch(trainer) -> dict:
    """The training record of ``trainer``'s first epoch, its augmentation and batch order drawn from seed 0."""
    seed_all(0)
    return trainer.run_epoch(0)


def train(model: torch.nn.Module, make_update, steps: int = 3) -> tuple[Mask, list[float]]:
    """``steps`` SGD steps on fixed random data with half the conv weights pruned at random; the losses."""
    dense = Mask.dense(model)
    mask = mask_from_scores(SCORERS["random"](model, dense, ScoreContext(torch.Generator().manual_seed(1))), 0.5,
                            "global", dense)
    apply_mask = mask.applier(model)
    apply_mask()
    optimizer = SGD(model.parameters(), momentum=0.9, weight_decay=5e-4)
    optimizer.set_lr(0.1)
    update = make_update(optimizer, apply_mask)
    generator = torch.Generator().manual_seed(2)
    x, y = torch.rand(8, 3, 32, 32, generator=generator), torch.randint(0, 10, (8,), generator=generator)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        update()
        losses.append(loss.item())
    return mask, losses


def test_compiled_masked_update_is_the_update_and_keeps_pruned_weights_exactly_zero():
    reference, candidate = tiny_model(), tiny_model()
    mask, reference_losses = train(reference, masked_update)
    _, losses = train(candidate, speedups.compiled_masked_update)
    assert losses == pytest.approx(reference_losses, rel=1e-5)
    params = dict(candidate.named_parameters())
    for name, expected in reference.named_parameters():
        torch.testing.assert_close(params[name], expected, rtol=1e-5, atol=1e-6)
    for name, kept in mask.items():
        assert torch.count_nonzero(params[name].detach()[~kept]) == 0
        assert torch.count_nonzero(params[name].detach()[kept]) == int(kept.sum())
    # a later level (new momentum buffers, a new mask) reuses the compiled code: no recompilation per level
    frames = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    train(tiny_model(), speedups.compiled_masked_update, steps=1)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == frames


def test_compiled_masked_update_leaves_parameters_without_gradients_alone():
    model = tiny_model()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = SGD(model.parameters(), momentum=0.9, weight_decay=5e-4)
    optimizer.set_lr(0.1)
    speedups.compiled_masked_update(optimizer, Mask.dense(model).applier(model))()  # no backward yet
    for name, p in model.named_parameters():
        torch.testing.assert_close(p, before[name], rtol=0, atol=0)


def test_uncounted_batchnorm_changes_no_output_no_statistic_and_no_state_dict_key():
    reference = tiny_model()
    candidate = speedups.freeze_bn_counters(copy.deepcopy(reference))
    assert all(type(m) is speedups.UncountedBatchNorm2d for m in candidate.modules()
               if isinstance(m, torch.nn.BatchNorm2d))
    x = torch.rand(8, 3, 32, 32)
    for train_mode in (True, True, False):
        reference.train(train_mode)
        candidate.train(train_mode)
        torch.testing.assert_close(candidate(x), reference(x), rtol=0, atol=0)
    state = candidate.state_dict()
    assert state.keys() == reference.state_dict().keys()
    for key, value in reference.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            torch.testing.assert_close(state[key], value, rtol=0, atol=0)
    assert int(reference.state_dict()["stem.1.num_batches_tracked"]) == 2  # the counter did count
    assert int(state["stem.1.num_batches_tracked"]) == 0  # and here stood still
    candidate.load_state_dict(reference.state_dict())  # weights load either way
    reference.load_state_dict(state)


@pytest.mark.parametrize("stride, padding, bias", [(1, 1, False), (2, 0, True)])
def test_im2col_convolution_is_the_convolution_in_the_inputs_layout(stride, padding, bias):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 16, 3, stride, padding, bias=bias)
    im2col = copy.deepcopy(conv)
    im2col.__class__ = speedups.Im2colConv2d
    for layout in (torch.channels_last, torch.contiguous_format):
        x = torch.rand(4, 3, 12, 12).to(memory_format=layout)
        expected, out = conv(x), im2col(x)
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
        assert out.is_contiguous(memory_format=layout)
        grad = torch.randn_like(expected)
        conv.zero_grad()
        im2col.zero_grad()
        expected.backward(grad)
        out.backward(grad)
        torch.testing.assert_close(im2col.weight.grad, conv.weight.grad, rtol=1e-4, atol=1e-4)


def test_im2col_stem_swaps_only_the_stem_and_keeps_the_state_dict():
    reference = tiny_model()
    model = speedups.im2col_stem(copy.deepcopy(reference))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert type(convs[0]) is speedups.Im2colConv2d and all(type(m) is torch.nn.Conv2d for m in convs[1:])
    assert model.state_dict().keys() == reference.state_dict().keys()
    x = torch.rand(4, 3, 32, 32)
    torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-4)
    grouped = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(UserError, match="needs a plain convolution"):
        speedups.im2col_stem(grouped)
    harmonic = models.build("hresnet18", 10, width=4)  # a harmonic stem, its first plain conv a 1x1 shortcut
    with pytest.raises(UserError, match="HarmonicConv2d"):
        speedups.im2col_stem(harmonic)


def test_speedup_names_parse_in_one_order_and_unknown_ones_are_refused():
    assert speedups.parse_speedups("") == ()
    assert speedups.parse_speedups(" im2col_stem,masked_update,im2col_stem,") == ("masked_update", "im2col_stem")
    with pytest.raises(UserError, match="unknown fast; choose from masked_update, bn_counters, im2col_stem"):
        speedups.parse_speedups("masked_update,fast")


def test_no_speedups_flag_is_the_default_step():
    """``--speedups ""`` (the default) trains bit for bit as without the flag: same modules, same update."""
    _, env, _, model, trainer = bench.build_trainer(TINY.split())
    _, flagged_env, _, flagged, flagged_trainer = bench.build_trainer([*TINY.split(), "--speedups", ""])
    assert env.speedups == flagged_env.speedups == () and "speedups" not in env.describe()
    assert all(type(m).__module__.startswith("torch.nn") for m in [*model.modules(), *flagged.modules()]
               if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d)))
    assert trainer.step.update.__qualname__.startswith("masked_update")
    assert first_epoch(trainer) == first_epoch(flagged_trainer)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(flagged.state_dict()[key], value, rtol=0, atol=0)


def test_speedups_flag_changes_what_the_trainer_runs_and_not_what_it_computes():
    """At --lr 0.01: at the default 0.1 this tiny network is chaotic, a 2e-7 change of the stem's weights growing
    to 1e-2 in six steps of plain training, so any change of rounding shows as a change of weights."""
    tiny = [*TINY.split(), "--lr", "0.01"]
    _, _, _, model, trainer = bench.build_trainer(tiny)
    argv = [*tiny, "--speedups", "im2col_stem,bn_counters,masked_update"]
    _, env, _, levered, levered_trainer = bench.build_trainer(argv)
    assert env.speedups == speedups.SPEEDUPS
    assert env.describe()["speedups"] == ["masked_update", "bn_counters", "im2col_stem"]
    assert type(levered.stem[0]) is speedups.Im2colConv2d
    assert all(type(m) is speedups.UncountedBatchNorm2d for m in levered.modules()
               if isinstance(m, torch.nn.BatchNorm2d))
    assert levered_trainer.step.update.__qualname__.startswith("compiled_masked_update")
    expected, record = first_epoch(trainer), first_epoch(levered_trainer)
    assert record["train_loss"] == pytest.approx(expected["train_loss"], rel=1e-5)
    state = levered.state_dict()
    assert state.keys() == model.state_dict().keys()
    for key, value in model.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            torch.testing.assert_close(state[key], value, rtol=1e-5, atol=1e-5)


def test_a_run_with_speedups_is_the_same_run_and_resumes_without_them(tmp_path):
    """Not in the run id, like --compile: level 1 loads level 0's state as usual, metrics.json records the
    speed-ups, and the run continues with more rounds without the flag (the state dicts are the plain model's)."""
    argv = tiny_argv(tmp_path, "--speedups", "masked_update,bn_counters,im2col_stem")
    hp = parse_args(argv)
    assert hp.run_id() == parse_args(tiny_argv(tmp_path)).run_id()
    assert [r["level"] for r in run(hp)] == [0, 1]
    (root,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    environment = json.loads((root / "level_1" / "metrics.json").read_text())["environment"]
    assert environment["speedups"] == ["masked_update", "bn_counters", "im2col_stem"]
    assert [r["level"] for r in run(parse_args(tiny_argv(tmp_path, "--rounds", "3")))] == [0, 1, 2]
    assert "speedups" not in json.loads((root / "level_2" / "metrics.json").read_text())["environment"]
