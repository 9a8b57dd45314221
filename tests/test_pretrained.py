"""Pretrained and self-supervised starts: prefixes and torchvision names map onto our layout, misses are
reported, a checkpoint that matches nothing stops the run, the 7x7 ImageNet stem is adapted into the CIFAR stem
and used. Every checkpoint here is written by the test (no network)."""
from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision
from torchvision.models._api import WeightsEnum

import models
from lottery.cli import main, parse_args
from models.pretrained import PREFIXES, adapt_stem_conv, initialise, load_into, model_key, read_checkpoint
from utils.errors import UserError
from tests.conftest import tiny_argv



def torchvision_state(arch: str = "resnet18") -> dict[str, torch.Tensor]:
    torch.manual_seed(7)
    model = getattr(torchvision.models, arch)(weights=None)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so loading them is visible
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return model.state_dict()


def save(obj, path: Path) -> str:
    torch.save(obj, path)
    return str(path)


def test_torchvision_names_translate_to_ours() -> None:
    assert model_key("conv1.weight") == "stem.0.weight"
    assert model_key("bn1.running_var") == "stem.1.running_var"
    assert model_key("layer2.1.conv2.weight") == "layer2.1.body.1.0.weight"
    assert model_key("layer3.0.bn3.bias") == "layer3.0.body.2.1.bias"
    assert model_key("layer4.0.downsample.1.weight") == "layer4.0.shortcut.1.weight"
    assert model_key("module.encoder_q.layer1.0.bn1.weight") == "layer1.0.body.0.1.weight"
    assert model_key("layer1.0.body.0.0.weight") == "layer1.0.body.0.0.weight"  # our own layout passes through


@pytest.mark.parametrize("prefix", [*PREFIXES, "module.encoder_q.", "model.backbone.", ""])
def test_each_prefix_loads_every_backbone_tensor(prefix: str) -> None:
    state = torchvision_state()
    model = models.build("resnet18", 10, image_size=96)  # the ImageNet stem: the 7x7 conv loads as it is
    report = load_into(model, {prefix + k: v for k, v in state.items()}, "test")
    ours = model.state_dict()
    assert report.fresh == ["normalize.mean", "normalize.std", "fc.weight", "fc.bias"]
    assert len(report.loaded) == len(state) - 2 and not report.adapted
    assert set(report.unused) == {prefix + "fc.weight", prefix + "fc.bias"}
    assert all("classifier" in why for why in report.unused.values())
    assert torch.equal(ours["stem.0.weight"], state["conv1.weight"])
    assert torch.equal(ours["layer2.0.shortcut.0.weight"], state["layer2.0.downsample.0.weight"])
    assert torch.equal(ours["layer4.1.body.1.1.running_var"], state["layer4.1.bn2.running_var"])


def test_moco_style_resnet50_training_checkpoint(tmp_path) -> None:
    """MoCo saves {'epoch', 'arch', 'state_dict': {'module.encoder_q.*'}} with an MLP projection head as fc."""
    state = torchvision_state("resnet50")
    backbone = {f"module.encoder_q.{k}": v for k, v in state.items() if not k.startswith("fc.")}
    projection = {"module.encoder_q.fc.0.weight": torch.zeros(2048, 2048), "module.queue": torch.zeros(128, 8)}
    path = save({"epoch": 200, "arch": "resnet50", "state_dict": {**backbone, **projection}}, tmp_path / "moco.pth")
    model = models.build("resnet50", 10)
    report = load_into(model, read_checkpoint(path), path)
    assert len(report.loaded) == len(backbone)
    assert report.unused == {"module.encoder_q.fc.0.weight": "classifier: trained from scratch",
                             "module.queue": "not in the model"}
    torch.testing.assert_close(model.state_dict()["layer3.5.body.2.0.weight"], state["layer3.5.conv3.weight"])


def test_misses_are_reported(tmp_path, capsys) -> None:
    state = {f"backbone.{k}": v for k, v in torchvision_state().items() if not k.startswith("layer4.1.bn2.")}
    state["backbone.layer1.0.conv1.weight"] = torch.zeros(64, 64, 5, 5)  # wrong shape
    state["backbone.projector.0.weight"] = torch.zeros(4, 4)
    model = models.build("resnet18", 10, image_size=96)
    report = initialise(model, "random", save(state, tmp_path / "byol.pt"), "resnet18")
    assert {"layer4.1.body.1.1.weight", "layer4.1.body.1.1.running_mean", "layer1.0.body.0.0.weight"} \
        <= set(report.fresh)
    assert report.unused["backbone.layer1.0.conv1.weight"] == "shape (64, 64, 5, 5), model (64, 64, 3, 3)"
    assert report.unused["backbone.projector.0.weight"] == "not in the model"
    text = report.summary()
    assert "layer4.1.body.1.1.weight" in text and "backbone.projector.0.weight (not in the model)" in text


def test_nothing_matching_is_a_clear_error(tmp_path, capsys) -> None:
    path = save({"encoder.blocks.0.attn.qkv.weight": torch.zeros(3, 3)}, tmp_path / "vit.pt")
    with pytest.raises(UserError, match="no tensor of .* matches the model"):
        initialise(models.build("resnet18", 10, width=4), "random", path, "resnet18")
    # through the CLI: one line, exit 2, and no run directory left behind
    out = tmp_path / "runs"
    assert main(tiny_argv(out, "--init-checkpoint", path)) == 2
    assert "encoder.blocks.0.attn.qkv.weight" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_stem_adaptation_keeps_each_filter_sum() -> None:
    flat = torch.full((2, 3, 7, 7), 0.5)
    adapted = adapt_stem_conv(flat, 3)
    assert adapted.shape == (2, 3, 3, 3)
    torch.testing.assert_close(adapted.sum((2, 3)), flat.sum((2, 3)))
    w = torch.randn(64, 3, 7, 7)
    assert torch.corrcoef(torch.stack([adapt_stem_conv(w, 3).sum((2, 3)).flatten(),
                                       w.sum((2, 3)).flatten()]))[0, 1] > 0.9


def test_init_imagenet_offline_trains_from_the_adapted_stem(tmp_path) -> None:
    """--init imagenet with a local copy of torchvision's file: level 0 starts from the pretrained weights, the
    CIFAR stem from the adapted 7x7 conv (not a fresh initialisation), and the rewind state is those weights."""
    state = torchvision_state()
    path = save(state, tmp_path / "resnet18-f37072fd.pth")
    out = tmp_path / "runs"
    argv = ["--dataset", "synthetic", "--per-class", "2", "--rounds", "1", "--epochs", "1", "--batch-size", "20",
            "--rewind", "init", "--eval-every", "0", "--device", "cpu", "--out", str(out), "--lr", "0.001",
            "--init", "imagenet", "--init-checkpoint", path]
    assert main(argv) == 0
    (run_dir,) = out.iterdir()
    start = torch.load(run_dir / "level_0" / "rewind.pt")
    torch.testing.assert_close(start["stem.0.weight"], adapt_stem_conv(state["conv1.weight"], 3))
    torch.manual_seed(0)
    fresh = models.build("resnet18", 10).state_dict()
    assert not torch.allclose(start["stem.0.weight"], fresh["stem.0.weight"])
    assert torch.equal(start["layer3.1.body.0.0.weight"], state["layer3.1.conv1.weight"])
    assert torch.equal(start["stem.1.running_mean"], state["bn1.running_mean"])
    init = json.loads((run_dir / "init.json").read_text())
    assert init["adapted"] == ["stem.0.weight (64, 3, 7, 7) -> (64, 3, 3, 3)"] and len(init["loaded"]) == 120
    trained = torch.load(run_dir / "level_0" / "weights.pt")
    assert not torch.equal(trained["stem.0.weight"], start["stem.0.weight"])  # and then it trained


def test_init_imagenet_asks_torchvision_and_explains_offline_failure(monkeypatch) -> None:
    asked = []

    def fake_download(weights, progress=True):
        asked.append(weights.url)
        return torchvision_state()

    monkeypatch.setattr(WeightsEnum, "get_state_dict", fake_download)
    model = models.build("fresnet18", 10)
    report = initialise(model, "imagenet", "", "fresnet18")
    assert asked == [torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url] and report.source == asked[0]
    assert len(report.loaded) == 120

    def offline(weights, progress=True):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(WeightsEnum, "get_state_dict", offline)
    with pytest.raises(UserError, match="--init-checkpoint"):
        initialise(model, "imagenet", "", "fresnet18")


@pytest.mark.parametrize("extra, words", [
    (["--init", "imagenet", "--arch", "hresnet18", "--width", "64"], "--init imagenet needs an arch"),
    (["--init", "imagenet"], "--width 64"),
    (["--init-checkpoint", "/nonexistent/ckpt.pth"], "no such file"),
])
def test_init_validation(tmp_path, extra, words) -> None:
    with pytest.raises(UserError, match=words):
        parse_args(tiny_argv(tmp_path, *extra))
