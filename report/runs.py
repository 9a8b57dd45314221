"""Reading run directories: hyperparameters, finished levels, and how many levels were planned."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from lottery.hparams import Hparams
from lottery.run_dir import level_numbers, redo_hint
from utils.io import load_json


def flatten(groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {f"{group}.{name}": value for group, values in groups.items() for name, value in values.items()}


# fields added to Hparams after a run was written take their default (a default never changes a result)
_DEFAULTS = flatten(Hparams().to_dict())


@dataclass
class RunRecord:
    """One run directory: its hyperparameters (flat, ``group.field``), its finished levels, and the number of
    levels its latest start planned (``job.json``; None for runs written before main_imp.py recorded it)."""
    path: Path
    hparams: dict[str, Any]
    levels: dict[int, dict]
    planned: int | None

    @property
    def finished(self) -> bool:
        return self.planned is not None and len(self.levels) >= self.planned

    @property
    def progress(self) -> str:
        """Levels done / planned, e.g. ``5/16``."""
        return f"{len(self.levels)}/{'?' if self.planned is None else self.planned}"


def read_run(path: Path) -> RunRecord:
    """One run directory; a damaged file in it is a UserError naming the file and what to delete."""
    saved = load_json(path / "hparams.json", remedy=f"{path} is damaged: remove it, or move it out of the "
                                                     f"folders given to the report")
    levels = {k: load_json(path / f"level_{k}" / "metrics.json", remedy=redo_hint(path, k))["result"]
              for k in level_numbers(path, "metrics.json")}
    job = path / "job.json"
    planned = load_json(job, remedy="remove it; the run's next start writes it again")["rounds"] \
        if job.exists() else None
    return RunRecord(path, {**_DEFAULTS, **flatten(saved["hparams"])}, levels, planned)


def load_runs(paths: Iterable[str | Path]) -> list[RunRecord]:
    """Every run directory at or below ``paths`` (a run directory is one holding ``hparams.json``)."""
    found: dict[Path, RunRecord] = {}
    for root in map(Path, paths):
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder")
        for hparams in sorted(root.rglob("hparams.json")):
            found.setdefault(hparams.parent.resolve(), read_run(hparams.parent))
    return list(found.values())
