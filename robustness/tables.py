"""Summaries of stored records and of run results, as rows (for plots and the notebook) and as text (for evaluate.py).

Nothing here is stored: every summary is recomputed from ``robustness.json`` / ``results.json`` when asked for.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from lottery.run_dir import RunDir
from robustness import corruptions, shift
from robustness.cka import STAGES
from utils.io import load_json


ATTACK_SUITES = ("fgsm", "pgd", "autoattack")


def attack_curves(records: list[dict]) -> dict[tuple[int, str], list[tuple[float, float]]]:
    """(level, attack name) -> [(eps, accuracy), ...] by eps, starting with its suite's clean accuracy at eps 0."""
    clean = {(r["level"], r["suite"]): r["accuracy"] for r in records
             if r["suite"] in ATTACK_SUITES and r["name"] == "clean"}
    curves: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for r in sorted(records, key=lambda r: r["eps"] or 0.0):
        if r["suite"] in ATTACK_SUITES and r["name"] != "clean":
            points = curves.setdefault((r["level"], r["name"]), [])
            if not points and (r["level"], r["suite"]) in clean:
                points.append((0.0, clean[(r["level"], r["suite"])]))
            points.append((r["eps"], r["accuracy"]))
    return curves


def cka_rows(records: list[dict]) -> list[dict]:
    """Per level: density and CKA per stage."""
    rows: dict[int, dict] = {}
    for r in records:
        if r["suite"] == "cka":
            rows.setdefault(r["level"], {"level": r["level"], "density": r["density"]})[r["name"]] = r["cka"]
    return [rows[k] for k in sorted(rows)]


def _seedless_label(run: RunDir) -> tuple[str, str]:
    """A key shared by runs that differ only in ``--seed`` and ``--data-seed`` (a sweep's seeds set both), and
    a readable label for them."""
    hp = dataclasses.replace(run.hp, training=dataclasses.replace(run.hp.training, seed=0),
                             data=dataclasses.replace(run.hp.data, data_seed=0))
    label = ", ".join(f"{k.split('.', 1)[1]}={v}" for k, v in hp.non_default().items()) or "paper recipe"
    return hp.run_id(), label


def accuracy_by_density(run_roots: Sequence[str | Path]) -> list[dict]:
    """Test accuracy against density from each run's ``results.json``, runs that differ only in the seed pooled:
    per group and level the mean, min and max over seeds (``seeds``: how many runs reached each level)."""
    groups: dict[str, dict] = {}
    for root in run_roots:
        run = RunDir.open(root)
        key, label = _seedless_label(run)
        group = groups.setdefault(key, {"label": label, "levels": {}})
        for r in load_json(Path(root) / "results.json")["levels"]:
            group["levels"].setdefault(r["level"], {"density": r["density"], "acc": []})["acc"].append(r["test_acc"])
    out = []
    for group in groups.values():
        levels = [group["levels"][k] for k in sorted(group["levels"])]
        out.append({"label": group["label"], "density": [lv["density"] for lv in levels],
                    "mean": [float(np.mean(lv["acc"])) for lv in levels],
                    "low": [min(lv["acc"]) for lv in levels], "high": [max(lv["acc"]) for lv in levels],
                    "seeds": [len(lv["acc"]) for lv in levels]})
    return out


def _pct(value: float | None) -> str:
    return "     -" if value is None else f"{100 * value:6.2f}"


def format_summary(records: list[dict]) -> str:
    """Text tables of one run's stored records: clean and shifted accuracy, CIFAR-10-C, attacks, CKA."""
    clean = [r for r in records if r["suite"] == "clean"]
    lines = ["clean test accuracy %: " + "  ".join(f"level {r['level']} ({_pct(r['density']).strip()}% dense): "
                                                   f"{_pct(r['accuracy']).strip()}" for r in clean)] if clean else []
    c10c = corruptions.summarize(records)
    if c10c:
        lines += ["CIFAR-10-C (accuracy %, mCE and relative mCE vs the dense level 0 = 100)",
                  "level density  mean15  extra4     mCE  rel.mCE"]
        lines += [f"{r['level']:>5} {_pct(r['density'])}  {_pct(r['mean_acc'])}  {_pct(r['extra_mean_acc'])}  "
                  f"{r['mce'] if r['mce'] is not None else float('nan'):6.1f}  "
                  f"{r['relative_mce'] if r['relative_mce'] is not None else float('nan'):7.1f}" for r in c10c]
    gaps = shift.summarize(records)
    if gaps:
        lines += ["distribution shift (accuracy %, gap = clean - shifted, points)",
                  "level density  set                 acc   clean    gap"]
        lines += [f"{r['level']:>5} {_pct(r['density'])}  {r['set']:<16} {_pct(r['accuracy'])}  {_pct(r['clean_acc'])} "
                  f"{_pct(r['gap'])}" for r in gaps]
    curves = attack_curves(records)
    if curves:
        lines += ["adversarial accuracy % (fp32) at eps = k/255"]
        for (level, name), points in sorted(curves.items()):
            lines.append(f"level {level:>2} {name:<8} " + "  ".join(f"{e * 255:g}: {100 * a:5.1f}" for e, a in points))
    rows = cka_rows(records)
    if rows:
        lines += ["linear CKA with the dense level 0", "level density  " + "  ".join(f"{s:>6}" for s in STAGES)]
        lines += [f"{r['level']:>5} {_pct(r['density'])}  "
                  + "  ".join(f"{r.get(s, float('nan')):6.3f}" for s in STAGES)
                  for r in rows]
    return "\n".join(lines)
