"""Published results (results/): the committed summaries are what the report regenerates from the committed files;
the publishing step, the paired control and robustness summaries, the confidence interval, the evaluation of the
dense level and best ticket, and the reproduction scripts' run lists (DRY_RUN). No test runs a reproduction."""
from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest
from scipy import stats

from report import load_runs
from report.__main__ import main as report_main
from report.control import control_markdown, control_rows
from report.publish import publish
from report.robust import robustness_markdown, robustness_rows
from report.summary import confidence_interval, summarise
from sweep.evaluate import evaluations, main as evaluate_main
from tests.sweep_helpers import SCRIPTS, commands, flag, run_script
from tests.test_report import fake_run as fake_level_run

REPO = Path(__file__).resolve().parents[1]
PUBLISHED = sorted(p.parent for p in (REPO / "results").glob("*/summary.md"))
REGENERATED = ("summary.md", "summary.csv", "robustness.md")
ALLOWED = {".json", ".md", ".csv", ".png"}


def test_the_repository_publishes_results():
    assert PUBLISHED, "results/ holds no published experiment (results/<name>/summary.md)"


@pytest.mark.parametrize("folder", PUBLISHED, ids=lambda p: p.name)
def test_committed_summaries_are_regenerated_from_the_committed_files(folder, tmp_path):
    runs = folder / "runs"
    assert report_main([str(runs), "--out", str(tmp_path)]) == 0
    for name in REGENERATED:
        if (folder / name).exists() or (tmp_path / name).exists():
            assert (tmp_path / name).read_text() == (folder / name).read_text(), f"{folder.name}/{name} is stale"
    assert (tmp_path / "accuracy_vs_density.png").stat().st_size > 0


@pytest.mark.parametrize("folder", PUBLISHED, ids=lambda p: p.name)
def test_published_folders_hold_only_small_files(folder):
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} <= ALLOWED, "weights, masks or arrays were published"
    assert all(p.stat().st_size < 1_000_000 for p in files)
    for run in (folder / "runs").iterdir():
        assert {"hparams.json", "results.json", "job.json", "layers.json"} <= {p.name for p in run.iterdir()}
    readme = (folder / "README.md").read_text()
    for fact in ("Command: `bash scripts/", "Code version", "Machine:", "Wall time:"):
        assert fact in readme


def test_confidence_interval_is_students_t():
    values = [10.0, 6.0, 8.0]  # mean 8, std 2
    low, high = confidence_interval(values)
    half = stats.t.ppf(0.975, 2) * 2 / math.sqrt(3)
    assert (low, high) == pytest.approx((8 - half, 8 + half))
    assert all(math.isnan(v) for v in confidence_interval([3.0]))


def fake_run(out: Path, flags: str, seed: int, test_acc: list[float]) -> Path:
    """test_report's fabricated run, with the results.json main_imp.py writes beside its levels."""
    root = fake_level_run(out, flags, seed, test_acc)
    levels = [json.loads((root / f"level_{k}" / "metrics.json").read_text())["result"] for k in range(len(test_acc))]
    (root / "results.json").write_text(json.dumps({"levels": levels}))
    return root


@pytest.fixture
def sweep(tmp_path):
    """Tickets (3 seeds) and their random controls (2 seeds) from the same dense level, plus a base setting."""
    out = tmp_path / "sweep"
    a = "--dataset cifar10 --data-fraction 0.01 --augment autoaug --cutout"
    for seed, accs in enumerate(([0.50, 0.55, 0.60], [0.52, 0.57, 0.58], [0.54, 0.59, 0.62])):
        fake_run(out, a + " --prune-method magnitude", seed, accs)
    for seed, accs in enumerate(([0.50, 0.49, 0.47], [0.52, 0.50, 0.49])):
        fake_run(out, a + " --prune-method random", seed, accs)
    fake_run(out, "--dataset cifar10 --data-fraction 0.01 --augment base", 0, [0.40, 0.45, 0.41])
    return out


def test_summary_gain_carries_its_interval(sweep):
    row = next(r for r in summarise(load_runs([sweep])) if r["method"] == "magnitude" and r["seeds"] == 3)
    assert row["best_level"] == 2 and row["gain_mean"] == pytest.approx(8)
    assert (row["gain_ci_low"], row["gain_ci_high"]) == pytest.approx(confidence_interval([10, 6, 8]))


def test_random_control_pairs_seeds_at_the_tickets_level(sweep):
    (row,) = control_rows(load_runs([sweep]))
    assert row["method"] == "magnitude" and row["pairs"] == 2 and row["level"] == 2
    # per seed at level 2: 60 - 47 = 13, 58 - 49 = 9
    assert row["difference"] == pytest.approx((11, math.sqrt(8)))
    assert row["ci"] == pytest.approx(confidence_interval([13, 9]))
    assert row["same_dense"]
    assert "| 2 | 64.0% (level 2) |" in control_markdown([row])
    assert control_markdown([]) == ""


def test_robustness_summary_pools_seeds_of_dense_and_best_ticket(sweep):
    runs = load_runs([sweep])
    tickets = sorted((r for r in runs if r.hparams["pruning.prune_method"] == "magnitude"
                      and r.hparams["data.augment"] == "autoaug"), key=lambda r: r.hparams["training.seed"])
    for i, run in enumerate(tickets[:2]):
        records = [{"level": k, "density": 0.8 ** k, "suite": "clean", "name": "clean", "severity": None, "eps": None,
                    "accuracy": 0.5 + 0.1 * k + 0.02 * i, "images": 100} for k in (0, 2)]
        records += [{"level": k, "density": 0.8 ** k, "suite": "cka", "name": "layer4", "severity": None, "eps": None,
                     "cka": 1.0 if k == 0 else 0.6 + 0.1 * i, "images": 100} for k in (0, 2)]
        (run.path / "robustness.json").write_text(json.dumps(records))
        (run.path / "level_2" / "metrics.json").write_text(json.dumps({
            "result": run.levels[2], "layers": {"stem.0.weight": {"kept": 9, "total": 10, "density": 0.9},
                                                "layer4.0.conv.weight": {"kept": 50, "total": 100, "density": 0.5}}}))
    rows = robustness_rows(load_runs([sweep]))
    assert [(r["method"], r["level"]) for r in rows] == [("magnitude", 0), ("magnitude", 2)]
    ticket = rows[1]["cells"]
    assert ticket["clean"] == pytest.approx((71, math.sqrt(2), 2))
    assert ticket["cka layer4"] == pytest.approx((0.65, math.sqrt(0.005), 2))
    assert ticket["density stem"] == pytest.approx((90, 0, 2))
    assert "density stem" not in rows[0]["cells"]  # level 0's metrics (fabricated) recorded no layers
    text = robustness_markdown(rows)
    assert "Representations" in text and "Layer densities" in text and "Corruptions" in text
    assert "Adversarial" not in text  # no attack was evaluated: no section for it


def test_publish_copies_small_files_and_the_copy_regenerates_the_same_summaries(sweep, tmp_path):
    for run in sweep.iterdir():
        if run.is_dir():
            (run / "level_0" / "weights.pt").write_bytes(b"not published")
            (run.with_name(run.name + ".log")).write_text("== 2026-12-03 10:00:00 python main_imp.py ...\n")
    results = tmp_path / "results" / "demo"
    assert publish(sweep, results, command="bash scripts/reproduce_mini.sh") == 0
    published = {p.relative_to(results).parts[-1] for p in results.rglob("*") if p.is_file()}
    assert "weights.pt" not in published and "metrics.json" not in published
    assert {"summary.md", "summary.csv", "accuracy_vs_density.png", "README.md", "layers.json"} <= published
    assert "Command: `bash scripts/reproduce_mini.sh`" in (results / "README.md").read_text()
    original = tmp_path / "original"
    assert report_main([str(sweep), "--out", str(original)]) == 0
    assert (results / "summary.md").read_text() == (original / "summary.md").read_text()
    # published again after more runs: the runs folder holds exactly the sweep's runs
    shutil.rmtree(next(p for p in sweep.iterdir() if p.is_dir()))
    assert publish(sweep, results) == 0
    assert len(list((results / "runs").iterdir())) == len([p for p in sweep.iterdir() if p.is_dir()])


def test_evaluate_takes_dense_and_the_settings_best_level(sweep, capsys):
    todo = evaluations(load_runs([sweep]), ["pruning.prune_method=magnitude", "data.augment=autoaug"])
    assert len(todo) == 3 and all(levels == [0, 2] for _, levels in todo)
    assert {len(evaluations(load_runs([sweep]), ["data.augment=base"]))} == {1}
    assert evaluate_main([str(sweep), "--where", "nonsense"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_reproduce_mini_queues_the_grid_with_controls_first(tmp_path):
    done = run_script(SCRIPTS / "reproduce_mini.sh", cwd=tmp_path, DRY_RUN="1", OUT="out", DATA_ROOT="data")
    assert done.returncode == 0, done.stderr
    runs = commands(done.stdout)
    got = [(flag(r, "--augment"), "--cutout" in r, flag(r, "--prune-method"), flag(r, "--seed")) for r in runs]
    assert got == [("autoaug", True, "magnitude", "0"), ("autoaug", True, "random", "0"),
                   ("autoaug", True, "magnitude", "1"), ("autoaug", True, "random", "1"),
                   ("autoaug", True, "magnitude", "2"), ("base", False, "magnitude", "0"),
                   ("contrast", False, "magnitude", "0"), ("randaug", True, "magnitude", "0")]
    for r in runs:
        assert flag(r, "--data-seed") == flag(r, "--seed")
        assert (flag(r, "--width"), flag(r, "--epochs"), flag(r, "--rounds")) == ("16", "50", "8")
    steps = [line for line in done.stdout.splitlines() if line.startswith("python -m ")]
    assert steps[0].startswith(f"python -m sweep.evaluate {tmp_path}/out/mini --where data.augment=autoaug")
    assert steps[1].endswith(f"{REPO}/results/cifar10_mini --command bash\\ scripts/reproduce_mini.sh ")


def test_reproduce_gpu_orders_whole_runs_and_quick_never_touches_results(tmp_path):
    done = run_script(SCRIPTS / "reproduce_gpu.sh", cwd=tmp_path, DRY_RUN="1", OUT="out")
    assert done.returncode == 0, done.stderr
    assert "estimated training time on one H200" in done.stdout
    runs = commands(done.stdout)
    assert [(flag(r, "--data-fraction"), flag(r, "--prune-method"), flag(r, "--seed")) for r in runs] == [
        (f, m, s) for f in ("0.01", "0.02") for m, s in
        (("magnitude", "0"), ("magnitude", "1"), ("magnitude", "2"), ("random", "0"))]
    assert all("--width" not in r and "--epochs" not in r for r in runs)  # the paper recipe: the defaults
    quick = run_script(SCRIPTS / "reproduce_gpu.sh", cwd=tmp_path, DRY_RUN="1", QUICK="1", OUT="out")
    publish_line = quick.stdout.splitlines()[-1]
    assert publish_line.startswith(f"python -m report.publish {tmp_path}/out/gpu {tmp_path}/out/gpu/published")
    assert "--adv-images 20" in quick.stdout


def test_readme_results_quote_the_published_summaries():
    """Every measured number in the README's Results section (two decimals) is in a committed summary."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Results", 1)[1].split("\n## ", 1)[0]
    published = "".join((folder / name).read_text() for folder in PUBLISHED for name in REGENERATED
                        if (folder / name).exists())
    numbers = re.findall(r"(?<![\d.])-?\d+\.\d\d(?![\d])", section)
    assert numbers, "the Results section quotes no measured number"
    assert [n for n in numbers if n not in published] == []
