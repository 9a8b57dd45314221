"""The report on fabricated run directories: grouping over seeds, means and stds, the best level, unfinished
runs, the metric switch, and the files the CLI writes."""
from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.colors import to_rgb

from lottery.cli import parse_args
from report import load_runs, plot_accuracy_vs_density, summarise
from report.__main__ import main as report_main

REPO = Path(__file__).resolve().parents[1]


def fake_run(out: Path, flags: str, seed: int, test_acc: list[float], best_acc: list[float] | None = None,
             planned: int | None = None) -> Path:
    """A run directory as main_imp.py writes it, with the given per-level accuracies."""
    hp = parse_args([*flags.split(), "--seed", str(seed), "--data-seed", str(seed), "--out", str(out)])
    root = out / hp.run_id()
    root.mkdir(parents=True)
    (root / "hparams.json").write_text(json.dumps({"run_id": hp.run_id(), "hparams": hp.to_dict()}))
    (root / "job.json").write_text(json.dumps({"rounds": planned or len(test_acc)}))
    for k, acc in enumerate(test_acc):
        (root / f"level_{k}").mkdir()
        result = {"level": k, "density": 0.8 ** k, "test_acc": acc, "best_test_acc": (best_acc or test_acc)[k]}
        (root / f"level_{k}" / "metrics.json").write_text(json.dumps({"result": result}))
    return root


@pytest.fixture
def runs_dir(tmp_path):
    a = "--dataset cifar10 --data-fraction 0.01 --augment autoaug --cutout"
    # setting A, 3 seeds: dense 50/52/54, level 1 55/57/59, level 2 60/58/62 (best); best_test_acc prefers level 1
    fake_run(tmp_path, a, 0, [0.50, 0.55, 0.60], best_acc=[0.51, 0.70, 0.61])
    fake_run(tmp_path, a, 1, [0.52, 0.57, 0.58], best_acc=[0.53, 0.72, 0.59])
    fake_run(tmp_path, a, 2, [0.54, 0.59, 0.62], best_acc=[0.55, 0.74, 0.63])
    # setting B (base): seed 1 is unfinished at 2 of 16 levels; seed 0 has a great level 2 no other seed has
    b = "--dataset cifar10 --data-fraction 0.01 --augment base"
    fake_run(tmp_path, b, 0, [0.40, 0.45, 0.90], planned=3)
    fake_run(tmp_path, b, 1, [0.42, 0.41], planned=16)
    # setting C differs in a setting with no column of its own (epochs) and has not trained a level yet
    fake_run(tmp_path, b + " --epochs 30", 0, [], planned=16)
    return tmp_path


def by_augmentation(rows):
    return {(r["augmentation"], r["settings"]): r for r in rows}


def test_summary_means_stds_best_level_and_gain(runs_dir):
    rows = by_augmentation(summarise(load_runs([runs_dir])))
    a = rows[("autoaug +cutout", "epochs=200")]
    assert a["seeds"] == 3 and a["levels"] == "3/3, 3/3, 3/3" and a["finished"]
    assert a["dense_mean"] == pytest.approx(52) and a["dense_std"] == pytest.approx(2)
    assert a["best_level"] == 2 and a["best_density"] == pytest.approx(64)
    assert a["ticket_mean"] == pytest.approx(60) and a["ticket_std"] == pytest.approx(2)
    # per seed: 10, 6, 8 points
    assert a["gain_mean"] == pytest.approx(8) and a["gain_std"] == pytest.approx(2)


def test_metric_switch_changes_the_numbers_and_the_best_level(runs_dir):
    a = by_augmentation(summarise(load_runs([runs_dir]), metric="best_test_acc"))[("autoaug +cutout", "epochs=200")]
    assert a["best_level"] == 1 and a["ticket_mean"] == pytest.approx(72) and a["dense_mean"] == pytest.approx(53)
    with pytest.raises(ValueError):
        summarise(load_runs([runs_dir]), metric="train_acc")


def test_unfinished_runs_are_shown_not_dropped(runs_dir):
    rows = by_augmentation(summarise(load_runs([runs_dir])))
    b = rows[("base", "epochs=200")]
    assert b["seeds"] == 2 and b["levels"] == "3/3, 2/16" and not b["finished"]
    # the best level is chosen among the levels both seeds finished: level 1, not seed 0's level 2
    assert b["best_level"] == 1 and b["ticket_mean"] == pytest.approx(43)
    assert b["dense_mean"] == pytest.approx(41) and b["gain_mean"] == pytest.approx(2)
    c = rows[("base", "epochs=30")]
    assert c["levels"] == "0/16" and c["best_level"] is None and math.isnan(c["dense_mean"])


def test_folders_that_only_look_like_levels_are_not_read_as_levels(tmp_path):
    root = fake_run(tmp_path, "--dataset cifar10 --data-fraction 0.01", 0, [0.5, 0.6])
    for stray in ("level_1.bak", "level_old"):  # a user's copies, with the files of a level
        (root / stray).mkdir()
        (root / stray / "metrics.json").write_text(json.dumps({"result": {"level": 9, "test_acc": 0.1}}))
    (root / "level_2").mkdir()  # a level that has started but not finished
    [run] = load_runs([tmp_path])
    assert list(run.levels) == [0, 1] and run.levels[1]["test_acc"] == 0.6 and run.finished


def damage_hparams(root: Path) -> str:
    (root / "hparams.json").write_text('{"run_id": ')
    return f"{root} is damaged: remove it"


def damage_metrics(root: Path) -> str:
    (root / "level_1" / "metrics.json").write_text("")
    return f"remove {root / 'level_1'} and every later level_* folder to retrain from level 1"


@pytest.mark.parametrize("damage", [damage_hparams, damage_metrics])
def test_a_damaged_run_file_is_one_line_saying_what_to_remove(tmp_path, capsys, damage):
    root = fake_run(tmp_path / "runs", "--dataset cifar10 --data-fraction 0.01", 0, [0.5, 0.6])
    remedy = damage(root)
    assert report_main([str(tmp_path / "runs")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("report: error: cannot read ") and remedy in lines[0], lines


def test_out_that_is_a_file_is_one_line(runs_dir, tmp_path, capsys):
    (tmp_path / "taken").write_text("something else\n")
    assert report_main([str(runs_dir), "--out", str(tmp_path / "taken")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"report: error: --out {tmp_path / 'taken'}: {tmp_path / 'taken'} is a file, not a folder"]


def test_cli_writes_table_csv_and_plot(runs_dir, tmp_path):
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "report.py"), str(runs_dir), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    md = (out / "summary.md").read_text()
    assert "`test_acc`" in md and "selected on the test set" in md and "highest mean accuracy over seeds" in md
    assert "| cifar10 | 0.01 | autoaug +cutout | magnitude | epochs=200 | 3 | 3/3, 3/3, 3/3 | 52.00 ± 2.00 | " \
           "60.00 ± 2.00 | 64.0% (level 2) | 8.00 ± 2.00 |" in md
    assert "2/16 *(unfinished)*" in md and "Unfinished runs" in md
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert len(rows) == 3 and {r["metric"] for r in rows} == {"test_acc"}
    a = next(r for r in rows if r["augmentation"] == "autoaug +cutout")
    assert float(a["gain_mean"]) == pytest.approx(8) and a["seeds"] == "3" and a["best_level"] == "2"
    assert (out / "accuracy_vs_density.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_has_one_panel_per_dataset_and_fraction_with_log_density_dense_left(runs_dir, tmp_path):
    other = tmp_path / "other"
    fake_run(other, "--dataset cifar10 --data-fraction 0.1", 0, [0.6, 0.65])
    fig = plot_accuracy_vs_density(load_runs([runs_dir, other]))
    axes = sorted(fig.axes, key=lambda ax: ax.get_title())
    # titles in words: dataset, subset and (common to the panel) method; never a run id
    assert [ax.get_title() for ax in axes] == ["CIFAR-10, 1% of the training set, IMP",
                                               "CIFAR-10, 10% of the training set, IMP"]
    small = axes[0]
    assert small.get_xscale() == "log" and small.get_xlabel() == "density (% of conv weights kept, log scale)"
    assert small.get_ylabel() == "test accuracy after the last epoch (%)"
    left, right = small.get_xlim()
    assert left > right  # dense (100%) at the left
    curves = {line.get_label(): line for line in small.get_lines() if line.get_marker() == "o"}
    assert len(curves) == 2  # setting C has no finished level: no curve
    (a,) = [line for label, line in curves.items() if label.startswith("autoaug +cutout") and "(n=3)" in label]
    assert list(a.get_xdata()) == pytest.approx([100, 80, 64]) and list(a.get_ydata()) == pytest.approx([52, 57, 60])
    # the band is mean ± one std (2 points at every level), not the min-max range
    (band,) = [c for c in small.collections if tuple(c.get_facecolor()[0][:3]) == pytest.approx(to_rgb(a.get_color()))]
    ys = band.get_paths()[0].vertices[:, 1]
    assert min(ys) == pytest.approx(50) and max(ys) == pytest.approx(62)
    # the dense level of each setting as a dotted reference line, in the curve's colour
    dense = [line for line in small.get_lines() if line.get_linestyle() == ":"]
    assert sorted(line.get_ydata()[0] for line in dense) == pytest.approx([41, 52])
    # one seed, 60-65%: the axis spans at least 10 points, not 5
    bottom, top = axes[1].get_ylim()
    assert top - bottom >= 10


def test_a_run_reached_twice_counts_once(runs_dir, tmp_path):
    """The same run through a copy in another folder, a symlink and a repeated argument is one run: seeds and the
    std over seeds are those of the distinct runs (they were 6 seeds and a smaller std before)."""
    copies = tmp_path / "published"
    copies.mkdir()
    a = "--dataset cifar10 --data-fraction 0.01 --augment autoaug --cutout"
    originals = sorted(p for p in runs_dir.iterdir() if (p / "hparams.json").exists())
    for run in originals:
        shutil.copytree(run, copies / ("copy-of-" + run.name))  # another folder name: only the run id says
    (tmp_path / "link").symlink_to(runs_dir, target_is_directory=True)
    # an unfinished copy of seed 0 (one level): the finished one is kept
    partial = fake_run(tmp_path / "partial", a, 0, [0.99])
    runs = load_runs([runs_dir, copies, tmp_path / "link", runs_dir, partial.parent])
    assert len(runs) == len(originals) and len({r.run_id for r in runs}) == len(runs)
    rows = by_augmentation(summarise(runs))
    a_row = rows[("autoaug +cutout", "epochs=200")]
    assert a_row["seeds"] == 3 and a_row["dense_mean"] == pytest.approx(52) and a_row["dense_std"] == pytest.approx(2)
    assert rows[("base", "epochs=200")]["seeds"] == 2
    fig = plot_accuracy_vs_density(runs)
    labels = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
    assert any("(n=3)" in label for label in labels) and not any("(n=6)" in label for label in labels)
