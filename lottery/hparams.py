"""Hyperparameters as frozen dataclasses: they generate the CLI and name the run directory.

Adding a hyperparameter is one field: its default is the paper recipe (or a no-op), its ``help`` is the flag's
help text, and ``choices`` (a callable, so registries are read lazily) restricts its values. Groups in
``RESULT_GROUPS`` change what a run computes and go into the run id; ``JobHparams`` says only where and how fast
it runs, and does not.

When a new field's default is not what runs computed before it existed (a variant that now follows its authors),
``before`` names the old behaviour: an ``hparams.json`` without the field reads as ``before``, and a run at
``before`` keeps the id it had. The runs whose computation the new default (or a fixed defect) changes are named
in ``REVISIONS``, which enter their ids, so no old run directory is taken for the new computation; the ids of runs
it does not touch stay as they were.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


def _choices(loader: Callable[[], Any]) -> Callable[[], list[str]]:
    return lambda: list(loader())


def _datasets():
    import datasets
    return datasets.DATASETS


def _models():
    import models
    return models.MODELS


def _heads():
    import models
    return models.HEADS


def _augmentations():
    import augment
    return augment.AUGMENTATIONS


def _methods():
    import pruning
    return pruning.METHODS


def _scopes():
    import pruning
    return pruning.SCOPES


def _schedules():
    from training.schedule import SCHEDULES
    return SCHEDULES


def _long_tails():
    from datasets.subset import LONG_TAILS
    return LONG_TAILS


_NO_BEFORE = object()


def _flag(default: Any, help: str, choices: Callable[[], list[str]] | None = None, before: Any = _NO_BEFORE,
          **argparse_kw: Any):
    """A hyperparameter; ``before``: what runs computed with before the field existed, where that is not
    ``default`` (module docstring)."""
    metadata = {"help": help, "choices": choices, "argparse": argparse_kw}
    if before is not _NO_BEFORE:
        metadata["before"] = before
    return field(default=default, metadata=metadata)


def _before(group_cls: type) -> dict[str, Any]:
    """``{field: before}`` of the fields of ``group_cls`` that declare one."""
    return {f.name: f.metadata["before"] for f in dataclasses.fields(group_cls) if "before" in f.metadata}


@dataclass(frozen=True)
class SubsetHparams:
    """Which training images a run uses: the dataset and a class-balanced subset of it (``DataHparams`` adds the
    long tail and the augmentation; ``pretrain_ssl.py`` uses this group as it is)."""
    dataset: str = _flag("cifar10", "dataset (README: Datasets)", _choices(_datasets))
    image_size: int = _flag(0, "model input side in pixels for the image-file datasets (training images are "
                            "stored at 256/224 of it for the ImageNet-style ones); 0 = the dataset's own "
                            "(EuroSAT 64, the others 224)")
    data_fraction: float = _flag(1.0, "fraction of the training set kept, class-balanced, 0 < F <= 1")
    per_class: int = _flag(0, "training images kept per class (instead of --data-fraction); 0 = use the fraction")
    data_seed: int = _flag(0, "seed of the subset draw (independent of --seed)")

    def long_tail_profile(self) -> tuple[str, float]:
        """(``--long-tail``, ``--imbalance``) of the subset draw: a balanced one here."""
        return "none", 1.0

    def test_cap(self) -> int:
        """How many test images the run is tested on (``--test-images``; 0: all of them, as here)."""
        return 0


@dataclass(frozen=True)
class DataHparams(SubsetHparams):
    long_tail: str = _flag("none", "long-tailed subset: exp (class i keeps n*R^(i/(C-1))) or step (half keep n*R)",
                           _choices(_long_tails))
    imbalance: float = _flag(0.01, "R, the smallest class's share of the largest for --long-tail, 0 < R <= 1")
    augment: str = _flag("base", "training augmentation applied on the device (README: Augmentation)",
                         _choices(_augmentations))
    cutout: int = _flag(0, "Cutout square side in pixels (16 when given without a value); 0 = off",
                        nargs="?", const=16)
    mixup: float = _flag(0.0, "mixup Beta(alpha, alpha); 0 = off")
    cutmix: float = _flag(0.0, "CutMix Beta(alpha, alpha); 0 = off (with --mixup too: one of them per batch)")
    test_images: int = _flag(0, "test on N images of the test set only, class-balanced (a cap for plumbing runs "
                             "such as QUICK: it changes the test accuracy, so it enters the run id); 0 = all")

    def long_tail_profile(self) -> tuple[str, float]:
        return self.long_tail, self.imbalance

    def test_cap(self) -> int:
        return self.test_images


@dataclass(frozen=True)
class BackboneHparams:
    """The network whose weights a run trains (``ModelHparams`` adds the classifier and the starting weights)."""
    arch: str = _flag("resnet18", "architecture (CIFAR stem for inputs up to 64 px)", _choices(_models))
    width: int = _flag(64, "base width (64 = the standard ResNet-18)")


@dataclass(frozen=True)
class ModelHparams(BackboneHparams):
    match_density: float = _flag(0.0, "small dense baseline: train once, dense, at the width whose prunable weight "
                                 "count is closest to D x that of --width; 0 = off")
    head: str = _flag("linear", "classifier: linear, cosine (scaled cosine of L2-normalised features and class "
                      "weights, learned scale) or tvmf (t-vMF similarity, see --tvmf-kappa); never pruned",
                      _choices(_heads))
    tvmf_kappa: float = _flag(16.0, "concentration kappa of the t-vMF head (--head tvmf only)")
    head_scale: str = _flag("softplus", "logit scale of the cosine and t-vMF heads: softplus = 1 + softplus(s) with "
                            "s learned from 0 (1.69 at the start, never below 1: the t-vMF authors' code); raw = "
                            "a plain learned scale from 10 (this code's before)", lambda: ["softplus", "raw"],
                            before="raw")
    harmonic_basis: str = _flag("orthonormal", "DCT basis of --arch hresnet18: orthonormal (a coefficient's "
                                "magnitude is its share of the filter, what IMP ranks) or l1 (each filter's "
                                "absolute values sum to 1, as the released code); README: Model variants",
                                lambda: ["orthonormal", "l1"])
    init: str = _flag("random", "starting weights: random, or imagenet (torchvision's ImageNet weights of the "
                      "arch; downloaded by torchvision, or read from --init-checkpoint offline)",
                      lambda: ["random", "imagenet"])
    init_checkpoint: str = _flag("", "checkpoint loaded over the initialisation: a (self-supervised) ResNet in "
                                 "torchvision layout, keys optionally prefixed by module., encoder., backbone., "
                                 "model., encoder_q.; with --init imagenet, the local copy of the ImageNet weights")


@dataclass(frozen=True)
class PruningHparams:
    prune_rate: float = _flag(0.2, "fraction of the remaining prunable weights removed per level")
    prune_scope: str = _flag("global", "rank weights across all layers or within each layer", _choices(_scopes))
    prune_method: str = _flag("magnitude", "magnitude, random: IMP; omp, snip, grasp, synflow, random_erk, "
                              "random_uniform: one-shot at --target-density (README: Baselines)", _choices(_methods))
    target_density: float = _flag(0.0, "density the one-shot methods prune to, 0 < D < 1; 0 for IMP")
    score_batches: int = _flag(1, "batches of --batch-size from the training subset, unaugmented, that snip and "
                               "grasp score on")
    synflow_rounds: int = _flag(100, "scoring rounds of synflow's iterative pruning")
    reinit: bool = _flag(False, "train the masks of the finished run with the same other flags from a fresh "
                         "random initialisation (the classic ticket control)")
    rewind: str = _flag("epoch:2", "where levels > 0 restart: epoch:N (weights and LR schedule after N epochs of "
                        "level 0), init (epoch:0), trained (previous level's final weights, LR schedule from 0)")


@dataclass(frozen=True)
class TrainingHparams:
    epochs: int = _flag(200, "epochs per level")
    batch_size: int = _flag(100, "batch size")
    lr: float = _flag(0.1, "peak learning rate (SGD)")
    momentum: float = _flag(0.9, "SGD momentum")
    weight_decay: float = _flag(5e-4, "weight decay (all parameters)")
    schedule: str = _flag("cosine", "learning-rate schedule over each level's steps (multistep: x0.1 at 50%, 75%)",
                          _choices(_schedules))
    seed: int = _flag(0, "seed of initialisation, data order and augmentation")
    precision: str = _flag("auto", "auto = bf16 autocast + channels_last on CUDA, fp32 on CPU",
                           lambda: ["auto", "bf16", "fp32"])
    advprop: bool = _flag(False, "AdvProp: train on the mean of the clean loss and the loss on PGD adversarial "
                          "examples, which go through auxiliary BatchNorms (evaluation and saved weights use the "
                          "clean ones)")
    advprop_eps: float = _flag(8.0, "AdvProp PGD L-inf radius, in pixel levels of 1/255 ([0,1] images)")
    advprop_step_size: float = _flag(2.0, "AdvProp PGD step size, in pixel levels of 1/255")
    advprop_steps: int = _flag(1, "AdvProp PGD steps")
    advprop_start: str = _flag("random", "AdvProp PGD start: random (uniform in the eps ball) or clean",
                               lambda: ["random", "clean"])


@dataclass(frozen=True)
class JobHparams:
    """How far, where and how a run executes; none of it changes any level's result, so none of it is in the
    run id. (``rounds`` is here because level k does not depend on how many levels follow: a finished run
    rerun with more rounds continues where it stopped.)"""
    rounds: int = _flag(16, "IMP levels, the dense one included: densities (1-rate)^0 .. (1-rate)^(rounds-1)")
    data_root: str = _flag("data", "folder holding <dataset>.npz or torchvision's download, or an image-file "
                           "dataset's files (README: Datasets)")
    out: str = _flag("runs", "output folder; each run writes <out>/<run-id>/")
    device: str = _flag("auto", "cuda when available, else cpu; or any torch device string")
    eval_every: int = _flag(10, "epochs between test evaluations; the last epoch of a level is always "
                            "evaluated, and 0 evaluates only there")
    checkpoint_minutes: float = _flag(2.0, "minutes of training between resumable checkpoints within a level "
                                      "(0: after every epoch)")
    data_path: str = _flag("auto", "gpu: training set resident on the device; cpu: DataLoader from host memory; "
                           "auto: gpu on CUDA", lambda: ["auto", "gpu", "cpu"])
    compile: str = _flag("auto", "graph (CUDA): replay each training step from one captured CUDA graph; full "
                         "(a bare --compile): torch.compile the model and the augmentation too (on a CPU: "
                         "torch.compile only); off: eager; auto: on CUDA full for levels of 10,000 steps or "
                         "more (10% of CIFAR-10 and up), else graph; off elsewhere",
                         lambda: ["auto", "off", "graph", "full"], nargs="?", const="full")
    speedups: str = _flag("", "candidate speed-ups of the training step, comma-separated, each computing what the "
                          "default step computes (not yet defaults: bench/bench_speedups.py measures them): "
                          "masked_update (SGD and the mask as one torch.compile'd function), bn_counters "
                          "(BatchNorm without counting batches), im2col_stem (the stem convolution as im2col "
                          "and one matrix product); docs/speed.md")
    workers: int = _flag(2, "DataLoader workers of the cpu data path")


RESULT_GROUPS = ("data", "model", "pruning", "training")


class HparamTree:
    """What every entry point's hyperparameters share (a frozen dataclass of frozen groups: ``Hparams`` for
    main_imp.py, ``selfsup.hparams.SSLHparams`` for pretrain_ssl.py): dict round trips, one canonical spelling
    (``rules``) and the run id, a hash of the non-default values of the groups in ``RESULT_GROUPS``."""

    RESULT_GROUPS: typing.ClassVar[tuple[str, ...]] = ()

    def rules(self) -> tuple[Callable[[Any], Any], ...]:
        """The canonical-form rules applied, in order, before the run id is hashed."""
        return (_annotated_types,)

    def groups(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self, include_job: bool = False) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(group) for name, group in self.groups().items()
                if include_job or name in self.RESULT_GROUPS}

    @classmethod
    def from_dict(cls, d: dict[str, dict[str, Any]]):
        """Build from nested ``{group: {field: value}}``; a field missing from ``d`` takes its ``before`` value
        if it declares one, else its default, so an ``hparams.json`` written before that field existed reads as
        what that run computed (unknown keys are refused by the dataclass constructor, as ``TypeError``)."""
        types = {f.name: f.default_factory for f in dataclasses.fields(cls)}
        return cls(**{name: types[name](**{**_before(types[name]), **values}) for name, values in d.items()})

    def revisions(self) -> tuple[tuple[str, Callable[[Any], bool]], ...]:
        """Changes of computation that enter the ids of the runs they apply to (module docstring)."""
        return ()

    def canonical(self, rules: Sequence[Callable[[Any], Any]] | None = None):
        """The same computation under one spelling: every rule in ``rules`` (default ``rules()``) applied in
        turn."""
        hp = self
        for rule in self.rules() if rules is None else rules:
            hp = rule(hp)
        return hp

    def non_default(self) -> dict[str, Any]:
        """The result-affecting values that differ from their defaults, as ``group.field``."""
        out = {}
        for name in self.RESULT_GROUPS:
            group = getattr(self, name)
            for f in dataclasses.fields(group):
                value = getattr(group, f.name)
                if value != f.default:
                    out[f"{name}.{f.name}"] = value
        return out

    def id_values(self) -> dict[str, Any]:
        """What the run id hashes (of this spelling; ``run_id`` takes the canonical one): the non-default
        values, less those at their ``before`` value, and under ``revisions`` the ``REVISIONS`` that apply."""
        values = {key: value for key, value in self.non_default().items()
                  if _before(type(getattr(self, key.split(".")[0]))).get(key.split(".")[1], _NO_BEFORE) != value}
        revisions = [name for name, applies in self.revisions() if applies(self)]
        return {**values, "revisions": revisions} if revisions else values

    def run_id(self, canonical: bool = True) -> str:
        """Short hash of ``id_values`` of the canonical form: a new field with a default keeps old ids, and
        equivalent spellings share one id. (``canonical=False`` gives the id this spelling had before canonical
        forms existed.)"""
        return _short_hash((self.canonical() if canonical else self).id_values())

    def earlier_run_ids(self) -> list[str]:
        """The ids this spelling had under the earlier sets of canonical rules (each a prefix of
        ``CANONICAL_RULES``, newest first; the empty prefix is ``run_id(canonical=False)``), without the current
        id: where a run directory written before the newer rules lives."""
        current = self.run_id()
        rules = self.rules()
        ids = [_short_hash(self.canonical(rules[:n]).id_values()) for n in range(len(rules))]
        return [i for i in dict.fromkeys(reversed(ids)) if i != current]


@dataclass(frozen=True)
class Hparams(HparamTree):
    RESULT_GROUPS: typing.ClassVar[tuple[str, ...]] = RESULT_GROUPS

    data: DataHparams = field(default_factory=DataHparams)
    model: ModelHparams = field(default_factory=ModelHparams)
    pruning: PruningHparams = field(default_factory=PruningHparams)
    training: TrainingHparams = field(default_factory=TrainingHparams)
    job: JobHparams = field(default_factory=JobHparams)

    def rules(self) -> tuple[Callable[["Hparams"], "Hparams"], ...]:
        return CANONICAL_RULES

    def revisions(self) -> tuple[tuple[str, Callable[["Hparams"], bool]], ...]:
        return REVISIONS

    @property
    def rewind_epoch(self) -> int | None:
        """Epoch of level 0 whose end state later levels restart from; None for 'trained'."""
        rewind = self.pruning.rewind
        if rewind == "trained":
            return None
        if rewind == "init":
            return 0
        return int(parse_rewind_epoch(rewind))  # type: ignore[arg-type]


def _short_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]


_REWIND_EPOCH = re.compile(r"epoch:([0-9]+)")  # ASCII digits only: str.isdigit() also accepts "²"


def parse_rewind_epoch(rewind: str) -> int | None:
    """N of ``epoch:N``; None when ``rewind`` is not of that form."""
    match = _REWIND_EPOCH.fullmatch(rewind)
    return int(match.group(1)) if match else None


# --- Canonical forms ------------------------------------------------------------------------------------------
# Each rule maps an Hparams to an equivalent one (same computation, same results) in one agreed spelling, and
# leaves values it does not recognise alone (validation reports those). Rules run in order before the run id is
# hashed and before hparams.json is written or compared. Spell each canonical form as the one the pinned ids
# (tests/test_schedule_and_ids.py) already use, so existing run ids do not move. To add one: a function below
# and an entry in CANONICAL_RULES.

def _replace(hp: Hparams, group: str, **changes: Any) -> Hparams:
    return dataclasses.replace(hp, **{group: dataclasses.replace(getattr(hp, group), **changes)})


def _annotated_types(hp: Hparams) -> Hparams:
    """A value of a float field that arrived as an int (``1`` from JSON, a default written ``0``) is the float
    ``1.0``, and the reverse for int fields holding whole floats: JSON hashes ``1`` and ``1.0`` differently."""
    for f in dataclasses.fields(hp):
        group = getattr(hp, f.name)
        types = typing.get_type_hints(type(group))
        changes = {}
        for g in dataclasses.fields(group):
            value, kind = getattr(group, g.name), types[g.name]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                changes[g.name] = float(value)
            elif kind is int and isinstance(value, float) and value.is_integer():
                changes[g.name] = int(value)
        if changes:
            hp = _replace(hp, f.name, **changes)
    return hp


def _rewind_spelling(hp: Hparams) -> Hparams:
    """``epoch:0`` is ``init`` (rewinding to the state after zero epochs), ``epoch:02`` is ``epoch:2``."""
    n = parse_rewind_epoch(hp.pruning.rewind)
    if n is None:
        return hp
    return _replace(hp, "pruning", rewind="init" if n == 0 else f"epoch:{n}")


def _flat_long_tail(hp: Hparams) -> Hparams:
    """A long tail with ratio 1 keeps n images of every class: the balanced subset, drawn identically."""
    if hp.data.long_tail != "none" and hp.data.imbalance == 1:
        return _replace(hp, "data", long_tail="none")
    return hp


def _unused_imbalance(hp: Hparams) -> Hparams:
    """``--imbalance`` only shapes a long tail; without one its value changes nothing."""
    if hp.data.long_tail == "none":
        return _replace(hp, "data", imbalance=DataHparams.imbalance)
    return hp


def _unused_rewind(hp: Hparams) -> Hparams:
    """Pruning at initialisation trains one level from the initial weights: ``--rewind`` changes nothing."""
    from pruning import METHODS  # the registry (and torch) only once a run is named
    method = METHODS.get(hp.pruning.prune_method)
    if method is not None and method.when == "init":
        return _replace(hp, "pruning", rewind=PruningHparams.rewind)
    return hp


CHECKPOINT_DIGEST = "sha256:"


@functools.lru_cache(maxsize=32)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:  # size and mtime: a rewritten file is read again
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _checkpoint_content(hp: Hparams) -> Hparams:
    """``--init-checkpoint`` is named by its content, ``sha256:<hex digest>``, not its path: the same file at two
    paths is one run, a file changed in place a new one. A name that is no file (already a digest, or a missing
    path, which validation reports) is left alone. The runner reads the file from the path it was given."""
    path = hp.model.init_checkpoint
    if not path or path.startswith(CHECKPOINT_DIGEST) or not os.path.isfile(path):
        return hp
    stat = os.stat(path)
    return _replace(hp, "model", init_checkpoint=CHECKPOINT_DIGEST + _file_digest(os.path.realpath(path),
                                                                                  stat.st_size, stat.st_mtime_ns))


def _unused_head_scale(hp: Hparams) -> Hparams:
    """The linear head has no logit scale: ``--head-scale`` changes nothing there (and an hparams.json from
    before the field reads as ``raw``)."""
    if hp.model.head == "linear":
        return _replace(hp, "model", head_scale=ModelHparams.head_scale)
    return hp


# Append new rules at the end: each prefix of this tuple is a rule set ids were once computed under, and
# ``Hparams.earlier_run_ids`` looks for run directories written then under those prefixes.
CANONICAL_RULES: tuple[Callable[[Hparams], Hparams], ...] = (
    _annotated_types, _rewind_spelling, _flat_long_tail, _unused_imbalance, _unused_rewind, _checkpoint_content,
    _unused_head_scale)


# --- Revisions ------------------------------------------------------------------------------------------------
# A change of what some runs compute, made after their ids were in use: (name, the runs it changes). Its name
# enters the id of exactly those runs, so a run directory that holds the earlier computation is never resumed or
# reported as the new one; every other id stays. To add one: an entry at the end.
REVISIONS: tuple[tuple[str, Callable[[Hparams], bool]], ...] = (
    # the cosine and t-vMF heads' scale follows the t-vMF authors (--head-scale; raw keeps the old ids)
    ("head-scale-softplus", lambda hp: hp.model.head != "linear" and hp.model.head_scale == "softplus"),
    # GraSP's g and Hg include the classifier, as the paper and its authors' code (before: prunable weights only)
    ("grasp-with-classifier", lambda hp: hp.pruning.prune_method == "grasp"),
)
