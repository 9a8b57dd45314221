"""Summaries of stored records, as rows (for plots and the notebook) and as text (for evaluate.py), and their
pooling over seeds by the report's rule (mean ± sample std; the runs themselves are read by ``report.load_runs``).

Nothing here is stored: every summary is recomputed from ``robustness.json`` when asked for.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

from report.summary import mean_std
from robustness import corruptions, shift
from robustness.cka import STAGES


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


def pool(runs: Sequence[Sequence[dict]], value: Callable[[dict], float | None], by: str = "level",
         x: str = "density") -> list[tuple[float, float, float, int]]:
    """One quantity of several seeds' summary rows, pooled by the report's rule (``report.summary.mean_std``): per
    value of ``by`` (default: per level), ``(row[x], mean, sample std, seeds)``, in the order of ``by``; a seed
    without a value there is left out of that point."""
    values: dict = {}
    where: dict = {}
    for rows in runs:
        for row in rows:
            v = value(row)
            if v is not None and not math.isnan(v):
                values.setdefault(row[by], []).append(v)
                where[row[by]] = row[x]
    return [(where[k], *mean_std(values[k]), len(values[k])) for k in sorted(values)]


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
        chance = corruptions.dense_near_chance(records)
        if chance is not None:
            lines.append(f"(the dense level 0 is near chance, {100 * chance:.1f}% clean: its drops under corruption "
                         f"are noise, so relative mCE means nothing here)")
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
