"""The image-file datasets (DEIC split files, VIPriors ImageFolder) on tiny fixtures in their official layouts:
exact file binding, classes, stored sizes and transforms per recipe, the decode cache, one-line errors, and a
one-level IMP run on each."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

import datasets
from augment.crop import RandomCropFlip
from augment.resized_crop import CenterCrop, RandomResizedCropFlip
from datasets import images as images_module
from datasets.folders import RECIPES
from lottery.cli import main, parse_args
from lottery.run import build_model, load_subset
from pruning import Mask
from tests.image_files import TOLERANCE, write_deic, write_imagefolder
from training.config import TrainConfig
from training.loop import Environment, LevelTrainer
from utils.errors import UserError


DEIC = ("eurosat_rgb", "isic", "clamm", "cub")
SIZE = 16  # --image-size of the tests: 224-px ResNets are too slow for a shared 2-core CPU


def stored_sizes(name: str) -> tuple[int, int]:
    """(train, test) side at --image-size SIZE: ImageNet-style sets store training images at 256/224."""
    return (SIZE, SIZE) if RECIPES[name].crop == "pad" else (round(SIZE * 256 / 224), SIZE)


@pytest.fixture
def deic(tmp_path):
    def make(name: str, **kw) -> tuple[Path, dict]:
        root = tmp_path / name
        return root, write_deic(root, names=name == "cub", **kw)
    return make


def assert_bound(x: torch.Tensor, y: torch.Tensor, rows) -> None:
    """Image i came from the file on line i (its mean identifies the file) with that line's class."""
    assert y.tolist() == [c for _, c, _ in rows]
    means = x.float().mean((1, 2, 3))
    for (rel, _, v), m in zip(rows, means.tolist()):
        assert abs(m - v) < TOLERANCE, f"{rel}: loaded mean {m:.1f}, file value {v}"


@pytest.mark.parametrize("name", DEIC)
def test_deic_binds_each_line_to_its_file_with_its_class(deic, name):
    root, listing = deic(name)
    d = datasets.load(name, str(root), SIZE)
    train, test = stored_sizes(name)
    channels = RECIPES[name].channels
    assert d.x_train.shape == (9, channels, train, train) and d.x_test.shape == (6, channels, test, test)
    assert d.num_classes == 3 and np.bincount(d.y_train.numpy()).tolist() == [3, 3, 3]
    assert np.bincount(d.y_test.numpy()).tolist() == [2, 2, 2]
    assert d.image_size == test and d.train_size == train and d.in_channels == channels
    pixels = d.x_train.double().div(255).transpose(0, 1).reshape(channels, -1)
    assert np.allclose(d.mean, pixels.mean(1).numpy()) and np.allclose(d.std, pixels.std(1, correction=0).numpy())
    assert_bound(d.x_train, d.y_train, listing["trainval"])
    assert_bound(d.x_test, d.y_test, listing["test"])


def test_recipe_sizes_are_the_papers(deic):
    root, _ = deic("isic")
    assert datasets.load("isic", str(root)).x_test.shape[1:] == (3, 224, 224)
    assert datasets.load("isic", str(root)).x_train.shape[1:] == (3, 256, 256)
    assert datasets.load("clamm", str(root)).x_test.shape[1:] == (1, 224, 224)
    assert datasets.load("eurosat_rgb", str(root)).x_train.shape[1:] == (3, 64, 64)
    assert datasets.load("eurosat_rgb", str(root)).x_test.shape[1:] == (3, 64, 64)


def test_imagenet_subset_reads_the_vipriors_folders(tmp_path):
    listing = write_imagefolder(tmp_path)
    d = datasets.load("imagenet_subset", str(tmp_path), SIZE)
    assert d.num_classes == 3 and d.x_train.shape == (9, 3, 18, 18) and d.x_test.shape == (6, 3, SIZE, SIZE)
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset
    for split, x, y in (("train", d.x_train, d.y_train), ("val", d.x_test, d.y_test)):
        order = make_dataset(str(tmp_path / split), {w: i for i, w in enumerate(sorted(
            p.name for p in (tmp_path / split).iterdir()))}, extensions=IMG_EXTENSIONS)
        rows = [(path, *listing[split][path]) for path, _ in order]
        assert len(rows) == len(listing[split])
        assert_bound(x, y, rows)


def test_test_images_are_the_torchvision_test_transform(deic):
    """Stored test images are exactly Resize(256/224 x S) + CenterCrop(S) of the file; training images the
    centre square at 256/224 x S, from which the device-side augmentation crops."""
    root, listing = deic("isic")
    d = datasets.load("isic", str(root), SIZE)
    train, _ = stored_sizes("isic")
    for split, x, size in (("test", d.x_test, SIZE), ("trainval", d.x_train, train)):
        for i, (rel, _, _) in enumerate(listing[split]):
            path = next((root / "imgs").glob(rel.removesuffix(".png") + ".png"), None)
            if path is None:
                continue
            with Image.open(path) as img:
                expected = T.Compose([T.Resize(train), T.CenterCrop(size), T.PILToTensor()])(img.convert("RGB"))
            assert torch.equal(x[i], expected), rel


def test_labels_may_be_names_and_classes_come_from_the_split_files(deic):
    root, _ = deic("cub")
    (root / "test.txt").write_text((root / "test.txt").read_text() + "c2/extra species_zz\n")
    (root / "imgs" / "c2" / "extra.png").write_bytes((root / "imgs" / "c1" / "img1.png").read_bytes())
    d = datasets.load("cub", str(root), SIZE)
    assert d.num_classes == 4 and d.y_test.tolist()[-1] == 3  # species_zz sorts last


def test_decoding_happens_once_then_the_cache_serves(deic, monkeypatch):
    root, _ = deic("isic")
    calls = []
    decode = images_module.decode
    monkeypatch.setattr(images_module, "decode", lambda path, geometry: calls.append(path) or decode(path, geometry))
    first = datasets.load("isic", str(root), SIZE)
    assert len(calls) == 15 and list((root / ".cache").glob("*.npy"))
    calls.clear()
    second = datasets.load("isic", str(root), SIZE)
    assert calls == [], "a second load must decode nothing"
    assert torch.equal(first.x_train, second.x_train) and torch.equal(first.x_test, second.x_test)
    datasets.load("isic", str(root), SIZE * 2)
    assert len(calls) == 15, "another stored size is another cache"
    calls.clear()
    next((root / "imgs" / "c1").glob("img1.*")).touch()  # a changed file invalidates its split's cache
    datasets.load("isic", str(root), SIZE)
    assert len(calls) == 9


def test_read_only_data_folder_still_loads(deic, monkeypatch):
    root, listing = deic("eurosat_rgb")
    monkeypatch.setattr(Path, "mkdir", lambda *a, **k: (_ for _ in ()).throw(PermissionError("read-only")))
    d = datasets.load("eurosat_rgb", str(root), SIZE)
    assert_bound(d.x_train, d.y_train, listing["trainval"])


def run_cli(capsys, argv) -> tuple[int, str]:
    rc = main(argv)
    return rc, capsys.readouterr().err


def test_missing_file_is_one_line_naming_file_and_split_line(deic, tmp_path, capsys):
    root, listing = deic("clamm")
    rel = listing["test"][2][0]
    assert "." not in rel, "the benchmark's split files name images without their extension"
    (path,) = (root / "imgs").glob(rel + ".*")
    path.unlink()
    rc, err = run_cli(capsys, ["--dataset", "clamm", "--data-root", str(root), "--image-size", str(SIZE),
                               "--out", str(tmp_path / "runs"), "--device", "cpu"])
    lines = [line for line in err.splitlines() if line.strip() and "decoding" not in line]
    assert rc == 2 and len(lines) == 1
    assert f"{root / 'test.txt'}:3:" in lines[0] and rel in lines[0]


def test_unreadable_file_and_bad_lines_are_one_line_errors(deic):
    root, listing = deic("cub")
    line, rel = next((i + 1, rel) for i, (rel, _, _) in enumerate(listing["trainval"]) if "." not in rel)
    (path,) = (root / "imgs").glob(rel + ".*")
    path.write_bytes(b"not an image")
    with pytest.raises(UserError, match=rf"trainval.txt:{line}: cannot read .*{path.name}"):
        datasets.load("cub", str(root), SIZE)
    path.with_suffix(".bmp").write_bytes(b"")  # a second file that the extension-less line could mean
    with pytest.raises(UserError, match=rf"trainval.txt:{line}: 2 image files .*{rel}"):
        datasets.load("cub", str(root), SIZE)
    path.with_suffix(".bmp").unlink()
    path.write_bytes((root / "imgs" / listing["trainval"][4][0]).read_bytes())
    (root / "test.txt").write_text("../outside.png 0\n")
    with pytest.raises(UserError, match=r"test.txt:1: expected 'relative/path label'"):
        datasets.load("cub", str(root), SIZE)
    (root / "test.txt").unlink()
    with pytest.raises(UserError, match="no split file .*test.txt"):
        datasets.load("cub", str(root), SIZE)


@pytest.mark.parametrize("split, relabel", [("trainval", False), ("test", False), ("trainval", True)],
                         ids=["repeated trainval line", "repeated test line", "one file under two labels"])
def test_a_file_listed_twice_is_refused_naming_both_lines(deic, split, relabel):
    """Twice in trainval would train on the image twice, twice in test weight the test accuracy, and under two
    labels train with both."""
    root, _ = deic("eurosat_rgb")
    path = root / f"{split}.txt"
    lines = path.read_text().splitlines()
    rel, label = lines[1].rsplit(maxsplit=1)
    other = next(line.rsplit(maxsplit=1)[1] for line in lines if line.rsplit(maxsplit=1)[1] != label)
    path.write_text("\n".join([*lines, f"{rel} {other if relabel else label}"]) + "\n")
    again = rf"as '{other}', and as '{label}'" if relabel else "again"
    with pytest.raises(UserError, match=rf"{split}.txt:{len(lines) + 1}: .*{rel}\S* is listed {again} at line 2; "):
        datasets.load("eurosat_rgb", str(root), SIZE)


def test_image_size_is_refused_for_fixed_size_datasets():
    with pytest.raises(UserError, match="cifar10 images are 32 px"):
        datasets.load("cifar10", "unused", 64)


@pytest.mark.parametrize("name", DEIC)
def test_recipe_transforms_and_shapes(deic, tmp_path, name):
    """EuroSAT: CIFAR-style padded crop with horizontal and vertical flips at the stored size; the others: a
    random-resized crop from the larger stored image down to the input size. Evaluation applies nothing."""
    root, _ = deic(name)
    hp = parse_args(["--dataset", name, "--data-root", str(root), "--image-size", str(SIZE), "--width", "4",
                     "--batch-size", "4", "--device", "cpu", "--out", str(tmp_path)])
    data, _ = load_subset(hp)
    env = Environment.resolve(TrainConfig.from_hparams(hp), torch.device("cpu"))
    model = build_model(hp, data, env)
    trainer = LevelTrainer(model, Mask.dense(build_model(hp, data, env)), data, TrainConfig.from_hparams(hp), env)
    stage = trainer.augment[0]
    if name == "eurosat_rgb":
        assert isinstance(stage, RandomCropFlip) and stage.pad == SIZE // 8 and stage.vflip
    else:
        assert isinstance(stage, RandomResizedCropFlip) and stage.size == SIZE and not stage.vflip
    x, _ = next(iter(trainer.batches.epoch(4, 1)))
    assert x.shape[-1] == stored_sizes(name)[0]
    assert trainer.augment(x).shape == (4, RECIPES[name].channels, SIZE, SIZE)
    assert trainer.model(trainer.augment(x).float() / 255).shape == (4, 3)
    plain = parse_args(["--dataset", name, "--augment", "none", "--image-size", str(SIZE), "--width", "4"])
    plain_trainer = LevelTrainer(trainer.model, Mask.dense(trainer.model), data, TrainConfig.from_hparams(plain), env)
    stages = list(plain_trainer.augment)
    # without augmentation the larger stored training images still become inputs: by the test-time centre crop
    assert [type(s) for s in stages] == ([] if name == "eurosat_rgb" else [CenterCrop])


def test_evaluation_applies_no_random_transform(deic, tmp_path):
    """The test metrics are the model's predictions on the stored test images, whatever the random state."""
    root, _ = deic("isic")
    hp = parse_args(["--dataset", "isic", "--data-root", str(root), "--image-size", str(SIZE), "--width", "4",
                     "--device", "cpu", "--out", str(tmp_path)])
    data, _ = load_subset(hp)
    env = Environment.resolve(TrainConfig.from_hparams(hp), torch.device("cpu"))
    model = build_model(hp, data, env)
    trainer = LevelTrainer(model, Mask.dense(model), data, TrainConfig.from_hparams(hp), env)
    torch.manual_seed(1)
    first = trainer.test_metrics()
    torch.manual_seed(2)
    assert trainer.test_metrics() == first
    with torch.no_grad():
        model.eval()
        predicted = model(data.x_test.float() / 255).argmax(1)
    assert first["test_acc"] == pytest.approx(float((predicted == data.y_test).double().mean()))


@pytest.mark.parametrize("name", [*DEIC, "imagenet_subset"])
def test_one_level_imp_run_on_each_fixture(tmp_path, capsys, name):
    root = tmp_path / "data"
    if name == "imagenet_subset":
        write_imagefolder(root)
    else:
        write_deic(root, names=name == "cub")
    out = tmp_path / "runs"
    rc = main(["--dataset", name, "--data-root", str(root), "--image-size", str(SIZE), "--width", "4",
               "--rounds", "1", "--epochs", "2", "--rewind", "epoch:1", "--batch-size", "4", "--lr", "0.001", "--device", "cpu",
               "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    (run,) = out.iterdir()
    results = json.loads((run / "results.json").read_text())
    level = results["levels"][0]
    metrics = json.loads((run / "level_0" / "metrics.json").read_text())["result"]
    assert metrics == level and level["epochs"] == 2 and len(level["test_class_acc"]) == 3
    assert level["test_balanced_acc"] == pytest.approx(np.mean(level["test_class_acc"]))
    header = printed.splitlines()[-2].split()
    headline = "test_balanced_acc" if name == "isic" else "test_acc"
    assert results["headline"] == headline
    assert header[2] == ("balanced" if name == "isic" else "test"), "the headline leads the console table"


@pytest.mark.cuda
@pytest.mark.parametrize("data_path", ["gpu", "cpu"])
def test_one_level_at_224_px_on_cuda(tmp_path, capsys, data_path):
    """The paper's sizes on the GPU path: 256-px training images cropped to 224 inside the augmentation's CUDA
    graph, the step's graph at 224, evaluation of the stored 224-px test images; both data paths."""
    root = tmp_path / "data"
    write_deic(root)
    rc = main(["--dataset", "isic", "--data-root", str(root), "--width", "8", "--rounds", "2", "--epochs", "3",
               "--rewind", "epoch:1", "--batch-size", "4", "--lr", "0.001", "--augment", "autoaug", "--cutout",
               "--data-path", data_path, "--device", "cuda", "--out", str(tmp_path / "runs")])
    assert rc == 0, capsys.readouterr().err
    (run,) = (tmp_path / "runs").iterdir()
    levels = json.loads((run / "results.json").read_text())["levels"]
    assert len(levels) == 2 and all(len(level["test_class_acc"]) == 3 for level in levels)
