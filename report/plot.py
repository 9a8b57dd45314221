"""Accuracy against density: one panel per dataset and data fraction, one curve per setting (mean over seeds,
with a band of one standard deviation), density on a log axis with the dense network at the left."""
from __future__ import annotations

import math
from typing import Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from report.runs import RunRecord
from report.summary import METRICS, describe, differing_keys, group_settings, level_curve

TICKS = (100, 80, 64, 50, 40, 30, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1)


def plot_accuracy_vs_density(runs: Sequence[RunRecord], metric: str = "test_acc") -> Figure:
    """A matplotlib Figure (no pyplot, so it works headless and in a notebook): ``fig.savefig(path)``."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    settings = group_settings(runs)
    differing = differing_keys(settings)
    panels: dict[tuple[str, str], list] = {}
    for s in settings:
        d = describe(s.hparams, [])
        panels.setdefault((d["dataset"], d["data"]), []).append(s)
    n = max(len(panels), 1)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(5 * cols, 3.8 * rows), layout="constrained")
    for i, ((dataset, data), members) in enumerate(sorted(panels.items())):
        ax = fig.add_subplot(rows, cols, i + 1)
        for s in members:
            curve = level_curve(s, metric)
            if not curve:
                continue
            density = [100 * c[0] for c in curve]
            mean = [c[1] for c in curve]
            low = [m - (0 if math.isnan(c[2]) else c[2]) for m, c in zip(mean, curve)]
            high = [m + (0 if math.isnan(c[2]) else c[2]) for m, c in zip(mean, curve)]
            d = describe(s.hparams, differing)
            label = ", ".join(x for x in (d["augmentation"], d["method"], d["settings"]) if x)
            (line,) = ax.plot(density, mean, marker="o", markersize=3, label=f"{label} (n={len(s.runs)})")
            ax.fill_between(density, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xscale("log")
        sparsest = min((100 * s.density(k) for s in members for k in s.levels()), default=100)
        ticks = [t for t in TICKS if t >= 0.9 * sparsest]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.invert_xaxis()  # dense (100%) at the left, sparser to the right
        ax.set_title(f"{dataset}, data {data}")
        ax.set_xlabel("density (% of prunable weights kept, log scale)")
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    return fig
