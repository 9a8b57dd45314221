"""The learning-rate schedule in steps, and run ids (a pinned regression list)."""
from __future__ import annotations

import dataclasses
import hashlib
import math
import shutil

import pytest

from lottery.hparams import RESULT_GROUPS, Hparams
from training.schedule import lr_at

# Pinned: changing how ids are computed silently orphans every user's finished runs. Update only on purpose.
PINNED_IDS = {
    (): "44136fa355",
    (("data", "data_fraction", 0.01),): "c2f15e97dc",
    (("data", "per_class", 50), ("data", "augment", "autoaug"), ("data", "cutout", 16)): "dab62a9220",
    (("pruning", "rewind", "init"), ("training", "seed", 1)): "e3eb177592",
}


def with_values(changes) -> Hparams:
    hp = Hparams()
    for group, name, value in changes:
        hp = dataclasses.replace(hp, **{group: dataclasses.replace(getattr(hp, group), **{name: value})})
    return hp


@pytest.mark.parametrize("changes", list(PINNED_IDS))
def test_run_ids_are_pinned(changes):
    assert with_values(changes).run_id() == PINNED_IDS[changes]


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    return value + "x"


# fields that change results only together with another (alone, a canonical rule drops them from the id)
CONTEXT = {("data", "imbalance"): [("data", "long_tail", "exp")],
           ("model", "head_scale"): [("model", "head", "cosine")]}


def test_every_result_field_changes_the_id_and_job_fields_do_not():
    base = Hparams().run_id()
    for group in RESULT_GROUPS:
        for f in dataclasses.fields(getattr(Hparams(), group)):
            context = CONTEXT.get((group, f.name), [])
            changed = with_values([*context, (group, f.name, _changed(f.default))]).run_id()
            assert changed != with_values(context).run_id(), f"{group}.{f.name}"
    for f in dataclasses.fields(Hparams().job):
        assert with_values([("job", f.name, _changed(f.default))]).run_id() == base, f"job.{f.name}"


def test_the_id_of_an_init_checkpoint_is_its_content_not_its_path(tmp_path):
    first = tmp_path / "a" / "ckpt.pt"
    first.parent.mkdir()
    first.write_bytes(b"weights v1")
    copy = tmp_path / "b" / "renamed.pth"
    copy.parent.mkdir()
    shutil.copy(first, copy)
    (tmp_path / "link.pt").symlink_to(first)

    def ckpt(path):
        return with_values([("model", "init_checkpoint", str(path))])
    assert ckpt(first).run_id() == ckpt(copy).run_id() == ckpt(tmp_path / "link.pt").run_id() == "117d86db42"
    assert ckpt(first).canonical().model.init_checkpoint == "sha256:" + hashlib.sha256(b"weights v1").hexdigest()
    first.write_bytes(b"weights, retrained")  # the same path, another file: another run
    assert ckpt(first).run_id() not in (ckpt(copy).run_id(), Hparams().run_id())
    # the id of its path (before content ids) is where an earlier run directory of it is looked for
    assert ckpt(copy).earlier_run_ids() == [ckpt(copy).run_id(canonical=False)]


# (changes, id before the variants followed their authors (computed with that code), id now)
AUTHOR_DEFAULTS = [
    ((("model", "head", "cosine"),), "df4151a45a", "35c01c9517"),  # softplus scale: a new computation
    ((("model", "head", "cosine"), ("model", "head_scale", "raw")), "df4151a45a", "df4151a45a"),  # the old one
    ((("model", "head", "tvmf"),), "fe6d4c468b", "907b4a800d"),
    ((("model", "head", "tvmf"), ("model", "head_scale", "raw")), "fe6d4c468b", "fe6d4c468b"),
    ((("pruning", "prune_method", "grasp"), ("pruning", "target_density", 0.5)), "3b20a545f2", "20048f7ba9"),
    ((("pruning", "prune_method", "snip"), ("pruning", "target_density", 0.5)), "2207e7ad02", "2207e7ad02"),
    ((("model", "arch", "hresnet18"),), "a082ae2e31", "a082ae2e31"),  # the orthonormal basis stays the default
    ((("model", "arch", "hresnet18"), ("model", "harmonic_basis", "l1")), None, "13aec51150"),
]


@pytest.mark.parametrize("changes, before, now", AUTHOR_DEFAULTS)
def test_a_default_that_now_follows_the_authors_changes_only_the_ids_of_the_runs_it_changes(changes, before, now):
    assert with_values(changes).run_id() == now
    if before is not None and before != now:  # an old directory of the old computation is not adopted either
        assert before not in with_values(changes).earlier_run_ids()


def test_an_old_hparams_json_without_head_scale_reads_as_the_scale_it_trained_with():
    stored = Hparams().to_dict()
    del stored["model"]["head_scale"]
    stored["model"]["head"] = "cosine"
    assert Hparams.from_dict(stored).model.head_scale == "raw"
    stored["model"]["head"] = "linear"  # no scale at all: the same run as today's linear ones
    assert Hparams.from_dict(stored).canonical() == Hparams()


def test_cosine_schedule_and_rewind_alignment():
    total, spe = 200 * 5, 5
    assert lr_at(0, total, 0.1, "cosine") == pytest.approx(0.1)
    assert lr_at(total // 2, total, 0.1, "cosine") == pytest.approx(0.05)
    assert lr_at(total - 1, total, 0.1, "cosine") == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 999 / 1000)))
    # the first step of a level rewound to epoch 2 uses the LR of global step 2 * steps_per_epoch
    assert lr_at(2 * spe, total, 0.1, "cosine") < 0.1


def test_multistep_schedule():
    assert lr_at(0, 100, 0.1, "multistep") == pytest.approx(0.1)
    assert lr_at(50, 100, 0.1, "multistep") == pytest.approx(0.01)
    assert lr_at(75, 100, 0.1, "multistep") == pytest.approx(0.001)
