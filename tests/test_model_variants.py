"""Classifier heads and the harmonic and full-convolution ResNet-18s: each is what it claims and differs from
the plain model (tiny widths, CPU)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import models
from models import HEADS, MODELS, HarmonicConv2d, build
from models.harmonic import dct_basis
from pruning import Mask, prunable_names



@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("head", sorted(HEADS))
def test_every_model_takes_every_head(name: str, head: str) -> None:
    model = build(name, 7, width=4, head=head)
    out = model(torch.rand(3, 3, 32, 32))
    assert out.shape == (3, 7) and torch.isfinite(out).all()
    assert isinstance(model.fc, nn.Linear) and model.fc.out_features == 7
    assert not any(name.startswith("fc.") for name in prunable_names(model)), "the head is never pruned"


def test_cosine_head_is_scaled_cosine() -> None:
    head = build("resnet18", 5, width=4, head="cosine").fc
    features = torch.randn(4, head.in_features)
    expected = head.logit_scale() * F.normalize(features, dim=1) @ F.normalize(head.weight, dim=1).T
    torch.testing.assert_close(head(features), expected)
    assert head.bias is None and head.scale_offset.requires_grad
    # invariant to the feature norm, unlike the linear head
    torch.testing.assert_close(head(3 * features), head(features))


def test_tvmf_head_follows_its_formula_and_kappa() -> None:
    torch.manual_seed(1)
    tvmf = build("resnet18", 5, width=4, head="tvmf", tvmf_kappa=16.0).fc
    features = torch.randn(4, tvmf.in_features)
    cos = F.normalize(features, dim=1) @ F.normalize(tvmf.weight, dim=1).T
    torch.testing.assert_close(tvmf(features), tvmf.logit_scale() * ((1 + cos) / (1 + 16 * (1 - cos)) - 1))
    cosine = models.heads.CosineHead(tvmf.in_features, 5)
    cosine.load_state_dict(tvmf.state_dict())
    flat = build("resnet18", 5, width=4, head="tvmf", tvmf_kappa=0.0).fc
    flat.load_state_dict(tvmf.state_dict())
    torch.testing.assert_close(flat(features), cosine(features))  # kappa 0 is the cosine head
    assert not torch.allclose(tvmf(features), cosine(features))


@pytest.mark.parametrize("name", ["cosine", "tvmf"])
def test_head_scale_is_the_authors_softplus_by_default_and_raw_on_request(name: str) -> None:
    head = build("resnet18", 5, width=4, head=name).fc
    assert [n for n, _ in head.named_parameters()] == ["weight", "scale_offset"] and head.scale_offset.item() == 0
    assert head.logit_scale().item() == pytest.approx(1 + math.log(2))  # 1 + softplus(0) = 1.69
    with torch.no_grad():
        head.scale_offset.fill_(-50.0)  # weight decay pulls s_ down: the scale stays above 1
    assert 1 <= head.logit_scale().item() < 1 + 1e-6
    features = torch.randn(4, head.in_features)
    head(features).sum().backward()
    assert head.scale_offset.grad is not None and head.scale_offset.grad.item() != 0
    raw = build("resnet18", 5, width=4, head=name, head_scale="raw").fc  # the earlier parameterisation
    assert [n for n, _ in raw.named_parameters()] == ["weight", "scale"] and raw.logit_scale().item() == 10.0


def test_heads_compute_in_fp32_under_bf16_autocast() -> None:
    head = build("resnet18", 5, width=4, head="tvmf").fc
    features = torch.randn(4, head.in_features)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(features.bfloat16())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, head(features.bfloat16().float()))


def test_dct_basis_is_orthonormal_and_complete() -> None:
    for k in (3, 7):
        flat = dct_basis(k).reshape(k * k, k * k)
        torch.testing.assert_close(flat @ flat.T, torch.eye(k * k), atol=1e-5, rtol=0)
    assert torch.allclose(dct_basis(3)[0], torch.full((3, 3), 1 / 3))  # frequency (0, 0) is the mean filter


def test_harmonic_basis_is_orthonormal_by_default_and_the_released_l1_on_request() -> None:
    orthonormal, l1 = dct_basis(3), dct_basis(3, "l1")
    torch.testing.assert_close(l1.abs().sum((1, 2)), torch.ones(9))  # the released code's normalisation
    torch.testing.assert_close(l1 * orthonormal.abs().sum((1, 2), keepdim=True), orthonormal)  # same filters, rescaled
    default, released = build("hresnet18", 10, width=4), build("hresnet18", 10, width=4, harmonic_basis="l1")
    for conv, expected in ((default.layer1[0].body[0][0], orthonormal), (released.layer1[0].body[0][0], l1)):
        torch.testing.assert_close(conv.basis, expected.reshape(9, 9))


@pytest.mark.parametrize("image_size", [32, 96])
def test_harmonic_resnet_differs_from_plain_and_prunes_its_coefficients(image_size: int) -> None:
    plain, harmonic = build("resnet18", 10, width=8, image_size=image_size), \
        build("hresnet18", 10, width=8, image_size=image_size)
    k = 3 if image_size <= models.CIFAR_STEM_MAX_SIZE else 7
    assert harmonic.stem[0].coefficients.shape == (8, 3, k * k)
    assert plain.stem[0].weight.shape == (8, 3, k, k)
    names = prunable_names(harmonic)
    coefficient_names = [n for n in names if n.endswith(".coefficients")]
    # every 3x3 (and the 7x7 stem) is harmonic, the three 1x1 projection shortcuts stay plain
    assert len(coefficient_names) == 17 and len(names) == 20
    assert sum(p.numel() for p in harmonic.parameters()) == sum(p.numel() for p in plain.parameters())
    conv = harmonic.layer1[0].body[0][0]
    assert isinstance(conv, HarmonicConv2d)
    x = torch.rand(2, 8, 16, 16)
    filters = torch.einsum("oib,bhw->oihw", conv.coefficients, dct_basis(3))
    torch.testing.assert_close(conv(x), F.conv2d(x, filters, padding=1), rtol=1e-4, atol=1e-5)
    assert harmonic(torch.rand(2, 3, image_size, image_size)).shape == (2, 10)


def test_harmonic_init_has_the_plain_filter_statistics() -> None:
    conv = HarmonicConv2d(64, 128, 3)
    assert conv.filters().std().item() == pytest.approx(math.sqrt(2 / (128 * 9)), rel=0.05)
    assert "basis" not in conv.state_dict()  # fixed and rebuilt: not saved


def test_harmonic_mask_zeroes_frequencies() -> None:
    model = build("hresnet18", 10, width=4)
    mask = Mask.dense(model)
    name = "layer1.0.body.0.0.coefficients"
    mask[name][..., 0] = False  # drop every filter's mean (DC) component
    mask.apply_(model)
    conv = model.layer1[0].body[0][0]
    torch.testing.assert_close(conv.filters().sum((2, 3)), torch.zeros(4, 4), atol=1e-6, rtol=0)


def _patch_image(top: int, left: int) -> torch.Tensor:
    torch.manual_seed(3)
    patch = torch.rand(3, 8, 8)
    x = torch.zeros(1, 3, 32, 32)
    x[0, :, top:top + 8, left:left + 8] = patch
    return x


def test_full_convolution_cannot_see_absolute_position() -> None:
    """A patch in the corner and the same patch in the middle (shifted by a multiple of the total stride, 8) give
    the same logits with full convolutions; the plain ResNet's zero padding tells them apart. (Identity input
    normalisation and BatchNorm at initialisation, so the empty background stays exactly zero.)"""
    corner, middle = _patch_image(0, 0), _patch_image(16, 16)
    with torch.no_grad():
        full = build("fresnet18", 10, width=8).eval()
        torch.testing.assert_close(full(corner), full(middle), rtol=1e-4, atol=1e-6)
        torch.manual_seed(0)
        plain = build("resnet18", 10, width=8).eval()
        assert not torch.allclose(plain(corner), plain(middle), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("image_size", [32, 96])
def test_full_convolution_resnet_differs_from_plain(image_size: int) -> None:
    torch.manual_seed(0)
    plain = build("resnet18", 10, width=8, image_size=image_size).eval()
    torch.manual_seed(0)
    full = build("fresnet18", 10, width=8, image_size=image_size).eval()
    # same parameters, drawn identically: only the padding differs
    for (name, a), b in zip(plain.state_dict().items(), full.state_dict().values()):
        assert torch.equal(a, b), name
    assert all(c.padding == (c.kernel_size[0] - 1,) * 2 for c in full.modules()
               if isinstance(c, nn.Conv2d) and c.kernel_size[0] > 1)
    x = torch.rand(2, 3, image_size, image_size)
    with torch.no_grad():
        assert full.layer1(full.stem(full.normalize(x))).shape[-1] > plain.layer1(plain.stem(x)).shape[-1]
        assert not torch.allclose(full(x), plain(x))


def test_kappa_head_scale_and_harmonic_basis_only_where_they_apply(tmp_path) -> None:
    from lottery.cli import parse_args
    from tests.conftest import tiny_argv
    from utils.errors import UserError

    with pytest.raises(UserError, match="--tvmf-kappa applies to --head tvmf only"):
        parse_args(tiny_argv(tmp_path, "--tvmf-kappa", "4"))
    assert parse_args(tiny_argv(tmp_path, "--head", "tvmf", "--tvmf-kappa", "4")).model.tvmf_kappa == 4
    with pytest.raises(UserError, match="--head-scale applies to --head cosine and tvmf only"):
        parse_args(tiny_argv(tmp_path, "--head-scale", "raw"))
    assert parse_args(tiny_argv(tmp_path, "--head", "cosine", "--head-scale", "raw")).model.head_scale == "raw"
    with pytest.raises(UserError, match="--harmonic-basis applies to --arch hresnet18 only"):
        parse_args(tiny_argv(tmp_path, "--harmonic-basis", "l1"))
    assert parse_args(tiny_argv(tmp_path, "--arch", "hresnet18", "--harmonic-basis", "l1")).model.harmonic_basis == "l1"
