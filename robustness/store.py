"""``robustness.json``: the unaggregated results of every evaluation of one run, one flat record per cell.

A cell is one number: (level, suite, name, severity, eps) -> accuracy (or CKA), with the number of images it was
measured on. Summaries (mean corruption accuracy, mCE, shift gaps) are computed from these records when asked for,
never stored, so a record is never stale. A cell counts as done only when it was measured on as many images as it
would be now (swapping the mini CIFAR-10-C for the full set recomputes it). Each suite also gets a CSV beside it.
Several evaluations of one run may run at once (``--suite fgsm`` in one shell, ``--suite pgd`` in another): each
write re-reads the file and merges its records in under a lock (``utils.lock``), so none is lost.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable

from utils.io import load_json, save_json, save_text
from utils.lock import locked

FILE = "robustness.json"
LOCK = ".robustness.lock"  # held while a process reads, merges and writes robustness.json and the CSVs
KEY = ("level", "suite", "name", "severity", "eps")
COLUMNS = ("level", "density", "suite", "name", "severity", "eps", "accuracy", "images")
#: suites whose value is not an accuracy: the record carries this key instead of ``accuracy``
METRICS = {"cka": "cka"}


def metric(suite: str) -> str:
    return METRICS.get(suite, "accuracy")


def record(level: int, density: float, suite: str, name: str, value: float, images: int,
           severity: int | None = None, eps: float | None = None) -> dict:
    return {"level": level, "density": density, "suite": suite, "name": name, "severity": severity, "eps": eps,
            metric(suite): value, "images": images}


def key(r: dict) -> tuple:
    return tuple(r.get(k) for k in KEY)


class Store:
    """The records of one run directory; every ``add`` rewrites ``robustness.json`` and the suite CSVs atomically,
    so an interrupted evaluation keeps what it finished."""

    def __init__(self, run_root: str | Path):
        self.root = Path(run_root)
        self.records: list[dict] = self._read()
        self._index = {key(r): r for r in self.records}

    def _read(self) -> list[dict]:
        path = self.root / FILE
        if not path.exists():
            return []
        return load_json(path, remedy=f"delete it (and {self.root}/robustness_*.csv) to evaluate this run again "
                                      f"from scratch")

    def done(self, cells: Iterable[tuple], images: int) -> bool:
        """Whether every cell (a ``KEY`` tuple) is stored, measured on ``images`` images."""
        return all(self._index.get(c, {}).get("images") == images for c in cells)

    def add(self, records: list[dict]) -> None:
        """Store ``records`` (replacing those of the same cells) beside what the file holds now, which another
        evaluation of this run may have added to since this one read it."""
        with locked(self.root / LOCK):
            self._index = {key(r): r for r in self._read()}
            for r in records:
                self._index[key(r)] = r
            self.records = sorted(self._index.values(), key=lambda r: (r["level"], r["suite"], r["name"],
                                                                       r["severity"] or 0, r["eps"] or 0.0))
            save_json(self.records, self.root / FILE)
            self._write_csv({r["suite"] for r in records})

    def select(self, suite: str | None = None, name: str | None = None) -> list[dict]:
        return [r for r in self.records
                if (suite is None or r["suite"] == suite) and (name is None or r["name"] == name)]

    def _write_csv(self, suites: set[str]) -> None:
        for suite in suites:
            columns = [c if c != "accuracy" else metric(suite) for c in COLUMNS]
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows({c: r[c] for c in columns} for r in self.select(suite))
            save_text(buf.getvalue(), self.root / f"robustness_{suite}.csv")
