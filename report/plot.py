"""Accuracy against density: one panel per dataset and training subset, one curve per setting (mean over seeds,
with a band of ± one sample standard deviation, n in the legend), the dense level of each setting as a dotted
reference line, density on a log axis with the dense network at the left (``report.style``)."""
from __future__ import annotations

import math
from typing import Sequence

from matplotlib.figure import Figure

from report.runs import RunRecord
from report.style import DATASET_NAMES, band, data_words, dense_line, density_axis, method_words, steady_ylim
from report.summary import METRICS, describe, differing_keys, group_settings, level_curve

AXIS_LABELS = {"test_acc": "test accuracy after the last epoch (%)",
               "best_test_acc": "best test accuracy over the epochs (%)"}
#: the smallest y range an accuracy axis shows, in points
ACCURACY_SPAN = 10.0


def plot_accuracy_vs_density(runs: Sequence[RunRecord], metric: str = "test_acc") -> Figure:
    """A matplotlib Figure (no pyplot, so it works headless and in a notebook): ``fig.savefig(path)``."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    settings = [s for s in group_settings(runs) if level_curve(s, metric)]
    differing = differing_keys(settings)
    panels: dict[tuple[str, str], list] = {}
    for s in settings:
        panels.setdefault((s.hparams["data.dataset"], data_words(s.hparams)), []).append(s)
    n = max(len(panels), 1)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(5.5 * cols, 4.2 * rows), layout="constrained")
    for i, ((dataset, data), members) in enumerate(sorted(panels.items())):
        ax = fig.add_subplot(rows, cols, i + 1)
        methods = {method_words(s.hparams) for s in members}
        densities = []
        for j, s in enumerate(members):
            curve = level_curve(s, metric)
            d = describe(s.hparams, differing)
            label = ", ".join(x for x in (d["augmentation"], *([] if len(methods) == 1 else
                                                              [method_words(s.hparams)]), d["settings"]) if x)
            density = [100 * c[0] for c in curve]
            line = band(ax, density, [c[1] for c in curve], [c[2] for c in curve], [c[3] for c in curve], label)
            if curve[0][0] == 1.0:  # level 0 finished: the dense network as reference
                dense_line(ax, curve[0][1], line.get_color(),
                           "dense network (level 0), dotted" if j == 0 else None)
            densities += density
        density_axis(ax, densities, percent=True)
        title = ", ".join([DATASET_NAMES.get(dataset, dataset), data, *methods] if len(methods) == 1 else
                          [DATASET_NAMES.get(dataset, dataset), data])
        ax.set_title(title)
        ax.set_ylabel(AXIS_LABELS[metric])
        steady_ylim(ax, ACCURACY_SPAN, 0, 100)
        ax.legend(fontsize="small", title="mean ± std over seeds", title_fontsize="small")
    return fig
