"""The layout of one run's directory, and the results table written into it.

``<out>/<run-id>/``: ``hparams.json``, ``job.json`` (the job settings of the latest start: ``rounds`` says how
many levels are planned), ``subset_indices.npy``, ``level_<k>/`` (``mask.pt``, ``weights.pt``,
``metrics.json``, and while training ``checkpoint.pt``; level 0 also keeps ``rewind.pt``), ``results.json`` and
``results.csv``. A level is finished exactly when its ``metrics.json`` exists (it is written last).
"""
from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import numpy as np

from lottery.hparams import Hparams
from utils.errors import UserError
from utils.io import load_json, save_json, save_text

RESULT_COLUMNS = ("level", "density", "test_acc", "best_test_acc", "train_acc", "train_loss", "epochs", "seconds")


class RunDir:
    def __init__(self, hp: Hparams, root: str | Path | None = None):
        self.hp = hp
        self.root = Path(root) if root is not None else Path(hp.job.out) / hp.run_id()

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        """An existing run directory, for reading (evaluate.py, the notebook): its hyperparameters come from its
        ``hparams.json``; the folder may have been moved or renamed."""
        path = Path(path)
        if not (path / "hparams.json").is_file():
            raise UserError(f"{path} is not a run directory (no hparams.json); pass the <out>/<run-id> folder of a "
                            f"main_imp.py run")
        return cls(Hparams.from_dict(load_json(path / "hparams.json")["hparams"]), path)

    def finished_levels(self) -> list[int]:
        """Levels whose ``metrics.json`` exists (written last, so their weights and mask are complete), ascending."""
        found = [int(p.parent.name.split("_", 1)[1]) for p in self.root.glob("level_*/metrics.json")]
        return sorted(found)

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

    def record_job(self) -> None:
        """Write the job settings of this start (how many levels are planned, where it runs) for readers of the
        run directory; unlike hparams.json they may change between starts."""
        save_json(dataclasses.asdict(self.hp.job), self.root / "job.json")

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

    def write_results(self, records: list[dict]) -> None:
        save_json({"hparams": self.hp.to_dict(), "levels": records}, self.root / "results.json")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=RESULT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: r[c] for c in RESULT_COLUMNS} for r in records)
        save_text(buf.getvalue(), self.root / "results.csv")


def format_table(records: list[dict]) -> str:
    """Density against accuracy, one line per level, in percent."""
    lines = [f"{'level':>5} {'density':>8} {'test acc':>9} {'best test':>9} {'train acc':>9}"]
    for r in records:
        lines.append(f"{r['level']:>5} {100 * r['density']:>7.2f}% {100 * r['test_acc']:>8.2f}% "
                     f"{100 * r['best_test_acc']:>8.2f}% {100 * r['train_acc']:>8.2f}%")
    return "\n".join(lines)
