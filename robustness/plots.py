"""The figures of helpers.ipynb and of ``evaluate.py --plots``: each function takes records (or run directories) and
returns a matplotlib Figure; ``write_plots`` saves them all as PNG files. Density axes are logarithmic and run from
dense (left) to sparse (right)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from lottery.run_dir import RunDir
from robustness import corruptions, shift
from robustness.cka import STAGES
from robustness.layers import LayerDensities, layer_densities
from robustness.store import Store
from robustness.tables import accuracy_by_density, attack_curves, cka_rows


def _density_axis(ax, label: str) -> None:
    """Log density axis, dense on the left, ticks at (at most 8 of) the plotted densities, in percent."""
    ax.set_xscale("log")
    ax.invert_xaxis()
    densities = sorted({round(float(x), 6) for line in ax.get_lines() for x in line.get_xdata()
                        if float(x) > 0}, reverse=True)
    ax.xaxis.set_major_locator(FixedLocator(densities[::max(1, -(-len(densities) // 8))]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{100 * value:.3g}%"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("density (conv weights kept)")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)


def accuracy_vs_density(run_roots: Sequence[str | Path], title: str = "") -> Figure:
    """Final test accuracy per level; runs differing only in the seed pooled (line: mean, band: min to max)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for g in accuracy_by_density(run_roots):
        seeds = max(g["seeds"])
        ax.plot(g["density"], [100 * a for a in g["mean"]], marker="o", label=f"{g['label']} ({seeds} seed(s))")
        if seeds > 1:
            ax.fill_between(g["density"], [100 * a for a in g["low"]], [100 * a for a in g["high"]], alpha=0.25)
    _density_axis(ax, "test accuracy (%)")
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def c10c_vs_density(records: list[dict], title: str = "") -> Figure:
    """CIFAR-10-C mean accuracy (15 standard corruptions x 5 severities; extra 4 dashed) and mCE against density."""
    rows = [r for r in corruptions.summarize(records) if r["mean_acc"] is not None]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    density = [r["density"] for r in rows]
    left.plot(density, [100 * r["mean_acc"] for r in rows], marker="o", label="15 standard")
    extra = [(r["density"], 100 * r["extra_mean_acc"]) for r in rows if r["extra_mean_acc"] is not None]
    if extra:
        left.plot(*zip(*extra), marker="s", ls="--", label="4 extra")
    _density_axis(left, "CIFAR-10-C accuracy (%)")
    left.legend(fontsize=7)
    mce = [(r["density"], r["mce"], r["relative_mce"]) for r in rows if r["mce"] is not None]
    if mce:
        right.plot([m[0] for m in mce], [m[1] for m in mce], marker="o", label="mCE")
        right.plot([m[0] for m in mce], [m[2] for m in mce], marker="s", ls="--", label="relative mCE")
        right.legend(fontsize=7)
    _density_axis(right, "% of the dense level 0")
    right.axhline(100, color="grey", lw=0.8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def robust_vs_eps(records: list[dict], attack: str = "pgd20", title: str = "") -> Figure:
    """Accuracy against eps (in /255, 0 = clean) for each level, one line per density."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for (level, name), points in sorted(attack_curves(records).items()):
        if name == attack:
            density = next(r["density"] for r in records if r["level"] == level)
            ax.plot([e * 255 for e, _ in points], [100 * a for _, a in points], marker="o",
                    label=f"{100 * density:.1f}%")
    ax.set_xlabel("eps (/255)")
    ax.set_ylabel(f"accuracy under {attack} (%)")
    ax.grid(alpha=0.3)
    ax.legend(title="density", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def shift_gap_vs_density(records: list[dict], title: str = "") -> Figure:
    """Clean accuracy minus accuracy on each shifted test set, against density."""
    fig, ax = plt.subplots(figsize=(6, 4))
    rows = shift.summarize(records)
    for name in sorted({r["set"] for r in rows}):
        points = sorted((r["density"], 100 * r["gap"]) for r in rows if r["set"] == name and r["gap"] is not None)
        if points:
            ax.plot(*zip(*points), marker="o", label=name)
    _density_axis(ax, "gap to CIFAR-10 test accuracy (points)")
    if rows:
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def layer_heatmap(densities: LayerDensities, title: str = "") -> Figure:
    """Density of every prunable layer (rows, model order) at every level (columns)."""
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * len(densities.levels), 1.5 + 0.22 * len(densities.layers)))
    image = ax.imshow(densities.table, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_yticks(range(len(densities.layers)), [n.removesuffix(".weight") for n in densities.layers], fontsize=6)
    ax.set_xticks(range(len(densities.levels)), [f"{k}\n{100 * d:.0f}%" for k, d in
                                                 zip(densities.levels, densities.densities)], fontsize=6)
    ax.set_xlabel("level (overall density)")
    fig.colorbar(image, ax=ax, label="layer density")
    fig.tight_layout()
    fig.suptitle(title, fontsize=9)
    return fig


def cka_vs_density(records: list[dict], title: str = "") -> Figure:
    """Linear CKA with the dense level 0 after the stem and each stage, against density."""
    fig, ax = plt.subplots(figsize=(6, 4))
    rows = cka_rows(records)
    for stage in STAGES:
        ax.plot([r["density"] for r in rows], [r.get(stage) for r in rows], marker="o", label=stage)
    _density_axis(ax, "linear CKA with the dense network")
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def write_plots(run_root: str | Path, run_roots: Sequence[str | Path] = ()) -> list[Path]:
    """Every figure of one run as ``<run>/plots/<name>.png``; the accuracy plot pools ``run_roots`` (runs that
    differ from this one only in the seed end up in its band)."""
    records = Store(run_root).records
    out = Path(run_root) / "plots"
    out.mkdir(exist_ok=True)
    title = f"run {Path(run_root).name}"
    figures = {"accuracy_vs_density": accuracy_vs_density(list(run_roots) or [run_root]),
               "c10c_vs_density": c10c_vs_density(records, title), "robust_vs_eps": robust_vs_eps(records, title=title),
               "shift_gap_vs_density": shift_gap_vs_density(records, title),
               "layer_density": layer_heatmap(layer_densities(RunDir.open(run_root)), title),
               "cka_vs_density": cka_vs_density(records, title)}
    paths = []
    for name, fig in figures.items():
        paths.append(out / f"{name}.png")
        fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
        plt.close(fig)
    return paths
