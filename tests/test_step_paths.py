"""Masks stay exact on every training path: fp32, bf16 autocast, channels_last, torch.compile, and (on CUDA) CUDA
graphs."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import augment
import models
from pruning import SCORERS, Mask, ScoreContext, mask_from_scores
from training.sgd import SGD
from training.step import GraphedStep, GraphedTransform, TrainStep, masked_update



def resnet() -> nn.Module:
    return models.build("resnet18", 10, width=8)


def tiny_convnet() -> nn.Module:
    """Two pruned convolutions with BatchNorm: compiles in about a second on a CPU, where ResNet-18 takes several."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


def make_step(device: str, precision: str, channels_last: bool, seed: int = 0, build=resnet, compile_kwargs=None):
    """``compile_kwargs``: None for the eager model, else ``torch.compile`` keyword arguments; the step calls the
    compiled model while the optimizer and the mask act on the original parameters, as in ``training.loop``."""
    torch.manual_seed(seed)
    model = build().to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    dense = Mask.dense(model)
    mask = mask_from_scores(SCORERS["magnitude"](model, dense, ScoreContext()), 0.2, "global", dense)
    apply_mask = mask.applier(model)
    apply_mask()
    opt = SGD(model.parameters(), momentum=0.9, weight_decay=5e-4)
    opt.set_lr(0.1)
    trained = model if compile_kwargs is None else torch.compile(model, **compile_kwargs)
    step = TrainStep(trained, opt, masked_update(opt, apply_mask), 10, 0.0, 0.0, torch.device(device), precision,
                     channels_last)
    return model, mask, step


def assert_pruned_zero(model, mask):
    params = dict(model.named_parameters())
    for name, m in mask.items():
        w = params[name].detach()
        assert torch.count_nonzero(w[~m.to(w.device)]) == 0, name


def kept_weights(model, mask) -> dict[str, torch.Tensor]:
    params = dict(model.named_parameters())
    return {name: params[name].detach()[m.to(params[name].device)].clone() for name, m in mask.items()}


def assert_kept_trained(model, mask, start: dict[str, torch.Tensor], optimizer: SGD, steps: int):
    """After ``steps`` SGD steps the kept weights moved, by their gradients and not only by weight decay (nearly all
    of them, in every layer), and none was zeroed. Master weights stay fp32 under bf16 autocast, so an exact 0.0
    among them means a wrong mask, not rounding."""
    decay, buf = 1.0, 0.0  # with zero gradients every weight just scales by `decay`
    for _ in range(steps):
        buf = optimizer.momentum * buf + optimizer.weight_decay * decay
        decay -= float(optimizer.lr) * buf
    now = kept_weights(model, mask)
    for name, before in start.items():
        after = now[name].to(before.device)
        assert before.numel() > 0, name
        assert (after != before).float().mean() >= 0.99, f"{name}: kept weights did not change"
        by_gradient = (after - decay * before).abs() > 1e-4 * before.abs()
        assert by_gradient.float().mean() >= 0.9, f"{name}: kept weights moved only by weight decay"
        assert torch.count_nonzero(after) == after.numel(), f"{name}: a kept weight became exactly 0"


def batches(device: str, n: int = 4, size: int = 16, aug: str = "autoaug"):
    """``n`` augmented uint8 batches with labels, as the training loop hands them to a step."""
    g = torch.Generator().manual_seed(1)
    policy = augment.build(aug, 32, cutout=0 if aug == "none" else 8)
    return [(policy(torch.randint(0, 256, (size, 3, 32, 32), generator=g, dtype=torch.uint8).to(device)),
             torch.randint(0, 10, (size,), generator=g).to(device)) for _ in range(n)]


@pytest.mark.parametrize("precision, channels_last", [("fp32", False), ("bf16", True)])
def test_masks_exact_on_cpu_paths(precision, channels_last):
    model, mask, step = make_step("cpu", precision, channels_last)
    start = kept_weights(model, mask)
    for x, y in batches("cpu", n=3):
        step(x, y)
    assert_pruned_zero(model, mask)
    assert_kept_trained(model, mask, start, step.optimizer, steps=3)
    assert step.loss_sum.item() > 0


def compiled_matches_eager(make) -> tuple[TrainStep, TrainStep]:
    """Run 3 steps of ``make(None)`` (eager) and ``make(aot_eager kwargs)`` side by side: the compiled steps must
    train the very parameters the mask and the optimizer hold, pruned weights stay zero, kept ones train, and
    both end with the same loss and state. Returns (eager step, compiled step)."""
    data = batches("cpu", n=3)
    eager_model, _, eager = make(None)
    model, mask, step = make({"backend": "aot_eager"})
    assert step.model is not model
    start = kept_weights(model, mask)
    try:
        for x, y in data:
            eager(x, y)
            step(x, y)
    finally:
        torch._dynamo.reset()
    assert_pruned_zero(model, mask)
    assert_kept_trained(model, mask, start, step.optimizer, steps=len(data))
    # a compiled graph holding stale (pre-step or unmasked) weights would diverge from step 2 on
    torch.testing.assert_close(step.loss_sum, eager.loss_sum, rtol=1e-5, atol=1e-6)
    for (name, a), b in zip(eager_model.state_dict().items(), model.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=lambda m: f"{name}: {m}")
    return eager, step


def test_masks_exact_with_compiled_model_on_cpu():
    """``torch.compile`` (aot_eager: same kernels, fast to build) matches the eager steps."""
    compiled_matches_eager(lambda kwargs: make_step("cpu", "fp32", False, build=tiny_convnet, compile_kwargs=kwargs))


@pytest.mark.cuda
@pytest.mark.parametrize("arch, head", [("resnet18", "linear"), ("hresnet18", "cosine"), ("fresnet18", "tvmf")])
def test_masks_exact_under_bf16_channels_last_and_cuda_graph(arch, head):
    """Every architecture and head replays from one CUDA graph under bf16 + channels_last, mask intact."""
    model, mask, step = make_step("cuda", "bf16", True, build=lambda: models.build(arch, 10, width=8, head=head))
    start = kept_weights(model, mask)
    data = batches("cuda", n=6)
    graphed = GraphedStep(step, *data[0])
    for x, y in data:
        graphed(x, y)
    torch.cuda.synchronize()
    assert_pruned_zero(model, mask)
    assert_kept_trained(model, mask, start, step.optimizer, steps=len(data))


@pytest.mark.cuda
def test_masks_exact_under_compiled_model_and_cuda_graph():
    """``--compile full`` on CUDA: ``torch.compile(model)`` (inductor) called inside the captured step."""
    model, mask, step = make_step("cuda", "bf16", True, compile_kwargs={})
    start = kept_weights(model, mask)
    data = batches("cuda", n=6)
    try:
        graphed = GraphedStep(step, *data[0])
        for x, y in data:
            graphed(x, y)
        torch.cuda.synchronize()
    finally:
        torch._dynamo.reset()
    assert_pruned_zero(model, mask)
    assert_kept_trained(model, mask, start, step.optimizer, steps=len(data))
    assert torch.isfinite(step.loss_sum) and step.loss_sum.item() > 0


@pytest.mark.cuda
def test_graph_replay_matches_eager_steps(monkeypatch):
    """Capture's warm-up steps leave no trace, and replays compute what eager steps compute."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # compare fp32 with fp32, not TF32
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    data = batches("cuda", n=5, aug="none")
    eager_model, _, eager = make_step("cuda", "fp32", False)
    graph_model, _, step = make_step("cuda", "fp32", False)
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


@pytest.mark.cuda
def test_graphed_augmentation_draws_fresh_randomness_per_replay_and_per_shape():
    policy = augment.build("autoaug", 32, cutout=8)
    graphed = GraphedTransform(policy)
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, device="cuda")
    first = graphed(x).clone()
    second = graphed(x).clone()
    assert first.shape == x.shape and first.dtype == torch.uint8
    assert not torch.equal(first, second)  # a replay is a new draw, not the captured one
    assert graphed(x[:16]).shape == (16, 3, 32, 32)  # a second chunk shape gets its own graph
    assert len(graphed.graphs) == 2
    plus_one = GraphedTransform(lambda t: t + 1)
    assert torch.equal(plus_one(x), x + 1) and torch.equal(plus_one(x.flip(0)), x.flip(0) + 1)  # reads each input


@pytest.mark.cuda
def test_compiled_augmentation_on_cuda_draws_from_the_eager_distribution_and_replays_fresh():
    """``--compile full``'s augmentation (training.loop.compile_augmentation) on CUDA. Its draws are not the eager
    policy's (same seed, other images: measured on an H200, torch 2.11), so what is checked is the distribution:
    one image augmented 16,384 times, compiled and eager, gives per-pixel means and standard deviations equal within
    sampling error, and distinct images; captured in its CUDA graph, each replay is a new draw."""
    from training.loop import compile_augmentation
    policy = augment.build("autoaug", 32, cutout=16).cuda()
    compiled = compile_augmentation(policy)
    n = 16384
    x = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8, device="cuda").expand(n, -1, -1, -1).contiguous()
    ours, eager = compiled(x).float(), policy(x).float()
    print(f"compiled vs eager (not the same seed): {(ours != eager).float().mean().item():.2f} of values differ")
    scale = (eager.var(0) + ours.var(0)).div(n).sqrt().clamp(min=0.5)  # standard error of the difference
    z_mean = (ours.mean(0) - eager.mean(0)) / scale
    z_std = (ours.std(0) - eager.std(0)) / (scale * 2**0.5)  # std's standard error is about std / sqrt(2n)
    print(f"largest |z| over 3,072 pixels: mean {z_mean.abs().max().item():.2f}, std {z_std.abs().max().item():.2f}")
    assert z_mean.abs().max() < 6 and z_std.abs().max() < 6
    assert len(torch.unique(ours.flatten(1), dim=0)) > 0.9 * n  # per-sample draws, not one draw for all
    graphed = GraphedTransform(compiled)
    first, second = graphed(x).clone(), graphed(x).clone()
    assert not torch.equal(first, second) and first.dtype == torch.uint8


def variant_convnet() -> nn.Module:
    """The variants' new modules in a net that compiles fast: a harmonic conv, a full-padding conv, a t-vMF head."""
    from models.fullconv import full_conv
    from models.harmonic import HarmonicConv2d
    from models.heads import TvMFHead
    return nn.Sequential(HarmonicConv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                         full_conv(8, 16, 3, 2), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), TvMFHead(16, 10, 16.0))


def test_variants_and_advprop_compile_to_the_eager_steps():
    """``--compile full`` with the harmonic conv, full padding, the t-vMF head and AdvProp's BatchNorm swap
    (aot_eager on the CPU): the compiled steps compute what the eager ones do, and the mask holds."""
    from training.advprop import AdvProp

    def advprop_step(compile_kwargs):
        model, mask, step = make_step("cpu", "fp32", False, build=variant_convnet, compile_kwargs=compile_kwargs)
        step.advprop = AdvProp(model, 8 / 255, 2 / 255, 2, random_start=False)  # no random draw: comparable
        for p in step.advprop.parameters():
            step.optimizer.params.append(p)
            step.optimizer.buffers.append(torch.zeros_like(p))
        return model, mask, step

    eager, step = compiled_matches_eager(advprop_step)
    for a, b in zip(eager.advprop.tensors(), step.advprop.tensors()):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_model_inputs_take_the_models_memory_format_whatever_the_batch_strides():
    """A channels-last uint8 batch (what `contrast` returns) must reach a default-format model as contiguous."""
    from training.precision import to_float
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    assert to_float(x, channels_last=False).is_contiguous()
    assert to_float(x.contiguous(), channels_last=True).is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(to_float(x, False), x.float() / 255)
