"""evaluate.py end to end on the session's tiny run: records, CSVs, skipping stored cells, missing data, shift sets,
plots, layer densities."""
from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import datasets
import robustness.evaluation as evaluation
from lottery.run_dir import RunDir
from pruning import Mask
from robustness.adversarial import TORCHATTACKS_INSTALL
from robustness.cli import main
from robustness.layers import layer_densities
from robustness.shift import load_cifar101, load_cifar102

FAST = ["--adv-images", "16", "--cka-images", "24", "--attack-batch-size", "16", "--device", "cpu"]


@pytest.fixture
def run(trained_run, tmp_path) -> Path:
    """A private copy of the trained run, so evaluations do not leak between tests."""
    return Path(shutil.copytree(trained_run, tmp_path / trained_run.name))


def write_shift_sets(root: Path, n: int = 30) -> None:
    """Tiny CIFAR-10.1 and CIFAR-10.2 files in their published formats, made of synthetic test images."""
    test = datasets.load("synthetic", "")
    nhwc = test.x_test.permute(0, 2, 3, 1).numpy()
    labels = test.y_test.numpy()
    (root / "CIFAR-10.1").mkdir(parents=True)
    np.save(root / "CIFAR-10.1" / "cifar10.1_v6_data.npy", nhwc[:n])
    np.save(root / "CIFAR-10.1" / "cifar10.1_v6_labels.npy", labels[:n].astype(np.int64))
    (root / "CIFAR-10.2").mkdir()
    np.savez(root / "CIFAR-10.2" / "cifar102_test.npz", images=nhwc[n:2 * n], labels=labels[n:2 * n])
    np.savez(root / "CIFAR-10.2" / "cifar102_train.npz", images=nhwc[2 * n:4 * n], labels=labels[2 * n:4 * n])


def test_evaluate_writes_records_csvs_and_plots(run, tmp_path, c10c_mini, capsys):
    write_shift_sets(tmp_path / "data")
    argv = [str(run), "--suite", "c10c,fgsm,pgd,cifar10.1,cifar10.2,cka", "--data-root", str(tmp_path / "data"),
            "--c10c-root", str(c10c_mini), "--cifar102-all", "--plots", *FAST]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "CIFAR-10-C" in out and "pgd20" in out and "cifar10.2/all" in out and "linear CKA" in out
    records = json.loads((run / "robustness.json").read_text())
    keys = {"level", "density", "suite", "name", "severity", "eps", "images"}
    assert all(keys <= set(r) and ("cka" in r) == (r["suite"] == "cka") for r in records)
    by = lambda **kw: [r for r in records if all(r[k] == v for k, v in kw.items())]  # noqa: E731
    for level, density in ((0, 1.0), (1, 0.8)):
        assert len(by(level=level, suite="c10c")) == 19 * 5 and all(r["images"] == 100 for r in by(suite="c10c"))
        assert sorted(r["eps"] * 255 for r in by(level=level, suite="pgd", name="pgd20")) == pytest.approx([1, 2, 4, 8])
        assert {r["name"] for r in by(level=level, suite="cifar10.2")} == {"test", "all"}
        assert [r["images"] for r in by(level=level, suite="cifar10.2", name="all")] == [90]
        assert by(level=level, suite="cifar10.1")[0]["images"] == 30
        assert by(level=level, suite="clean")[0]["images"] == 500
        assert len(by(level=level, suite="cka")) == 5 and by(level=level)[0]["density"] == pytest.approx(density, 1e-3)
    assert all(r["cka"] == pytest.approx(1.0) for r in by(level=0, suite="cka"))
    assert all(r["images"] == 16 for r in by(suite="pgd"))
    with open(run / "robustness_pgd.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(by(suite="pgd")) and "accuracy" in rows[0]
    for suite in ("c10c", "fgsm", "cifar10.1", "cifar10.2", "cka", "clean"):
        assert (run / f"robustness_{suite}.csv").exists()
    assert sorted(p.name for p in (run / "plots").iterdir()) == sorted(
        f"{n}.png" for n in ("accuracy_vs_density", "c10c_vs_density", "robust_vs_eps", "shift_gap_vs_density",
                             "layer_density", "cka_vs_density"))


def test_stored_cells_are_skipped_and_changed_ones_recomputed(run, tmp_path, monkeypatch):
    argv = [str(run), "--suite", "fgsm", "--data-root", str(tmp_path), *FAST]
    assert main(argv) == 0
    first = json.loads((run / "robustness.json").read_text())
    loads = []
    original = evaluation.load_level_model
    monkeypatch.setattr(evaluation, "load_level_model", lambda *a: loads.append(a[2]) or original(*a))
    assert main(argv) == 0
    assert loads == [] and json.loads((run / "robustness.json").read_text()) == first
    assert main([*argv, "--adv-images", "8", "--levels", "1"]) == 0  # other image count: those cells again
    assert loads == [1]
    fgsm = {(r["level"], r["name"]): r["images"] for r in json.loads((run / "robustness.json").read_text())
            if r["suite"] == "fgsm"}
    assert fgsm == {(0, "clean"): 16, (0, "fgsm"): 16, (1, "clean"): 8, (1, "fgsm"): 8}


def test_missing_data_skips_the_suite_with_one_line(run, tmp_path, capsys):
    assert main([str(run), "--suite", "c10c,cifar10.1,cifar10.2", "--data-root", str(tmp_path), *FAST]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("skipping")]
    assert len(lines) == 3
    assert str(tmp_path / "CIFAR-10-C") in lines[0] and "zenodo" in lines[0]
    assert "cifar10.1_v6_data.npy" in lines[1] and "github.com/modestyachts/CIFAR-10.1" in lines[1]
    assert "cifar102_test.npz" in lines[2] and str(tmp_path / "CIFAR-10.2") in lines[2]
    suites = {r["suite"] for r in json.loads((run / "robustness.json").read_text())}
    assert suites == {"clean"}


def test_bad_arguments_are_one_line_errors(run, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(run), "--suite", "c10c,nope"])
    assert "unknown suite nope" in capsys.readouterr().err
    assert main([str(tmp_path), "--suite", "fgsm"]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_autoattack_without_torchattacks_is_one_line_naming_the_install_command(run, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # what an environment without it does: ImportError
    assert main([str(run), "--suite", "pgd,autoattack", *FAST]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and TORCHATTACKS_INSTALL in err
    assert not (run / "robustness.json").exists()  # refused before any run is evaluated
    # the command named is the one the set-up and CI run
    for path in ("README.md", ".ci/run"):
        assert TORCHATTACKS_INSTALL.removeprefix("pip ") in (Path(__file__).parents[1] / path).read_text(), path


@pytest.mark.parametrize("name, remedy", [
    ("robustness.json", "delete it (and {run}/robustness_*.csv) to evaluate this run again from scratch"),
    ("level_1/weights.pt", "remove {run}/level_1 and every later level_* folder to retrain from level 1")])
def test_a_damaged_file_is_one_line_saying_what_to_delete(run, tmp_path, capsys, name, remedy):
    (run / name).write_bytes(b"[{\"level\": 0,")  # cut short
    assert main([str(run), "--suite", "fgsm", "--levels", "1", "--data-root", str(tmp_path), *FAST]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip() and "%|" not in line]
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot read {run / name}: "), lines
    assert lines[0].endswith(remedy.format(run=run)), lines


def test_shift_loaders_read_the_published_formats(tmp_path):
    write_shift_sets(tmp_path, n=5)
    x, y = load_cifar101(tmp_path / "CIFAR-10.1")
    assert x.shape == (5, 3, 32, 32) and y.dtype.is_floating_point is False
    x, y = load_cifar102(tmp_path / "CIFAR-10.2", ("test", "train"))
    assert x.shape == (15, 3, 32, 32) and len(y) == 15


def test_layer_densities_match_the_masks(trained_run):
    run = RunDir.open(trained_run)
    table = layer_densities(run)
    assert table.levels == [0, 1]
    mask = Mask.load(run.level(1) / "mask.pt")
    assert table.layers == list(mask)
    assert [row[1] for row in table.table] == pytest.approx([m.double().mean().item() for m in mask.values()])
    assert table.densities == pytest.approx([1.0, mask.density()])
    assert "stem.0.weight" in table.format()


def test_accuracy_figure_is_the_reports_each_run_once_mean_and_std(tmp_path):
    """The notebook's and evaluate.py's accuracy figure reads runs as the report does: a run copied into a second
    folder counts once, and the band is mean ± one std over the distinct seeds (not min-max)."""
    from robustness.plots import accuracy_vs_density
    from tests.test_report import fake_run

    a = fake_run(tmp_path / "runs", "--dataset cifar10 --data-fraction 0.02", 0, [0.50, 0.60])
    fake_run(tmp_path / "runs", "--dataset cifar10 --data-fraction 0.02", 1, [0.54, 0.70])
    shutil.copytree(a, tmp_path / "results" / "seed0")
    fig = accuracy_vs_density([tmp_path / "runs", tmp_path / "results"])
    (ax,) = fig.axes
    (curve,) = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert curve.get_label() == "base (n=2)" and list(curve.get_ydata()) == pytest.approx([52, 65])
    ys = ax.collections[0].get_paths()[0].vertices[:, 1]
    std = np.std([60, 70], ddof=1)
    assert min(ys) == pytest.approx(52 - np.std([50, 54], ddof=1)) and max(ys) == pytest.approx(65 + std)


def c10c_records(level: int, density: float, clean: float, corrupted: float) -> list[dict]:
    from robustness.corruptions import SEVERITIES, STANDARD
    from robustness.store import record
    return [record(level, density, "clean", "test", clean, 100)] + [
        record(level, density, "c10c", c, corrupted, 100, severity=s) for c in STANDARD for s in SEVERITIES]


def test_robustness_figures_pool_seeds_and_draw_only_the_suites_that_were_run(tmp_path):
    from report import group_settings, load_runs
    from robustness import plots
    from robustness.store import Store
    from tests.test_report import fake_run

    for seed, noise in ((0, 0.0001), (1, 0.0002)):  # a dense network at chance: 10.01% and 10.02%
        root = fake_run(tmp_path, "--dataset cifar10 --data-fraction 0.01", seed, [0.1, 0.1])
        Store(root).add(c10c_records(0, 1.0, 0.1 + noise, 0.1) + c10c_records(1, 0.8, 0.1, 0.1 + noise))
    (setting,) = group_settings(load_runs([tmp_path]))
    figures = plots.setting_figures(setting)
    assert list(figures) == ["c10c_vs_density"]  # no attack, shift or CKA figure: those suites were not run
    assert set(plots.missing_figures(setting)) == {"robust_vs_eps", "shift_gap_vs_density", "cka_vs_density"}
    fig = figures["c10c_vs_density"]
    assert fig.get_suptitle() == "CIFAR-10, 1% of the training set, IMP, base"
    left, right = fig.axes
    labels = [line.get_label() for line in left.get_lines()]
    assert "mean over 15 corruptions x 5 severities (n=2)" in labels and "dense network (level 0)" in labels
    bottom, top = left.get_ylim()
    assert top - bottom >= 10  # 10.01-10.02% is drawn flat, not as a slope filling the axis
    assert "near chance" in right.get_title() and "relative mCE means nothing" in right.get_title()
    plots.save_figures(figures, tmp_path / "plots")
    assert (tmp_path / "plots" / "c10c_vs_density.png").read_bytes()[:4] == b"\x89PNG"


def test_evaluation_loads_the_data_at_the_runs_image_size(tmp_path, monkeypatch):
    from lottery.hparams import DataHparams, Hparams
    from utils.io import save_json

    hp = Hparams(data=DataHparams(dataset="eurosat", image_size=48))
    save_json({"run_id": hp.run_id(), "hparams": hp.to_dict()}, tmp_path / "run" / "hparams.json")
    asked = []

    def load(name, root, image_size=0):
        asked.append((name, image_size))
        raise RuntimeError("stop here")

    monkeypatch.setattr(evaluation.datasets, "load", load)
    with pytest.raises(RuntimeError, match="stop here"):
        evaluation.evaluate_run(tmp_path / "run", ["clean"])
    assert asked == [("eurosat", 48)]
