"""The random-pruning control: each ticket beside random pruning at the same level (so the same density), from
the same dense level 0, seed by seed.

A control pairs a setting with the setting whose hyperparameters are equal except ``--prune-method random``; a
seed pairs with the same seed (same initialisation, subset, data order and augmentation draws), so level 0 is the
same network in both and the difference at a level is the mask's doing, not the sparsity's (the paper's claim).
"""
from __future__ import annotations

from typing import Any, Sequence

from report.runs import RunRecord
from report.summary import (CONFIDENCE, SEED_KEYS, _interval, _pm, best_level, confidence_interval,
                            describe, differing_keys, group_settings, mean_std)

CONTROL_METHOD = "random"


def _without_method(hp: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in hp.items() if k != "pruning.prune_method"))


def _seeds(run: RunRecord) -> tuple:
    return tuple(run.hparams[k] for k in SEED_KEYS)


def control_rows(runs: Sequence[RunRecord], metric: str = "test_acc") -> list[dict[str, Any]]:
    """One row per setting that has a random-pruning control: at the setting's best ticket level, the ticket's and
    the control's accuracy (mean ± std over the paired seeds) and ticket - control per seed with its confidence
    interval."""
    settings = group_settings(runs)
    differing = [k for k in differing_keys(settings) if k != "pruning.prune_method"]
    controls = {_without_method(s.hparams): s for s in settings if s.hparams["pruning.prune_method"] == CONTROL_METHOD}
    rows = []
    for s in settings:
        control = controls.get(_without_method(s.hparams))
        best = best_level(s, metric)
        if control is None or control is s or best is None:
            continue
        by_seed = {_seeds(r): r for r in control.runs}
        pairs = [(r, by_seed[_seeds(r)]) for r in s.runs if _seeds(r) in by_seed]
        pairs = [(t, c) for t, c in pairs if best in t.levels and best in c.levels]
        diffs = [100 * (t.levels[best][metric] - c.levels[best][metric]) for t, c in pairs]
        rows.append({**describe(s.hparams, differing), "pairs": len(pairs), "level": best,
                     "density": 100 * s.density(best),
                     "ticket": mean_std([100 * t.levels[best][metric] for t, _ in pairs]),
                     "control": mean_std([100 * c.levels[best][metric] for _, c in pairs]),
                     "difference": mean_std(diffs), "ci": confidence_interval(diffs),
                     "same_dense": all(0 in t.levels and 0 in c.levels
                                       and t.levels[0][metric] == c.levels[0][metric] for t, c in pairs)})
    return rows


def control_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a markdown section (empty when there are none)."""
    if not rows:
        return ""
    head = ("dataset", "data", "augmentation", "method", "settings", "seed pairs", "ticket density", "ticket acc",
            "random pruning acc", "ticket - random (points)", f"{100 * CONFIDENCE:g}% CI", "same dense level 0")
    lines = ["## The random-pruning control", "",
             "Each ticket beside the run with the same flags and seed but `--prune-method random`, at the ticket's "
             "level (the same density). Seeds are paired: ticket - random is taken per seed, then its mean ± std "
             "and Student-t interval. *Same dense level 0*: whether the paired runs' level-0 accuracies are equal "
             "(they start from the same dense network).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = (r["dataset"], r["data"], r["augmentation"], r["method"], r["settings"] or "-", r["pairs"],
                 f"{r['density']:.1f}% (level {r['level']})", _pm(*r["ticket"]), _pm(*r["control"]),
                 _pm(*r["difference"]), _interval(*r["ci"]), "yes" if r["same_dense"] else "no")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"

