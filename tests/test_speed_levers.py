"""The candidate speed-ups of bench/speed_levers.py compute what the defaults compute (on the CPU)."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from pruning import SCORERS, Mask, ScoreContext, mask_from_scores
from training.sgd import SGD
from training.step import masked_update
from tests.test_bench import load_script
from tests.test_masks import tiny_model

levers = load_script("speed_levers")


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


def test_compiled_masked_update_is_the_update_and_keeps_pruned_weights_exactly_zero(one_thread):
    reference, candidate = tiny_model(), tiny_model()
    mask, reference_losses = train(reference, masked_update)
    _, losses = train(candidate, levers.compiled_masked_update)
    assert losses == pytest.approx(reference_losses, rel=1e-5)
    params = dict(candidate.named_parameters())
    for name, expected in reference.named_parameters():
        torch.testing.assert_close(params[name], expected, rtol=1e-5, atol=1e-6)
    for name, kept in mask.items():
        assert torch.count_nonzero(params[name].detach()[~kept]) == 0
        assert torch.count_nonzero(params[name].detach()[kept]) == int(kept.sum())


def test_dropping_bn_counters_changes_no_output_and_no_running_statistic():
    reference = tiny_model()
    candidate = levers.drop_bn_counters(copy.deepcopy(reference))
    x = torch.rand(8, 3, 32, 32)
    for _ in range(2):
        torch.testing.assert_close(candidate(x), reference(x), rtol=0, atol=0)
    assert not any(key.endswith("num_batches_tracked") for key in candidate.state_dict())
    for key, value in candidate.state_dict().items():
        torch.testing.assert_close(value, reference.state_dict()[key], rtol=0, atol=0)
    assert int(reference.state_dict()["stem.1.num_batches_tracked"]) == 2  # the counter did count


@pytest.mark.parametrize("stride, padding, bias", [(1, 1, False), (2, 0, True)])
def test_im2col_convolution_is_the_convolution_in_the_inputs_layout(stride, padding, bias):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 16, 3, stride, padding, bias=bias)
    im2col = copy.deepcopy(conv)
    im2col.__class__ = levers.Im2colConv2d
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
    model = levers.im2col_stem(copy.deepcopy(reference))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert type(convs[0]) is levers.Im2colConv2d and all(type(m) is torch.nn.Conv2d for m in convs[1:])
    assert model.state_dict().keys() == reference.state_dict().keys()
    x = torch.rand(4, 3, 32, 32)
    torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-4)
    grouped = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, groups=2))
    with pytest.raises(ValueError, match="not a plain convolution"):
        levers.im2col_stem(grouped)
