"""Tests for the model zoo in :mod:`models` (tiny widths so they run on CPU in seconds)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import models
from models import MODELS, Normalize, build

RESNETS = [n for n in MODELS if n.startswith("resnet")]
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_has_required_names() -> None:
    assert {"resnet18", "resnet34", "resnet50", "hresnet18", "fresnet18", "vgg16_bn"} <= set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_shape_32(name: str) -> None:
    model = build(name, 7, width=8)
    out = model(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_grayscale_input(name: str) -> None:
    model = build(name, 5, in_channels=1, width=8, mean=(0.1307,), std=(0.3081,)).eval()
    assert model.normalize.mean.shape == (1, 1, 1, 1)
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 5)


@pytest.mark.parametrize("name", RESNETS)
def test_resnet_imagenet_stem(name: str) -> None:
    model = build(name, 4, width=8, image_size=128).eval()
    stem = list(model.stem)
    assert isinstance(stem[0], nn.Conv2d) and stem[0].kernel_size == (7, 7) and stem[0].stride == (2, 2)
    assert any(isinstance(m, nn.MaxPool2d) for m in stem)
    assert model(torch.rand(2, 3, 128, 128)).shape == (2, 4)


@pytest.mark.parametrize(("image_size", "imagenet"), [(32, False), (64, False), (65, True), (224, True)])
def test_resnet_stem_choice(image_size: int, imagenet: bool) -> None:
    model = build("resnet18", 10, width=8, image_size=image_size)
    conv = model.stem[0]
    assert conv.kernel_size == ((7, 7) if imagenet else (3, 3))
    assert conv.stride == ((2, 2) if imagenet else (1, 1))
    assert any(isinstance(m, nn.MaxPool2d) for m in model.stem) == imagenet


@pytest.mark.parametrize(
    ("name", "num_classes", "image_size", "expected"),
    [
        ("resnet18", 10, 32, 11_173_962),
        ("resnet50", 10, 32, 23_520_842),
        # bias-free convs (each is followed by BN); with conv biases it would be 14,728,266.
        ("vgg16_bn", 10, 32, 14_724_042),
        # The ImageNet stem reproduces torchvision's parameter counts exactly.
        ("resnet18", 1000, 224, 11_689_512),
        ("resnet34", 1000, 224, 21_797_672),
        ("resnet50", 1000, 224, 25_557_032),
    ],
)
def test_parameter_counts(name: str, num_classes: int, image_size: int, expected: int) -> None:
    assert n_params(build(name, num_classes, image_size=image_size)) == expected


@pytest.mark.parametrize("name", sorted(MODELS))
def test_layer_types_for_pruning(name: str) -> None:
    model = build(name, 10, width=8)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert convs and all(c.bias is None for c in convs)
    assert linears == [model.fc]
    allowed = (nn.Conv2d, models.HarmonicConv2d, nn.BatchNorm2d, nn.Linear, Normalize)
    for m in model.modules():
        if any(True for _ in m.parameters(recurse=False)):
            assert isinstance(m, allowed), type(m)
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


def test_conv_init_is_kaiming_fan_out() -> None:
    conv = build("resnet18", 10).layer4[1].body[1][0]  # 512 -> 512, 3x3
    expected_std = (2.0 / (conv.out_channels * 9)) ** 0.5
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.02)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_first_submodule_is_normalize(name: str) -> None:
    model = build(name, 10, width=8, mean=CIFAR_MEAN, std=CIFAR_STD)
    first = next(model.children())
    assert isinstance(first, Normalize) and first is model.normalize
    assert first.mean.shape == (1, 3, 1, 1) and first.std.shape == (1, 3, 1, 1)
    assert torch.allclose(first.mean.flatten(), torch.tensor(CIFAR_MEAN))
    buffers = dict(model.named_buffers())
    assert "normalize.mean" in buffers and "normalize.std" in buffers


def test_default_normalization_is_identity() -> None:
    norm = build("resnet18", 10, in_channels=2, width=8).normalize
    x = torch.rand(2, 2, 4, 4)
    assert torch.equal(norm(x), x)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_normalization_happens_inside(name: str) -> None:
    with_stats = build(name, 10, width=8, mean=CIFAR_MEAN, std=CIFAR_STD).eval()
    identity = build(name, 10, width=8).eval()
    weights = {k: v for k, v in with_stats.state_dict().items() if not k.startswith("normalize.")}
    missing, unexpected = identity.load_state_dict(weights, strict=False)
    assert sorted(missing) == ["normalize.mean", "normalize.std"] and not unexpected

    x = torch.rand(2, 3, 32, 32)
    pre = (x - torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1)) / torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(with_stats(x), identity(pre), rtol=1e-4, atol=1e-5)
        assert not torch.allclose(with_stats(x), identity(x))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_channels_last_matches_contiguous(name: str) -> None:
    model = build(name, 10, width=8, mean=CIFAR_MEAN, std=CIFAR_STD).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        out_cl = model(x.to(memory_format=torch.channels_last))
        model_cl = model.to(memory_format=torch.channels_last)
        both_cl = model_cl(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out_cl, ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(both_cl, ref, rtol=1e-4, atol=1e-5)


def test_input_gradient_flows() -> None:
    """Attack code differentiates w.r.t. the [0, 1] input, through the Normalize module."""
    model = build("resnet18", 10, width=8, mean=CIFAR_MEAN, std=CIFAR_STD).eval()
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    nn.functional.cross_entropy(model(x), torch.tensor([1, 2])).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_unknown_name_raises() -> None:
    with pytest.raises(ValueError, match="resnet18") as err:
        build("alexnet", 10)
    assert "alexnet" in str(err.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mean": (0.5, 0.5), "std": (0.5, 0.5, 0.5)},
        {"std": (0.5, 0.0, 0.5)},
        {"width": 0},
        {"in_channels": 0},
    ],
)
def test_bad_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        build("resnet18", 10, **kwargs)


def test_single_value_stats_broadcast() -> None:
    norm = build("vgg16_bn", 10, width=8, mean=(0.5,), std=(0.25,)).normalize
    assert torch.equal(norm.mean, torch.full((1, 3, 1, 1), 0.5))


def test_public_api() -> None:
    for name in models.__all__:
        assert hasattr(models, name)
