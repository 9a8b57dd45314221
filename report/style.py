"""What every figure shares (the report's, evaluate.py's and the notebook's): titles in words, the density axis,
one band convention (mean ± one sample std over seeds, n in the legend), the dense level as a reference line, and y
limits that do not magnify noise."""
from __future__ import annotations

import math
from typing import Any, Sequence

from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

DATASET_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "synthetic": "synthetic gratings",
                 "eurosat_rgb": "EuroSAT RGB", "isic": "ISIC 2018", "clamm": "CLaMM", "cub": "CUB-200-2011",
                 "imagenet_subset": "ImageNet subset"}
METHOD_NAMES = {"magnitude": "IMP", "random": "IMP, random scores", "omp": "one-shot magnitude", "snip": "SNIP",
                "grasp": "GraSP", "synflow": "SynFlow", "random_erk": "random ERK", "random_uniform": "random uniform"}
BAND_ALPHA = 0.2
DENSITY_LABEL = "density (% of conv weights kept, log scale)"


def data_words(hp: dict[str, Any]) -> str:
    """The training subset in words: ``1% of the training set``, ``50 images per class``, plus any long tail."""
    if hp["data.per_class"]:
        words = f"{hp['data.per_class']} images per class"
    elif hp["data.data_fraction"] == 1:
        words = "the whole training set"
    else:
        words = f"{100 * hp['data.data_fraction']:g}% of the training set"
    if hp.get("data.long_tail", "none") != "none":
        words += f", long-tailed ({hp['data.long_tail']}, imbalance {hp['data.imbalance']:g})"
    return words


def method_words(hp: dict[str, Any]) -> str:
    method = METHOD_NAMES.get(hp["pruning.prune_method"], hp["pruning.prune_method"])
    if hp["pruning.target_density"]:
        method += f" to {100 * hp['pruning.target_density']:g}%"
    if hp.get("pruning.reinit"):
        method += ", reinitialised"
    if hp.get("model.match_density"):
        method = f"small dense at {100 * hp['model.match_density']:g}%"
    return method


def setting_title(hp: dict[str, Any], augmentation: str | None = None) -> str:
    """``CIFAR-10, 1% of the training set, IMP, autoaug +cutout``: what a figure of one setting shows."""
    dataset = DATASET_NAMES.get(hp["data.dataset"], hp["data.dataset"])
    parts = [dataset, data_words(hp), method_words(hp)]
    return ", ".join(parts + ([augmentation] if augmentation else []))


def n_label(counts: Sequence[int]) -> str:
    """``n=3``, or ``n=2-3`` when some seeds have not reached every point yet."""
    low, high = min(counts, default=0), max(counts, default=0)
    return f"n={high}" if low == high else f"n={low}-{high}"


def band(ax: Axes, x: Sequence[float], mean: Sequence[float], std: Sequence[float], counts: Sequence[int],
         label: str, **line: Any):
    """The mean over seeds as a line with markers, a band of ± one sample std (where two or more seeds have the
    point), and the seed count in the legend; returns the line."""
    (drawn,) = ax.plot(x, mean, marker=line.pop("marker", "o"), markersize=3, label=f"{label} ({n_label(counts)})",
                       **line)
    low = [m - (0 if math.isnan(s) else s) for m, s in zip(mean, std)]
    high = [m + (0 if math.isnan(s) else s) for m, s in zip(mean, std)]
    if any(not math.isnan(s) for s in std):
        ax.fill_between(x, low, high, color=drawn.get_color(), alpha=BAND_ALPHA, linewidth=0)
    return drawn


def dense_line(ax: Axes, value: float, color: Any = "grey", label: str | None = "dense network (level 0)") -> None:
    """The dense level's value as a horizontal reference line."""
    if not math.isnan(value):
        ax.axhline(value, color=color, linestyle=":", linewidth=1.2, label=label)


def density_axis(ax: Axes, densities: Sequence[float], percent: bool = False) -> None:
    """Log density axis, dense on the left, ticks at (at most 8 of) the plotted densities, labelled in percent.
    ``densities`` are fractions, or percentages with ``percent``."""
    scale = 1 if percent else 100
    shown = sorted({round(float(d), 6) for d in densities if float(d) > 0}, reverse=True)
    ax.set_xscale("log")
    if shown:
        ax.set_xlim(shown[0] * 1.15, shown[-1] / 1.15)  # dense (100%) at the left, sparser to the right
    ax.xaxis.set_major_locator(FixedLocator(shown[::max(1, -(-len(shown) // 8))]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{scale * value:.3g}%"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(DENSITY_LABEL)
    ax.grid(True, alpha=0.3)


def steady_ylim(ax: Axes, min_span: float, low: float | None = None, high: float | None = None) -> None:
    """Widen the y axis to at least ``min_span`` around what is drawn (within ``low``..``high``), so that a flat
    curve (a model at chance, 10.01-10.02%) shows as flat instead of filling the axis with noise."""
    bottom, top = ax.get_ylim()
    if top - bottom >= min_span:
        return
    middle = (top + bottom) / 2
    bottom, top = middle - min_span / 2, middle + min_span / 2
    if low is not None and bottom < low:
        bottom, top = low, low + min_span
    if high is not None and top > high:
        bottom, top = max(high - min_span, low if low is not None else -math.inf), high
    ax.set_ylim(bottom, top)
