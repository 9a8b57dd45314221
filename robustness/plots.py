"""The figures of helpers.ipynb and of ``evaluate.py --plots``, drawn the report's way (``report.style``): runs are
read by ``report.load_runs`` (each run once), the seeds of a setting are pooled into mean ± one sample std with n in
the legend, titles say dataset, training subset and method, and the dense level is drawn as a reference.

Each robustness figure takes the stored records of every seed of one setting (a list of record lists; one run is
a list of one) and returns a matplotlib Figure (no pyplot: headless, and nothing to close). ``setting_figures``
draws those whose suites were run, ``write_plots`` saves a run's figures as ``<run>/plots/<name>.png``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from matplotlib import colormaps
from matplotlib.figure import Figure

from lottery.run_dir import RunDir
from report.plot import plot_accuracy_vs_density
from report.runs import RunRecord, load_runs, read_run
from report.style import band, dense_line, density_axis, setting_title, steady_ylim
from report.summary import Setting, describe, group_settings
from robustness import corruptions, shift
from robustness.cka import STAGES
from robustness.layers import LayerDensities, layer_densities
from robustness.store import Store
from robustness.tables import attack_curves, cka_rows, pool

Records = Sequence[list[dict]]   # the stored records of each seed of one setting
DPI = 150


def _figure(width: float = 6.4, height: float = 4.4, title: str = "") -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _pct(points: list[tuple[float, float, float, int]]) -> tuple[list, list, list, list]:
    """Pooled points -> x, 100 x mean, 100 x std, seeds."""
    return ([p[0] for p in points], [100 * p[1] for p in points], [100 * p[2] for p in points],
            [p[3] for p in points])


def _dense(points: list[tuple[float, float, float, int]]) -> float:
    """The pooled value at density 1 (level 0), or nan."""
    return next((p[1] for p in points if p[0] == 1.0), float("nan"))


def accuracy_vs_density(run_roots: Sequence[str | Path], metric: str = "test_acc") -> Figure:
    """The report's figure (``report.plot_accuracy_vs_density``) of the runs at or below ``run_roots``."""
    return plot_accuracy_vs_density(load_runs(run_roots), metric)


def c10c_vs_density(runs: Records, title: str = "") -> Figure:
    """CIFAR-10-C mean accuracy (15 standard corruptions x 5 severities; the 4 extra dashed) and mCE / relative mCE
    (in % of the same run's dense level 0) against density."""
    rows = [corruptions.summarize(records) for records in runs]
    fig = _figure(11, 4.4, title)
    left, right = fig.subplots(1, 2)
    standard = pool(rows, lambda r: r["mean_acc"])
    line = band(left, *_pct(standard), "mean over 15 corruptions x 5 severities")
    dense_line(left, 100 * _dense(standard), line.get_color())
    extra = pool(rows, lambda r: r["extra_mean_acc"])
    if extra:
        band(left, *_pct(extra), "mean over the 4 extra corruptions", linestyle="--", marker="s")
    density_axis(left, [p[0] for p in standard + extra])
    left.set_ylabel("CIFAR-10-C accuracy (%)")
    steady_ylim(left, 10, 0, 100)
    left.legend(fontsize="small", title="mean ± std over seeds", title_fontsize="small")
    mce = pool(rows, lambda r: r["mce"])
    relative = pool(rows, lambda r: r["relative_mce"])
    if mce:
        band(right, [p[0] for p in mce], [p[1] for p in mce], [p[2] for p in mce], [p[3] for p in mce], "mCE")
    if relative:
        band(right, [p[0] for p in relative], [p[1] for p in relative], [p[2] for p in relative],
             [p[3] for p in relative], "relative mCE", linestyle="--", marker="s")
    dense_line(right, 100, label="dense network (= 100 by definition)")
    density_axis(right, [p[0] for p in mce + relative] or [p[0] for p in standard])
    right.set_ylabel("corruption error (% of the dense network's)")
    steady_ylim(right, 20)
    right.legend(fontsize="small")
    chance = [c for c in map(corruptions.dense_near_chance, runs) if c is not None]
    if chance:
        right.set_title(f"dense network near chance ({100 * max(chance):.1f}% clean accuracy): its drops under "
                        f"corruption\nare noise, so relative mCE means nothing here", fontsize="small",
                        color="firebrick")
    return fig


def robust_vs_eps(runs: Records, attack: str = "pgd20", title: str = "") -> Figure:
    """Accuracy under ``attack`` against eps (in 1/255; 0 = the clean accuracy of the attacked images), one curve
    per level coloured by density; the dense level 0 in black."""
    per_level: dict[int, list[list[dict]]] = {}
    density: dict[int, float] = {}
    for records in runs:
        for (level, name), points in attack_curves(records).items():
            if name == attack:
                per_level.setdefault(level, []).append([{"eps": e, "accuracy": a} for e, a in points])
                density[level] = next(r["density"] for r in records if r["level"] == level)
    fig = _figure(title=title)
    ax = fig.add_subplot()
    cmap = colormaps["viridis"]
    sparse = [k for k in sorted(per_level) if k != 0]
    for i, level in enumerate(sorted(per_level)):
        points = pool(per_level[level], lambda r: r["accuracy"], by="eps", x="eps")
        style = ({"color": "black", "linestyle": "--"} if level == 0 else
                 {"color": cmap(sparse.index(level) / max(1, len(sparse) - 1) * 0.9)})
        label = "dense network" if level == 0 else f"{100 * density[level]:.3g}% dense"
        band(ax, [255 * p[0] for p in points], [100 * p[1] for p in points], [100 * p[2] for p in points],
             [p[3] for p in points], label, **style)
    ax.set_xlabel("attack radius eps (L-inf, in 1/255 of the pixel range)")
    ax.set_ylabel(f"accuracy under {attack.upper()} (%)")
    ax.grid(True, alpha=0.3)
    steady_ylim(ax, 10, 0, 100)
    ax.legend(fontsize="small", title="density (mean ± std over seeds)", title_fontsize="small")
    return fig


def shift_gap_vs_density(runs: Records, title: str = "") -> Figure:
    """Test accuracy minus accuracy on each shifted test set (points), against density; each set's dense gap dotted."""
    rows = [shift.summarize(records) for records in runs]
    fig = _figure(title=title)
    ax = fig.add_subplot()
    densities = []
    for name in sorted({r["set"] for seed in rows for r in seed}):
        points = pool([[r for r in seed if r["set"] == name] for seed in rows], lambda r: r["gap"])
        if points:
            line = band(ax, *_pct(points), name)
            dense_line(ax, 100 * _dense(points), line.get_color(), None)
            densities += [p[0] for p in points]
    density_axis(ax, densities)
    ax.set_ylabel("accuracy drop from the test set (points)")
    steady_ylim(ax, 5)
    ax.legend(fontsize="small", title="mean ± std over seeds; dotted: dense", title_fontsize="small")
    return fig


def cka_vs_density(runs: Records, title: str = "") -> Figure:
    """Linear CKA with the dense level 0 after the stem and each stage, against density (1 = the dense network's
    own representation)."""
    rows = [cka_rows(records) for records in runs]
    fig = _figure(title=title)
    ax = fig.add_subplot()
    densities = []
    for stage in STAGES:
        points = pool(rows, lambda r: r.get(stage))
        if points:
            band(ax, [p[0] for p in points], [p[1] for p in points], [p[2] for p in points], [p[3] for p in points],
                 stage)
            densities += [p[0] for p in points]
    dense_line(ax, 1.0, label="dense network (CKA = 1)")
    density_axis(ax, densities)
    ax.set_ylabel("linear CKA with the dense network")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize="small", title="after (mean ± std over seeds)", title_fontsize="small")
    return fig


def layer_heatmap(densities: LayerDensities, title: str = "") -> Figure:
    """Density of every prunable layer (rows, model order) at every level (columns)."""
    fig = _figure(max(6.4, 1.8 + 0.5 * len(densities.levels)), 1.8 + 0.22 * len(densities.layers), title)
    ax = fig.add_subplot()
    image = ax.imshow(densities.table, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_yticks(range(len(densities.layers)), [n.removesuffix(".weight") for n in densities.layers], fontsize=6)
    ax.set_xticks(range(len(densities.levels)), [f"{k}\n{100 * d:.0f}%" for k, d in
                                                 zip(densities.levels, densities.densities)], fontsize=6)
    ax.set_xlabel("level (overall density)")
    fig.colorbar(image, ax=ax, label="layer density (fraction of weights kept)")
    return fig


#: figure name -> (the suites it draws: no figure unless one of them has records, how to draw it)
FIGURES: dict[str, tuple[tuple[str, ...], Callable[[Records, str], Figure]]] = {
    "c10c_vs_density": (("c10c",), c10c_vs_density),
    "robust_vs_eps": (("pgd",), lambda runs, title: robust_vs_eps(runs, title=title)),
    "shift_gap_vs_density": (shift.SHIFT_SUITES, shift_gap_vs_density),
    "cka_vs_density": (("cka",), cka_vs_density),
}


def title(setting: Setting) -> str:
    return setting_title(setting.hparams, describe(setting.hparams, [])["augmentation"])


def setting_figures(setting: Setting) -> dict[str, Figure]:
    """The robustness figures of one setting, its seeds pooled; only those whose suites were run."""
    records = [Store(run.path).records for run in setting.runs]
    run_suites = {r["suite"] for seed in records for r in seed}
    return {name: draw(records, title(setting)) for name, (suites, draw) in FIGURES.items()
            if run_suites & set(suites)}


def missing_figures(setting: Setting) -> dict[str, tuple[str, ...]]:
    """The robustness figures a setting has no records for, with the suites that would give them."""
    run_suites = {r["suite"] for run in setting.runs for r in Store(run.path).records}
    return {name: suites for name, (suites, _) in FIGURES.items() if not run_suites & set(suites)}


def run_figures(run: RunRecord, runs: Sequence[RunRecord]) -> dict[str, Figure]:
    """What ``<run>/plots/`` holds: accuracy against density of ``runs``, the robustness figures of ``run``'s
    setting with its seeds among ``runs`` pooled, and ``run``'s layer-density heatmap."""
    runs = list(runs) if any(r.run_id == run.run_id for r in runs) else [*runs, run]
    setting = next(s for s in group_settings(runs) if any(r.run_id == run.run_id for r in s.runs))
    seed = f"seed {run.hparams['training.seed']}"
    return {"accuracy_vs_density": plot_accuracy_vs_density(runs), **setting_figures(setting),
            "layer_density": layer_heatmap(layer_densities(RunDir.open(run.path)), f"{title(setting)}\n{seed}")}


def save_figures(figures: dict[str, Figure], folder: str | Path) -> list[Path]:
    """Each figure as ``folder/<name>.png``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        paths.append(folder / f"{name}.png")
        fig.savefig(paths[-1], dpi=DPI)
    return paths


def write_plots(run_root: str | Path, run_roots: Sequence[str | Path] = ()) -> list[Path]:
    """``run_figures`` of one run directory as ``<run>/plots/<name>.png``; the runs of ``run_roots`` (each once)
    make the accuracy figure, and those that differ from this one only in the seed are pooled into its bands."""
    run = read_run(Path(run_root))
    return save_figures(run_figures(run, load_runs(list(run_roots) or [run_root])), Path(run_root) / "plots")
