"""Accuracy against density: one panel per dataset and data fraction, one curve per setting (mean over seeds,
with a band of one standard deviation), density on a log axis with the dense network at the left."""
from __future__ import annotations

import math
from typing import Sequence

from matplotlib.figure import Figure

from report.runs import RunRecord
from report.summary import METRICS, describe, group_settings, level_curve


def plot_accuracy_vs_density(runs: Sequence[RunRecord], metric: str = "test_acc") -> Figure:
    """A matplotlib Figure (no pyplot, so it works headless and in a notebook): ``fig.savefig(path)``."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    settings = group_settings(runs)
    keys = sorted({k for s in settings for k in s.hparams})
    differing = [k for k in keys if len({repr(s.hparams.get(k)) for s in settings}) > 1
                 and k not in ("data.dataset", "data.data_fraction", "data.per_class")]
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
            label = ", ".join(f"{k.split('.', 1)[1]}={s.hparams[k]}" for k in differing) or "all runs"
            (line,) = ax.plot(density, mean, marker="o", markersize=3, label=f"{label} (n={len(s.runs)})")
            ax.fill_between(density, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_xscale("log")
        ax.invert_xaxis()  # dense (100%) at the left, sparser to the right
        ax.set_title(f"{dataset}, data {data}")
        ax.set_xlabel("density (% of prunable weights, log scale)")
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    return fig
