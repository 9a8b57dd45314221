"""Run directories outlive the code and the processes that wrote them: old hparams.json files stay usable,
equivalent spellings share one run id, every "remove/delete ... to redo" message is true when followed
literally, stale temporary files go, and results.json lists every finished level on disk."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

import datasets
from lottery.cli import main, parse_args
from lottery.hparams import CANONICAL_RULES
from lottery.run_dir import RunDir
from lottery.runner import run
from tests.conftest import tiny_argv
from tests.train_hooks import StopAfter, Trained
from tests.test_schedule_and_ids import PINNED_IDS, with_values


def run_root(out: Path) -> Path:
    (only,) = [p for p in out.iterdir() if p.is_dir()]
    return only


def rows(root: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"}
            for r in json.loads((root / "results.json").read_text())["levels"]]


def same_weights(a: Path, b: Path, levels: int) -> bool:
    for k in range(levels):
        for name in ("weights.pt", "mask.pt"):
            x, y = torch.load(a / f"level_{k}" / name), torch.load(b / f"level_{k}" / name)
            if x.keys() != y.keys() or not all(torch.equal(x[n], y[n]) for n in x):
                return False
    return True


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted tiny run (2 levels) every repaired run must end equal to."""
    out = tmp_path_factory.mktemp("reference")
    run(parse_args(tiny_argv(out)))
    return run_root(out)


# --- 1. old run directories -----------------------------------------------------------------------------------

def test_an_old_hparams_json_lacking_a_field_resumes_and_extends(tmp_path, reference):
    """As if ``data.cutmix`` had been added after level 0 was trained: the stored file lacks it. The run keeps
    its id, trains only the new level, ends equal to the reference, and hparams.json is rewritten in full."""
    run(parse_args(tiny_argv(tmp_path, "--rounds", "1")))
    root = run_root(tmp_path)
    path = root / "hparams.json"
    old = json.loads(path.read_text())
    del old["hparams"]["data"]["cutmix"]
    del old["hparams"]["training"]["precision"]
    path.write_text(json.dumps(old))
    trained = Trained(allowed={1})
    run(parse_args(tiny_argv(tmp_path)), [trained])
    assert trained == [1] and run_root(tmp_path) == root
    assert rows(root) == rows(reference) and same_weights(root, reference, 2)
    assert json.loads(path.read_text())["hparams"] == parse_args(tiny_argv(tmp_path)).canonical().to_dict()


@pytest.mark.parametrize("edit, named", [
    (lambda h: h["training"].update(epochs=4), "training.epochs (stored 4, this run 3)"),
    (lambda h: h["data"].update(augment="none", cutout=8), "data.augment (stored 'none', this run 'base'); "
                                                           "data.cutout (stored 8, this run 0)"),
    (lambda h: h["model"].update(depth_multiplier=2), "model.depth_multiplier (stored, unknown to this code)"),
])
def test_really_different_stored_values_are_refused_naming_the_keys(tmp_path, capsys, edit, named):
    assert main(tiny_argv(tmp_path, "--rounds", "1")) == 0
    path = run_root(tmp_path) / "hparams.json"
    stored = json.loads(path.read_text())
    edit(stored["hparams"])
    path.write_text(json.dumps(stored))
    before = path.read_text()
    capsys.readouterr()
    assert main(tiny_argv(tmp_path, "--rounds", "1")) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "holds a different run under the same id" in line and named in line, line
    assert path.read_text() == before


# --- 2. canonical ids ------------------------------------------------------------------------------------------

SAME = [  # each pair names one computation
    ((("pruning", "rewind", "epoch:0"),), (("pruning", "rewind", "init"),)),
    ((("pruning", "rewind", "epoch:02"),), (("pruning", "rewind", "epoch:2"),)),
    ((("pruning", "rewind", "epoch:007"), ("training", "seed", 3)), (("pruning", "rewind", "epoch:7"),
                                                                     ("training", "seed", 3))),
    ((("data", "imbalance", 0.5),), ()),  # no long tail: the ratio is unused
    ((("data", "long_tail", "exp"), ("data", "imbalance", 1.0)), ()),  # a flat tail is the balanced subset
    ((("data", "long_tail", "step"), ("data", "imbalance", 1)), ()),
    ((("data", "data_fraction", 1),), ()),  # an int where the field is a float
    ((("data", "mixup", 0),), ()),
    ((("data", "per_class", 50.0), ("data", "augment", "autoaug"), ("data", "cutout", 16)),
     (("data", "per_class", 50), ("data", "augment", "autoaug"), ("data", "cutout", 16))),
    # pruning at initialisation trains one level from the initial weights: nothing rewinds
    *(((("pruning", "prune_method", m), ("pruning", "target_density", 0.5), ("pruning", "rewind", r)),
       (("pruning", "prune_method", m), ("pruning", "target_density", 0.5)))
      for m in ("snip", "grasp", "synflow", "random_erk", "random_uniform") for r in ("init", "trained", "epoch:5")),
]
DIFFERENT = [  # look alike, compute different things
    ((("data", "augment", "none"), ("data", "cutout", 16)), (("data", "augment", "none"),)),
    ((("data", "long_tail", "exp"), ("data", "imbalance", 0.5)), (("data", "long_tail", "exp"),)),
    ((("pruning", "rewind", "epoch:1"),), (("pruning", "rewind", "init"),)),
    ((("pruning", "rewind", "trained"),), (("pruning", "rewind", "init"),)),
    # one-shot magnitude pruning rewinds its sparse level like IMP
    ((("pruning", "prune_method", "omp"), ("pruning", "target_density", 0.5), ("pruning", "rewind", "init")),
     (("pruning", "prune_method", "omp"), ("pruning", "target_density", 0.5))),
    # the same 50 images per class of CIFAR-10, but not of every file: the id must not depend on the data file
    ((("data", "data_fraction", 0.01),), (("data", "per_class", 50),)),
]


@pytest.mark.parametrize("a, b", SAME)
def test_equivalent_spellings_share_one_run_id(a, b):
    assert with_values(a).run_id() == with_values(b).run_id()
    assert with_values(a).canonical() == with_values(b).canonical()


@pytest.mark.parametrize("a, b", DIFFERENT)
def test_different_computations_keep_different_ids(a, b):
    assert with_values(a).run_id() != with_values(b).run_id()


def test_canonical_rules_are_idempotent_and_keep_the_pinned_ids():
    for changes in [*PINNED_IDS, *(x for pair in SAME + DIFFERENT for x in pair)]:
        hp = with_values(changes).canonical()
        for rule in CANONICAL_RULES:
            assert rule(hp) == hp, (rule.__name__, changes)
    for changes, pinned in PINNED_IDS.items():
        assert with_values(changes).canonical().run_id(canonical=False) == pinned


def test_a_flat_long_tail_draws_the_balanced_subset():
    """The equivalence the flat-tail rule relies on, checked on the subset actually drawn."""
    labels = datasets.load("synthetic", "").y_train.numpy()
    balanced = datasets.draw_indices(labels, datasets.class_counts(20, 10, "none", 0.01), 3)
    for tail in ("exp", "step"):
        assert (datasets.draw_indices(labels, datasets.class_counts(20, 10, tail, 1.0), 3) == balanced).all()


def test_equivalent_flags_reuse_one_directory_and_an_old_spelling_directory_moves(tmp_path):
    """``--rewind init`` finds the run of ``--rewind epoch:0``; a directory written under the id the old
    spelling had before canonical ids (here ``epoch:00``) is moved to the canonical id and reused."""
    argv = tiny_argv(tmp_path, "--rounds", "1", "--rewind", "epoch:00", "--imbalance", "0.3")
    legacy = parse_args(argv).run_id(canonical=False)
    assert legacy != parse_args(argv).run_id()
    run(parse_args(argv))
    root = run_root(tmp_path)
    root.rename(tmp_path / legacy)  # as the code before canonical ids named it
    stored = json.loads((tmp_path / legacy / "hparams.json").read_text())
    stored["hparams"]["pruning"]["rewind"], stored["hparams"]["data"]["imbalance"] = "epoch:00", 0.3
    (tmp_path / legacy / "hparams.json").write_text(json.dumps(stored))
    nothing = Trained(allowed=set())
    run(parse_args(argv), [nothing])
    run(parse_args(tiny_argv(tmp_path, "--rounds", "1", "--rewind", "init")), [nothing])
    assert [p.name for p in tmp_path.iterdir()] == [root.name]


# ids the code gave before --rewind left pruning at initialisation and --init-checkpoint was named by content
# (computed with that code): their directories must still be found
EARLIER_IDS = [
    ((("pruning", "prune_method", "snip"), ("pruning", "target_density", 0.5), ("pruning", "rewind", "init")),
     "3c73f4944c"),
    ((("model", "init_checkpoint", "ckpt.pt"),), "6fe9f3d5ab"),  # a path relative to the working folder
]


@pytest.mark.parametrize("changes, earlier", EARLIER_IDS)
def test_a_directory_under_an_id_of_earlier_rules_moves_to_the_current_id(tmp_path, monkeypatch, changes, earlier):
    monkeypatch.chdir(tmp_path)
    Path("ckpt.pt").write_bytes(b"weights")
    hp = with_values([*changes, ("job", "out", "runs")])
    assert hp.run_id() != earlier and earlier in hp.earlier_run_ids()
    old = Path("runs", earlier)
    (old / "level_0").mkdir(parents=True)
    stored = {"run_id": earlier, "hparams": hp.to_dict()}  # the spelling as given, as that code stored it
    (old / "hparams.json").write_text(json.dumps(stored))
    (old / "level_0" / "metrics.json").write_text("{}")
    run_dir = RunDir(hp)
    run_dir.claim()
    assert [p.name for p in Path("runs").iterdir()] == [hp.run_id()]
    assert run_dir.finished_levels() == [0]
    assert json.loads((run_dir.root / "hparams.json").read_text())["hparams"] == hp.canonical().to_dict()


def test_a_directory_under_an_earlier_id_holding_another_run_stays(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    changes, earlier = EARLIER_IDS[0]
    hp = with_values([*changes, ("job", "out", "runs")])
    Path("runs", earlier).mkdir(parents=True)
    other = with_values([*changes, ("training", "seed", 5)])
    Path("runs", earlier, "hparams.json").write_text(json.dumps({"run_id": earlier, "hparams": other.to_dict()}))
    RunDir(hp).claim()
    assert sorted(p.name for p in Path("runs").iterdir()) == sorted([earlier, hp.run_id()])


# --- 4. nothing stranded ---------------------------------------------------------------------------------------

def follow(message: str, root: Path) -> None:
    """Do literally what an error message says to redo something."""
    if match := re.search(r"cannot read (\S+): .*; delete it to", message):
        Path(match.group(1)).unlink()
        return
    match = re.search(r"remove (\S+) and every (later|other) level_\* folder", message)
    assert match, message
    first = int(re.fullmatch(r".*level_(\d+)", match.group(1)).group(1))
    for folder in root.glob("level_*"):
        if int(folder.name.split("_")[1]) >= first:
            shutil.rmtree(folder)


def _corrupt(path: Path) -> None:
    path.write_bytes(b"garbage")


# (what to break after a first attempt with --rounds 1 or an interruption, which file the message names)
BREAKS = [
    ("rewind.pt deleted", lambda r: (r / "level_0" / "rewind.pt").unlink(), "level_0/rewind.pt"),
    ("rewind.pt corrupt", lambda r: _corrupt(r / "level_0" / "rewind.pt"), "level_0/rewind.pt"),
    ("level 0 weights corrupt", lambda r: _corrupt(r / "level_0" / "weights.pt"), "level_0/weights.pt"),
    ("level 0 metrics corrupt", lambda r: _corrupt(r / "level_0" / "metrics.json"), "level_0/metrics.json"),
]


@pytest.mark.parametrize("name, damage, named", BREAKS, ids=[b[0] for b in BREAKS])
def test_every_redo_message_is_true(tmp_path, capsys, reference, name, damage, named):
    assert main(tiny_argv(tmp_path, "--rounds", "1")) == 0
    root = run_root(tmp_path)
    damage(root)
    capsys.readouterr()
    assert main(tiny_argv(tmp_path)) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert named in line and "Traceback" not in line, line
    follow(line, root)
    assert main(tiny_argv(tmp_path)) == 0
    assert rows(root) == rows(reference) and same_weights(root, reference, 2)


def test_a_corrupt_checkpoint_message_is_true(tmp_path, capsys, reference):
    assert main(tiny_argv(tmp_path), [StopAfter(1, 2)]) == 130
    root = run_root(tmp_path)
    _corrupt(root / "level_1" / "checkpoint.pt")
    capsys.readouterr()
    assert main(tiny_argv(tmp_path)) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "level_1/checkpoint.pt" in line and "retrain level 1 from its start" in line
    follow(line, root)
    assert main(tiny_argv(tmp_path)) == 0
    assert rows(root) == rows(reference) and same_weights(root, reference, 2)


def test_deleting_rewind_pt_while_level_0_trains_retrains_level_0_from_its_start(tmp_path, capsys, reference):
    # rewind.pt (epoch 1) and the checkpoint after epoch 2 are written
    assert main(tiny_argv(tmp_path), [StopAfter(0, 2)]) == 130
    root = run_root(tmp_path)
    (root / "level_0" / "rewind.pt").unlink()
    capsys.readouterr()
    assert main(tiny_argv(tmp_path)) == 0
    assert "training level 0 from its start to write it again" in capsys.readouterr().out
    assert rows(root) == rows(reference) and same_weights(root, reference, 2)


def test_a_later_level_left_beside_an_unfinished_one_is_named(tmp_path, capsys, reference):
    assert main(tiny_argv(tmp_path)) == 0
    root = run_root(tmp_path)
    shutil.rmtree(root / "level_0")  # level_1 was computed from it
    capsys.readouterr()
    assert main(tiny_argv(tmp_path)) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "level_1 exists but level 0" in line, line
    follow(line, root)
    assert main(tiny_argv(tmp_path)) == 0
    assert rows(root) == rows(reference) and same_weights(root, reference, 2)


def test_stale_temporary_files_are_removed_at_the_next_start(tmp_path, capsys):
    assert main(tiny_argv(tmp_path, "--rounds", "1")) == 0
    root = run_root(tmp_path)
    stale = [root / ".hparams.json.a1b2.tmp", root / "level_0" / ".checkpoint.pt.x9y8.tmp"]
    for path in stale:
        path.write_bytes(b"\0" * 4096)  # what a killed write leaves
    keep = root / "level_0" / "notes.tmp"  # not ours: not hidden
    keep.write_text("mine")
    stale.append(root / "level_0" / "checkpoint.pt")  # killed after metrics.json, before its removal
    stale[-1].write_bytes(b"an old checkpoint")
    capsys.readouterr()
    assert main(tiny_argv(tmp_path, "--rounds", "1")) == 0
    assert not any(p.exists() for p in stale) and keep.exists()
    assert str(stale[1]) in capsys.readouterr().err


def test_results_list_every_finished_level_whatever_rounds(tmp_path):
    run(parse_args(tiny_argv(tmp_path)))
    root = run_root(tmp_path)
    before = rows(root)
    records = run(parse_args(tiny_argv(tmp_path, "--rounds", "1")), [Trained(allowed=set())])
    assert [r["level"] for r in records] == [0, 1] and rows(root) == before
    assert len((root / "results.csv").read_text().splitlines()) == 3
