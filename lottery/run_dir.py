"""The layout of one run's directory, and the results table written into it.

``<out>/<run-id>/``: ``hparams.json``, ``subset_indices.npy``, ``level_<k>/`` (``mask.pt``, ``weights.pt``,
``metrics.json``, and while training ``checkpoint.pt``; level 0 also keeps ``rewind.pt``), ``results.json`` and
``results.csv``. A level is finished exactly when its ``metrics.json`` exists (it is written last).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from lottery.hparams import Hparams
from utils.errors import UserError
from utils.io import load_json, save_json, save_text

RESULT_COLUMNS = ("level", "density", "test_acc", "best_test_acc", "train_acc", "train_loss", "epochs", "seconds",
                  "test_balanced_acc")
# what each result key is called in the console table
HEADLINE_NAMES = {"test_acc": "test acc", "test_balanced_acc": "balanced"}


class RunDir:
    def __init__(self, hp: Hparams):
        self.hp = hp
        self.root = Path(hp.job.out) / hp.run_id()

    def level(self, k: int) -> Path:
        return self.root / f"level_{k}"

    def claim(self) -> None:
        """Create the directory, or check that what it holds is this run (same hyperparameters)."""
        path = self.root / "hparams.json"
        mine = {"run_id": self.hp.run_id(), "hparams": self.hp.to_dict()}
        if path.exists():
            theirs = load_json(path)
            if theirs != mine:
                raise UserError(f"{self.root} holds a different run under the same id (its hparams.json differs); "
                                f"use another --out or remove that folder")
        else:
            save_json(mine, path)

    def claim_indices(self, indices: np.ndarray) -> None:
        path = self.root / "subset_indices.npy"
        if path.exists():
            if not np.array_equal(np.load(path), indices):
                raise UserError(f"{path} holds a different subset than this run draws; remove {self.root}")
        else:
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, indices)
            tmp.replace(path)

    def finished_record(self, k: int) -> dict | None:
        path = self.level(k) / "metrics.json"
        return load_json(path)["result"] if path.exists() else None

    def recorded_precisions(self) -> set[str]:
        """The precisions this run's finished levels trained in, as their metrics.json recorded them."""
        found = set()
        for path in self.root.glob("level_*/metrics.json"):
            environment = load_json(path).get("environment")
            if environment is not None:
                found.add(environment["precision"])
        return found

    def write_results(self, records: list[dict], headline: str = "test_acc") -> None:
        """``results.json`` (``headline``: the result key the dataset's benchmark reports, ``test_acc`` or
        ``test_balanced_acc``) and ``results.csv`` (levels finished before a column existed leave it empty)."""
        save_json({"hparams": self.hp.to_dict(), "headline": headline, "levels": records},
                  self.root / "results.json")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=RESULT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: r.get(c) for c in RESULT_COLUMNS} for r in records)
        save_text(buf.getvalue(), self.root / "results.csv")


def format_table(records: list[dict], headline: str = "test_acc") -> str:
    """Density against accuracy, one line per level, in percent; the ``headline`` result comes first."""
    keys = [headline, *(k for k in HEADLINE_NAMES if k != headline), "best_test_acc", "train_acc"]
    names = {**HEADLINE_NAMES, "best_test_acc": "best test", "train_acc": "train acc"}
    lines = [f"{'level':>5} {'density':>8} " + " ".join(f"{names[k]:>9}" for k in keys)]
    for r in records:
        cells = [f"{'-':>9}" if r.get(k) is None else f"{100 * r[k]:>8.2f}%" for k in keys]
        lines.append(f"{r['level']:>5} {100 * r['density']:>7.2f}% " + " ".join(cells))
    return "\n".join(lines)
