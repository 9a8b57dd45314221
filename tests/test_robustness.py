"""The robustness protocols on tiny data: CIFAR-10-C layout and mCE, attacks (against torchattacks), CKA properties."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import datasets
from lottery.run import load_level_model
from lottery.run_dir import RunDir
from robustness import adversarial, cka, corruptions
from robustness.corruptions import EXTRA, SEVERITIES, STANDARD, CorruptionSet
from robustness.store import record
from robustness.units import Context
from training.config import TrainConfig
from training.evaluate import accuracy
from training.loop import Environment
from utils.errors import UserError
from training.precision import to_float


def write_c10c(folder: Path, images: np.ndarray, labels: np.ndarray, names=STANDARD + EXTRA) -> Path:
    """A CIFAR-10-C folder in the official layout whose every corruption is ``images`` (NHWC) at all severities."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        np.save(folder / f"{name}.npy", np.concatenate([images] * len(SEVERITIES)))
    np.save(folder / "labels.npy", np.concatenate([labels] * len(SEVERITIES)).astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def trained(trained_run):
    """The session's tiny trained run: its level-0 model (fp32, CPU) and test set."""
    run = RunDir.open(trained_run)
    data = datasets.load(run.hp.data.dataset, "unused")
    env = Environment.resolve(TrainConfig.from_hparams(run.hp), torch.device("cpu"))
    return load_level_model(run.hp, run, 0, data, env), data


def test_per_severity_count_comes_from_the_file(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    folder = write_c10c(tmp_path / "c", images, np.arange(7) % 10, names=["fog"])
    data = CorruptionSet(folder)
    assert data.per_severity("fog") == 7
    x, y = data.severity("fog", 3)
    assert x.shape == (7, 3, 32, 32) and torch.equal(x, torch.from_numpy(images).permute(0, 3, 1, 2))
    assert y.tolist() == (np.arange(7) % 10).tolist()


def test_a_truncated_corruption_file_is_one_error_saying_to_replace_it(tmp_path):
    images = np.zeros((10, 32, 32, 3), dtype=np.uint8)
    folder = write_c10c(tmp_path / "c", images, np.arange(10) % 10, names=["fog"])
    data = (folder / "fog.npy").read_bytes()
    (folder / "fog.npy").write_bytes(data[: len(data) // 2])  # an interrupted download
    with pytest.raises(UserError, match=r"cannot read .*fog.npy: .*damaged or incomplete.* replace it with the one "
                                        r"from https://zenodo.org"):
        CorruptionSet(folder).per_severity("fog")


def test_per_severity_count_of_the_mini_set(c10c_mini):
    assert CorruptionSet(c10c_mini).per_severity("gaussian_noise") == 100
    assert CorruptionSet(c10c_mini).missing() is None and CorruptionSet(c10c_mini).corruptions() == [*STANDARD, *EXTRA]


def test_missing_corruption_files_name_files_source_and_folder(tmp_path):
    message = str(CorruptionSet(tmp_path).missing())
    assert "labels.npy" in message and "gaussian_noise.npy" in message and str(tmp_path) in message
    assert "zenodo.org" in message and "--c10c-root" in message


def _context(x: torch.Tensor, y: torch.Tensor, tmp_path: Path, **kw) -> Context:
    return Context(torch.device("cpu"), "fp32", False, 32, 32, x, y, 10, tmp_path, tmp_path, tmp_path, **kw)


def test_uncorrupted_copy_gives_the_clean_accuracy(trained, tmp_path):
    model, data = trained
    x, y = data.x_test[:60], data.y_test[:60]
    write_c10c(tmp_path, x.permute(0, 2, 3, 1).numpy(), y.numpy())
    ctx = _context(x, y, tmp_path)
    clean = float(ctx.accuracy(model, x, y))
    units = corruptions.units(ctx)
    assert [u.label for u in units] == [*STANDARD, *EXTRA] and all(u.images == 60 for u in units)
    for unit in units[:3]:
        assert [float(v) for v in unit.compute(model)] == [clean] * len(SEVERITIES)


def test_mce_is_normalised_by_the_dense_level():
    """Dense vs itself is 100; a ticket with half the dense errors everywhere has mCE 50; relative mCE uses the
    drop from each level's own clean accuracy."""
    records = []
    for level, density, err, clean in ((0, 1.0, 0.4, 0.9), (3, 0.5, 0.2, 0.95)):
        records.append(record(level, density, "clean", "test", clean, 100))
        for c in STANDARD + EXTRA:
            records += [record(level, density, "c10c", c, 1 - err * s / 3, 100, severity=s) for s in SEVERITIES]
    dense, ticket = corruptions.summarize(records)
    assert dense["mce"] == pytest.approx(100) and dense["relative_mce"] == pytest.approx(100)
    assert ticket["mce"] == pytest.approx(50)
    # drops: dense sum_s (0.9 - (1 - 0.4 s/3)) = 5 * -0.1 + 0.4 * 5 = 1.5; ticket 5 * -0.05 + 0.2 * 5 = 0.75
    assert ticket["relative_mce"] == pytest.approx(50)
    assert dense["mean_acc"] == pytest.approx(1 - 0.4)  # mean severity 3
    # a missing standard cell means no mean and no mCE
    partial = [r for r in records if not (r["level"] == 3 and r["name"] == "fog" and r["severity"] == 5)]
    assert corruptions.summarize(partial)[1]["mce"] is None


def test_pgd_with_eps_zero_is_clean_accuracy(trained):
    model, data = trained
    x, y = data.x_test[:64], data.y_test[:64]
    clean = float(accuracy(model, x, y, torch.device("cpu"), "fp32"))
    attack = lambda m, xb, yb, g: adversarial.pgd(m, xb, yb, 0.0, 3, 0.0, generator=g)  # noqa: E731
    assert float(adversarial.robust_accuracy(model, attack, x, y, torch.device("cpu"), 32)) == clean


def test_adversarial_images_stay_in_range_and_in_the_eps_ball(trained):
    model, data = trained
    x, y = to_float(data.x_test[:32], False), data.y_test[:32]
    eps = 8 / 255
    with adversarial.attack_mode(model):
        for adv in (adversarial.fgsm(model, x, y, eps), adversarial.pgd(model, x, y, eps, 5, eps / 4)):
            assert adv.min() >= 0 and adv.max() <= 1
            assert (adv - x).abs().max() <= eps + 1e-6
            assert (adv - x).abs().max() > eps / 2  # it moved
    assert all(p.requires_grad for p in model.parameters()), "attack_mode restores the parameters"


def test_attacks_lower_accuracy_and_pgd_more_than_fgsm(trained):
    model, data = trained
    x, y = data.x_test[:100], data.y_test[:100]
    cpu = torch.device("cpu")
    clean = float(accuracy(model, x, y, cpu, "fp32"))
    eps = adversarial.FGSM_EPS
    fgsm = float(adversarial.robust_accuracy(model, lambda m, a, b, g: adversarial.fgsm(m, a, b, eps), x, y, cpu, 50))
    pgd = float(adversarial.robust_accuracy(
        model, lambda m, a, b, g: adversarial.pgd(m, a, b, eps, 10, eps / 4, generator=g), x, y, cpu, 50))
    assert clean > 0.8
    assert fgsm < clean - 0.1
    assert pgd <= fgsm


def test_our_pgd_agrees_with_torchattacks(trained):
    torchattacks = pytest.importorskip("torchattacks")
    model, data = trained
    x, y = to_float(data.x_test[:100], False), data.y_test[:100]
    eps, steps = 4 / 255, 10
    with adversarial.attack_mode(model):
        torch.manual_seed(0)
        ours = adversarial.pgd(model, x, y, eps, steps, eps / 4)
        torch.manual_seed(0)
        theirs = torchattacks.PGD(model, eps=eps, alpha=eps / 4, steps=steps, random_start=True)(x, y)
        acc = [float((model(a).argmax(1) == y).double().mean()) for a in (ours, theirs)]
    assert abs(acc[0] - acc[1]) <= 0.03, acc
    assert acc[0] < float((model(x).argmax(1) == y).double().mean())


def test_autoattack_suite_runs_torchattacks_standard(trained, tmp_path):
    pytest.importorskip("torchattacks")
    model, data = trained
    ctx = _context(data.x_test, data.y_test, tmp_path, adv_images=6)
    clean_unit, aa_unit = adversarial.autoattack_units(ctx)
    assert aa_unit.cells == [("standard", None, adversarial.AUTOATTACK_EPS)] and aa_unit.images == 6
    clean, robust = float(clean_unit.compute(model)[0]), float(aa_unit.compute(model)[0])
    assert robust < clean


def test_cka_properties():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 40, generator=gen)
    q, _ = torch.linalg.qr(torch.randn(40, 40, generator=gen))
    assert cka.linear_cka(x, x) == pytest.approx(1.0)
    assert cka.linear_cka(x, x @ q) == pytest.approx(1.0)       # orthogonal transform
    assert cka.linear_cka(x, 3.7 * x) == pytest.approx(1.0)     # isotropic scaling
    related = x @ torch.randn(40, 30, generator=gen) + 0.1 * torch.randn(64, 30, generator=gen)
    unrelated = torch.randn(64, 30, generator=gen)
    assert 0.5 < cka.linear_cka(x, related) < 1
    assert abs(cka.linear_cka(x, unrelated)) < 0.2 < cka.linear_cka(x, related)
    # feature maps are flattened per image; minibatches pool the HSIC sums
    maps = torch.randn(20, 2, 3, 3, generator=gen)
    assert cka.linear_cka(maps, maps.flatten(1) @ torch.linalg.qr(torch.randn(18, 18, generator=gen))[0]) == \
        pytest.approx(1.0)


def test_cka_per_stage_of_a_model_with_itself_is_one(trained):
    model, data = trained
    values = cka.cka_per_stage(model, model, data.x_test[:40], torch.device("cpu"), batch=20)
    assert values == pytest.approx([1.0] * len(cka.STAGES))
    assert not math.isnan(sum(values))
