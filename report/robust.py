"""Robustness, representation and layer-density summaries of a sweep, seeds pooled: the dense level 0 beside
the best ticket (the report's choice, ``report.summary.best_level``), per setting.

Reads each run's ``robustness.json`` (written by evaluate.py) and its per-layer densities (``level_<k>/metrics.json``,
or ``layers.json`` where the run was published without its level folders); writes nothing itself. Every number
is a mean ± sample std over the seeds that have it, with their count.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from lottery.run_dir import level_numbers
from report.runs import RunRecord
from report.summary import _pm, best_level, describe, differing_keys, group_settings, mean_std
from robustness import corruptions
from robustness.cka import STAGES
from robustness.tables import attack_curves, cka_rows

LAYERS_FILE = "layers.json"   # published runs: {level: {parameter: {"kept", "total", "density"}}}
ROBUSTNESS_FILE = "robustness.json"


def layer_table(path: Path) -> dict[int, dict[str, dict]]:
    """Per finished level, the per-layer ``kept/total/density`` of the run at ``path``."""
    published = path / LAYERS_FILE
    if published.exists():
        return {int(k): v for k, v in json.loads(published.read_text()).items()}
    table = {}
    for k in level_numbers(path, "metrics.json"):
        layers = json.loads((path / f"level_{k}" / "metrics.json").read_text()).get("layers")
        if layers is not None:  # every level main_imp.py writes has them
            table[k] = layers
    return table


def stage_densities(layers: dict[str, dict]) -> dict[str, float]:
    """Kept fraction of the prunable weights per stage (the first part of a parameter's name: stem, layer1...)."""
    kept: dict[str, list[int]] = {}
    for name, cell in layers.items():
        k = kept.setdefault(name.split(".", 1)[0], [0, 0])
        k[0] += cell["kept"]
        k[1] += cell["total"]
    return {stage: k / t for stage, (k, t) in kept.items()}


def _run_cells(run: RunRecord, level: int) -> dict[str, float]:
    """The summary numbers of one run at one level, in percent (CKA as a fraction); absent ones left out."""
    cells: dict[str, float] = {}
    records = json.loads((run.path / ROBUSTNESS_FILE).read_text()) if (run.path / ROBUSTNESS_FILE).exists() else []
    clean = [r["accuracy"] for r in records if r["suite"] == "clean" and r["level"] == level]
    if clean:
        cells["clean"] = 100 * clean[0]
    for row in corruptions.summarize(records):
        if row["level"] == level:
            for name in ("mean_acc", "relative_mce", "mce"):
                if row[name] is not None:
                    cells[f"c10c_{name}"] = (100 if name == "mean_acc" else 1) * row[name]
    for (lv, attack), points in attack_curves(records).items():
        if lv == level:
            for eps, acc in points[1:]:
                cells[f"{attack} eps {eps * 255:g}/255"] = 100 * acc
    for row in cka_rows(records):
        if row["level"] == level:
            cells.update({f"cka {s}": row[s] for s in STAGES if s in row})
    table = layer_table(run.path)
    if level in table:
        cells.update({f"density {s}": 100 * d for s, d in stage_densities(table[level]).items()})
    return cells


def robustness_rows(runs: Sequence[RunRecord], metric: str = "test_acc") -> list[dict[str, Any]]:
    """Per setting with stored evaluations, one row for level 0 and one for its best ticket: every summary number
    as (mean, std, seeds)."""
    settings = group_settings(runs)
    differing = differing_keys(settings)
    rows = []
    for s in settings:
        best = best_level(s, metric)
        for level in (0, best) if best is not None else (0,):
            per_seed = [_run_cells(r, level) for r in s.runs if level in r.levels]
            names = sorted({n for cells in per_seed for n in cells})
            if not any(n.startswith(("clean", "c10c", "cka", "pgd", "fgsm", "autoattack")) for n in names):
                continue
            values = {n: [c[n] for c in per_seed if n in c] for n in names}
            rows.append({**describe(s.hparams, differing), "level": level, "density": 100 * s.density(level),
                         "cells": {n: (*mean_std(v), len(v)) for n, v in values.items()}})
    return rows


def _section(title: str, note: str, rows: Sequence[dict[str, Any]], names: Sequence[str]) -> list[str]:
    present = [n for n in names if any(n in r["cells"] for r in rows)]
    if not present:
        return []
    head = ("dataset", "data", "augmentation", "method", "settings", "level (density)", *present)
    lines = [f"## {title}", "", note, "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [_pm(*r["cells"][n][:2]) + f" (n={r['cells'][n][2]})" if n in r["cells"] else "-" for n in present]
        lines.append("| " + " | ".join([r["dataset"], r["data"], r["augmentation"], r["method"],
                                        r["settings"] or "-", f"{r['level']} ({r['density']:.1f}%)", *cells]) + " |")
    return [*lines, ""]


def robustness_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as markdown: corruption and attack accuracy, CKA with the dense network, stage densities."""
    if not rows:
        return ""
    names = sorted({n for r in rows for n in r["cells"]})
    attacks = [n for n in names if n.startswith(("fgsm", "pgd", "autoattack"))]
    lines = ["# Robustness, representations and layer densities: dense level 0 and the best ticket", "",
             "Mean ± sample std over seeds (n: seeds with the number). The best ticket is the summary's (highest "
             "mean test accuracy among the pruned levels), so it is chosen on the test set.", ""]
    lines += _section("Corruptions (CIFAR-10-C)", "Clean and mean corruption accuracy (15 corruptions x 5 "
                      "severities) in %; mCE and relative mCE in % of the same run's dense level 0 (so 100 there; "
                      "lower is more robust). Relative mCE measures the drop from clean accuracy, so a model near "
                      "chance level, with little left to lose, can show any value: read it with the clean accuracy.",
                      rows, ["clean", "c10c_mean_acc", "c10c_mce", "c10c_relative_mce"])
    lines += _section("Adversarial accuracy", "Accuracy in % under white-box L-inf attacks (fp32, model in eval "
                      "mode), at the radii evaluated.", rows, attacks)
    lines += _section("Representations (linear CKA with the dense level 0)", "1 at level 0 by definition; lower "
                      "means the ticket's features differ more from the dense network's.",
                      [r for r in rows if r["level"] != 0], [f"cka {s}" for s in STAGES])
    lines += _section("Layer densities", "Kept fraction (%) of each stage's prunable weights: the paper finds the "
                      "early layers stay dense.", rows, [f"density {s}" for s in STAGES])
    return "\n".join(lines)
