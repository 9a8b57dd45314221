"""Runs grouped into settings (seeds aggregated), and the summary table: dense accuracy, best ticket, gain.

A *setting* is all runs whose hyperparameters are equal except the seeds (``--seed`` and ``--data-seed``, which
the sweep scripts set together). Accuracies are in percent, mean and sample standard deviation over the seeds.
The best ticket is the pruned level with the highest mean accuracy over seeds, among the levels every seed has
finished: a choice made on the test set, which the table's caption says.
"""
from __future__ import annotations

import csv
import io
import math
import statistics
from dataclasses import dataclass
from typing import Any, Sequence

from scipy import stats

from report.runs import RunRecord

SEED_KEYS = ("training.seed", "data.data_seed")
METRICS = {
    "test_acc": "test accuracy after each level's last epoch (`test_acc`)",
    "best_test_acc": "best test accuracy over each level's evaluated epochs (`best_test_acc`: the epoch is "
                     "chosen on the test set too, as the paper's code did)",
}
# the table's own columns; every other hyperparameter that differs between settings goes into "settings"
NAMED_KEYS = ("data.dataset", "data.data_fraction", "data.per_class", "data.augment", "data.cutout", "data.mixup",
              "data.cutmix", "pruning.prune_method")
COLUMNS = ("dataset", "data", "augmentation", "method", "settings", "seeds", "levels", "dense_mean", "dense_std",
           "best_level", "best_density", "ticket_mean", "ticket_std", "gain_mean", "gain_std", "gain_ci_low",
           "gain_ci_high")
CONFIDENCE = 0.95


@dataclass
class Setting:
    hparams: dict[str, Any]   # without the seed keys
    runs: list[RunRecord]     # ordered by seed

    def values(self, level: int, metric: str) -> list[float]:
        """The level's accuracy (percent) for each seed that finished it."""
        return [100 * r.levels[level][metric] for r in self.runs if level in r.levels]

    @property
    def seeds(self) -> int:
        """How many distinct seeds (``--seed``, ``--data-seed``) the setting pools."""
        return len({tuple(r.hparams[k] for k in SEED_KEYS) for r in self.runs})

    def levels(self) -> list[int]:
        return sorted({k for r in self.runs for k in r.levels})

    def density(self, level: int) -> float:
        return next(r.levels[level]["density"] for r in self.runs if level in r.levels)


def group_settings(runs: Sequence[RunRecord]) -> list[Setting]:
    groups: dict[tuple, Setting] = {}
    for run in runs:
        hp = {k: v for k, v in run.hparams.items() if k not in SEED_KEYS}
        key = tuple(sorted((k, repr(v)) for k, v in hp.items()))
        groups.setdefault(key, Setting(hp, [])).runs.append(run)
    for s in groups.values():
        s.runs.sort(key=lambda r: tuple(r.hparams[k] for k in SEED_KEYS))
    return list(groups.values())


def differing_keys(settings: Sequence[Setting]) -> list[str]:
    """The hyperparameters without a column of their own whose values differ between the settings."""
    keys = sorted({k for s in settings for k in s.hparams} - set(NAMED_KEYS))
    return [k for k in keys if len({repr(s.hparams.get(k)) for s in settings}) > 1]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (nan for fewer than two values; both nan for none)."""
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


def confidence_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The two-sided t interval of the mean of ``values`` (scipy's Student t with n - 1 degrees of freedom): the
    seeds are few, so a normal interval would be too narrow. (nan, nan) for fewer than two values."""
    if len(values) < 2:
        return math.nan, math.nan
    mean, std = mean_std(values)
    low, high = stats.t.interval(confidence, len(values) - 1, loc=mean, scale=std / math.sqrt(len(values)))
    return float(low), float(high)


def level_curve(setting: Setting, metric: str = "test_acc") -> list[tuple[float, float, float, int]]:
    """(density, mean, std, seeds) per finished level, densest first: one curve of the accuracy plot."""
    return [(setting.density(k), *mean_std(setting.values(k, metric)), len(setting.values(k, metric)))
            for k in setting.levels()]


def best_level(setting: Setting, metric: str) -> int | None:
    """The pruned level with the highest mean over seeds, among those every seed finished (any finished level
    when no pruned level is common to all seeds yet)."""
    pruned = [k for k in setting.levels() if k > 0]
    common = [k for k in pruned if len(setting.values(k, metric)) == len(setting.runs)]
    candidates = common or pruned
    return max(candidates, key=lambda k: statistics.fmean(setting.values(k, metric))) if candidates else None


def describe(hp: dict[str, Any], differing: Sequence[str]) -> dict[str, str]:
    augmentation = hp["data.augment"]
    for name, value in (("cutout", hp["data.cutout"]), ("mixup", hp["data.mixup"]), ("cutmix", hp["data.cutmix"])):
        if value:
            augmentation += f" +{name}" if name == "cutout" and value == 16 else f" +{name} {value:g}"
    data = f"{hp['data.per_class']}/class" if hp["data.per_class"] else f"{hp['data.data_fraction']:g}"
    settings = ", ".join(f"{k.split('.', 1)[1]}={hp[k]}" for k in differing)
    return {"dataset": hp["data.dataset"], "data": data, "augmentation": augmentation,
            "method": hp["pruning.prune_method"], "settings": settings}


def summarise(runs: Sequence[RunRecord], metric: str = "test_acc") -> list[dict[str, Any]]:
    """One row per setting: dense (level 0) and best-ticket accuracy, the ticket's density, the gain in points
    (per seed, ticket - dense), each as mean and std over seeds, the seed count and levels done/planned."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    settings = group_settings(runs)
    differing = differing_keys(settings)
    rows = []
    for s in settings:
        best = best_level(s, metric)
        dense = mean_std(s.values(0, metric))
        ticket = mean_std(s.values(best, metric)) if best is not None else (math.nan, math.nan)
        gains = [100 * (r.levels[best][metric] - r.levels[0][metric]) for r in s.runs
                 if best is not None and best in r.levels and 0 in r.levels]
        gain_ci = confidence_interval(gains)
        rows.append({**describe(s.hparams, differing), "seeds": s.seeds,
                     "levels": ", ".join(r.progress for r in s.runs),
                     "finished": all(r.finished for r in s.runs),
                     "dense_mean": dense[0], "dense_std": dense[1], "best_level": best,
                     "best_density": 100 * s.density(best) if best is not None else math.nan,
                     "ticket_mean": ticket[0], "ticket_std": ticket[1],
                     "gain_mean": mean_std(gains)[0], "gain_std": mean_std(gains)[1],
                     "gain_ci_low": gain_ci[0], "gain_ci_high": gain_ci[1],
                     "unfinished": [f"{r.path.name} ({r.progress})" for r in s.runs if not r.finished]})
    order = ("dataset", "data", "method", "augmentation", "settings")
    return sorted(rows, key=lambda row: tuple(str(row[k]) for k in order))


def _pm(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f} ± {std:.2f}"


def _interval(low: float, high: float) -> str:
    return "-" if math.isnan(low) else f"[{low:.2f}, {high:.2f}]"


def caption(metric: str) -> str:
    return (f"Accuracy: {METRICS[metric]}, in %, mean ± sample std over seeds (runs that differ only in "
            f"--seed and --data-seed); *seeds* counts them. *Dense* is level 0. *Best ticket* is the pruned level "
            f"with the highest mean accuracy over seeds among the levels every seed has finished: it is selected "
            f"on the test set, so the ticket's accuracy and the gain are optimistic. *Gain* is ticket - dense per "
            f"seed, in points, with its {100 * CONFIDENCE:g}% confidence interval over seeds (Student t; shown "
            f"for two seeds or more). *Levels* is done/planned per seed; a row whose runs are not all finished is marked "
            f"*(unfinished)*.")


def to_markdown(rows: Sequence[dict[str, Any]], metric: str) -> str:
    head = ("dataset", "data", "augmentation", "method", "settings", "seeds", "levels", "dense acc",
            "best ticket acc", "ticket density", "gain (points)", f"gain {100 * CONFIDENCE:g}% CI")
    lines = [f"# Summary ({metric})", "", caption(metric), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        density = "-" if r["best_level"] is None else f"{r['best_density']:.1f}% (level {r['best_level']})"
        levels = r["levels"] + ("" if r["finished"] else " *(unfinished)*")
        cells = (r["dataset"], r["data"], r["augmentation"], r["method"], r["settings"] or "-", r["seeds"], levels,
                 _pm(r["dense_mean"], r["dense_std"]), _pm(r["ticket_mean"], r["ticket_std"]), density,
                 _pm(r["gain_mean"], r["gain_std"]), _interval(r["gain_ci_low"], r["gain_ci_high"]))
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    unfinished = [u for r in rows for u in r["unfinished"]]
    if unfinished:
        lines += ["", "Unfinished runs (run id, levels done/planned):", *[f"- {u}" for u in unfinished]]
    return "\n".join(lines) + "\n"


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else round(value, 4)
    return value


def to_csv(rows: Sequence[dict[str, Any]], metric: str) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=(*COLUMNS, "finished", "metric"), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**{k: _csv_value(r[k]) for k in COLUMNS},
                         "finished": r["finished"], "metric": metric})
    return buf.getvalue()
