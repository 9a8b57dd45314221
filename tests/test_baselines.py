"""The baselines end to end on tiny CPU runs: one-shot magnitude, pruning at initialisation, --reinit and the
small dense network of --match-density; and their flag validation."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lottery.cli import main, parse_args
from lottery.run_dir import RunDir
from lottery.run import load_level_model, load_subset
from lottery.runner import run
from lottery.small_dense import match_width, prunable_count
from pruning import Mask, ScoreContext, SCORERS, mask_from_scores
from training.config import TrainConfig
from training.loop import Environment
from tests.conftest import tiny_argv
from tests.train_hooks import Starts


@pytest.fixture
def starts():
    """Each trained level's starting state (after masking), start epoch and model size, as the real code runs."""
    return Starts()


def root_of(argv: list[str]) -> Path:
    return RunDir(parse_args(argv)).root


@pytest.mark.parametrize("method", ["snip", "synflow"])
def test_pruning_at_init_trains_one_sparse_level_from_the_scored_initialisation(tmp_path, starts,
                                                                                 capsys, method):
    rounds = ["--synflow-rounds", "3"] if method == "synflow" else []
    argv = tiny_argv(tmp_path, "--epochs", "2", "--prune-method", method, "--target-density", "0.1", *rounds)
    records = run(parse_args(argv), [starts])
    root = root_of(argv)
    mask = Mask.load(root / "level_0" / "mask.pt")
    assert len(records) == 1 and records[0]["density"] == mask.density()
    assert mask.kept() == round(0.1 * mask.size())
    assert starts[0]["start_epoch"] == 0
    metrics = json.loads((root / "level_0" / "metrics.json").read_text())
    assert {n: v["kept"] for n, v in metrics["layers"].items()} == {n: int(m.sum()) for n, m in mask.items()}
    assert "mask keeps 10.00% of prunable weights" in capsys.readouterr().out
    # the mask scores the initial weights, and training starts from them, masked
    start = starts[0]["state"]
    for name, m in mask.items():
        assert torch.count_nonzero(start[name][~m]) == 0 and torch.count_nonzero(start[name][m]) == int(m.sum())


def test_one_shot_magnitude_prunes_the_trained_dense_level_once(tmp_path, starts):
    argv = tiny_argv(tmp_path, "--epochs", "2", "--prune-method", "omp", "--target-density", "0.3")
    records = run(parse_args(argv), [starts])
    root = root_of(argv)
    assert [r["level"] for r in records] == [0, 1] and records[0]["density"] == 1.0
    trained = torch.load(root / "level_0" / "weights.pt")
    mask = Mask.load(root / "level_1" / "mask.pt")
    dense = Mask({n: torch.ones_like(m) for n, m in mask.items()})
    expected = mask_from_scores({n: trained[n].abs() for n in dense}, 0.3, "global", dense)
    assert all(torch.equal(mask[n], expected[n]) for n in mask) and mask.kept() == round(0.3 * mask.size())
    rewind = torch.load(root / "level_0" / "rewind.pt")  # rewound as --rewind says (epoch 1 here)
    assert starts[1]["start_epoch"] == 1
    assert all(torch.equal(starts[1]["state"][n], rewind[n] * mask[n]) for n in mask)


def test_a_layer_pruned_empty_is_named(tmp_path, capsys):
    run(parse_args(tiny_argv(tmp_path, "--epochs", "1", "--rewind", "init", "--prune-method", "random_uniform",
                             "--target-density", "0.002")))
    err = capsys.readouterr().err
    mask = Mask.load(next(tmp_path.iterdir()) / "level_0" / "mask.pt")
    assert mask.empty_layers(), "the test needs a layer with round(0.002 * size) = 0"
    for name in mask.empty_layers():
        assert f"layer {name} is pruned to zero weights" in err


def test_reinit_trains_the_trunks_masks_from_a_fresh_initialisation(tmp_path, starts, capsys):
    trunk_argv = tiny_argv(tmp_path, "--epochs", "2", "--rounds", "3")
    assert main([*trunk_argv, "--reinit"]) == 2  # no trunk yet: an error, nothing written
    assert "run the same command without --reinit first" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    run(parse_args(trunk_argv), [starts])
    trunk_root, trunk_start = root_of(trunk_argv), starts[0]["state"]
    trunk_files = {p: p.stat().st_mtime_ns for p in trunk_root.rglob("*")}
    starts.clear()

    records = run(parse_args([*trunk_argv, "--reinit"]), [starts])
    root = root_of([*trunk_argv, "--reinit"])
    assert root != trunk_root and root.parent == trunk_root.parent
    assert json.loads((root / "trunk.json").read_text())["trunk_run_id"] == trunk_root.name
    assert [r["level"] for r in records] == [1, 2] and sorted(starts) == [1, 2]  # the sparse levels only
    assert {p: p.stat().st_mtime_ns for p in trunk_root.rglob("*")} == trunk_files  # the trunk is untouched
    fresh = None
    for level in (1, 2):
        mask = Mask.load(root / f"level_{level}" / "mask.pt")
        trunk_mask = Mask.load(trunk_root / f"level_{level}" / "mask.pt")
        assert all(torch.equal(mask[n], trunk_mask[n]) for n in mask)  # the mask is kept
        start = starts[level]["state"]
        assert starts[level]["start_epoch"] == 0
        for n, m in mask.items():
            assert torch.count_nonzero(start[n][~m]) == 0
            assert not torch.equal(start[n][m], trunk_start[n][m])  # ... the weights are new
        if fresh is None:
            fresh = {n: v for n, v in start.items() if n not in mask}
        assert all(torch.equal(start[n], fresh[n]) for n in fresh)  # one fresh initialisation for all levels
        weights = torch.load(root / f"level_{level}" / "weights.pt")
        assert all(torch.count_nonzero(weights[n][~m]) == 0 for n, m in mask.items())
    assert not torch.equal(fresh["fc.weight"], trunk_start["fc.weight"])


def test_matched_width_is_the_closest_and_within_two_percent(tmp_path):
    hp = parse_args(tiny_argv(tmp_path, "--width", "64", "--match-density", "0.64"))
    data = load_subset(hp)[0]
    match = match_width(hp, data)
    assert match.full_prunable == prunable_count(hp, data, 64)
    assert match.prunable == prunable_count(hp, data, match.width)
    assert abs(match.prunable - 0.64 * match.full_prunable) <= 0.02 * 0.64 * match.full_prunable
    for other in (match.width - 1, match.width + 1):  # the count grows with width: the neighbours are farther
        assert abs(prunable_count(hp, data, other) - 0.64 * match.full_prunable) >= \
            abs(match.prunable - 0.64 * match.full_prunable)
    small = parse_args(tiny_argv(tmp_path, "--width", "12", "--match-density", "0.3"))  # all widths, by brute force
    counts = {w: prunable_count(small, data, w) for w in range(1, 13)}
    best = min(counts, key=lambda w: abs(counts[w] - 0.3 * counts[12]))
    assert match_width(small, data).width == best


def test_small_dense_run_trains_the_matched_width_once_and_records_it(tmp_path, starts):
    argv = tiny_argv(tmp_path, "--width", "8", "--match-density", "0.3", "--epochs", "1", "--rewind", "init")
    records = run(parse_args(argv), [starts])
    record = json.loads((root_of(argv) / "small_dense.json").read_text())
    assert len(records) == 1 and records[0]["density"] == 1.0
    assert record["full_width"] == 8 and record["width"] < 8
    assert record["density"] == record["prunable"] / record["full_prunable"]
    conv_params = sum(v.numel() for n, v in starts[0]["state"].items() if n.endswith(".weight") and v.dim() == 4)
    assert conv_params == record["prunable"]  # the network trained is the narrow one
    # evaluate.py rebuilds it at the same width to load its weights
    hp = parse_args(argv)
    data = load_subset(hp)[0]
    env = Environment.resolve(TrainConfig.from_hparams(hp), torch.device("cpu"))
    model = load_level_model(hp, RunDir.open(root_of(argv)), 0, data, env)
    assert sum(p.numel() for n, p in model.named_parameters() if p.dim() == 4) == record["prunable"]


@pytest.mark.parametrize("extra, words", [
    (["--prune-method", "snip"], "needs --target-density"),
    (["--prune-method", "snip", "--target-density", "1"], "needs --target-density"),
    (["--target-density", "0.5"], "one-shot methods"),
    (["--prune-method", "omp", "--target-density", "0.5", "--prune-rate", "0.5"], "--prune-rate is for IMP"),
    (["--synflow-rounds", "5"], "--synflow-rounds is for --prune-method synflow"),
    (["--prune-method", "synflow", "--target-density", "0.5", "--score-batches", "2"], "(snip, grasp)"),
    (["--prune-method", "random_erk", "--target-density", "0.5", "--prune-scope", "layerwise"], "global"),
    (["--match-density", "0.5", "--reinit"], "one dense network"),
    (["--match-density", "1.5"], "--match-density"),
])
def test_bad_baseline_flags(tmp_path, capsys, extra, words):
    out = tmp_path / "runs"
    assert main([*tiny_argv(out), *extra]) == 2
    assert words in capsys.readouterr().err.strip().splitlines()[-1]
    assert not out.exists()


def test_scorers_take_the_context_they_are_given():
    """Data-driven scores fail loudly without data rather than scoring nothing."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 1))
    with pytest.raises(ValueError, match="needs batches"):
        SCORERS["snip"](model, Mask.dense(model), ScoreContext())
