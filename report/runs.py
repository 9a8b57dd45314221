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
    def run_id(self) -> str:
        """The id main_imp.py names the run by (a hash of its canonical result-affecting values, seeds included),
        whatever its folder is called: the one identity of a run reached through several folders."""
        groups: dict[str, dict[str, Any]] = {}
        for key, value in self.hparams.items():
            group, name = key.split(".", 1)
            groups.setdefault(group, {})[name] = value
        return Hparams.from_dict(groups).run_id()

    @property
    def finished(self) -> bool:
        return self.planned is not None and len(self.levels) >= self.planned

    @property
    def progress(self) -> str:
        """Levels done / planned, e.g. ``5/16``."""
        return f"{len(self.levels)}/{'?' if self.planned is None else self.planned}"


def read_run(path: Path) -> RunRecord:
    """A run directory as main_imp.py writes it (``level_<k>/metrics.json``), or as published under ``results/``
    (``hparams.json``, ``results.json`` and ``job.json`` only: ``results.json`` lists every finished level); a
    damaged file in it is a UserError naming the file and what to delete."""
    saved = load_json(path / "hparams.json", remedy=f"{path} is damaged: remove it, or move it out of the "
                                                     f"folders given to the report")
    finished = level_numbers(path, "metrics.json")
    if finished:
        levels = {k: load_json(path / f"level_{k}" / "metrics.json", remedy=redo_hint(path, k))["result"]
                  for k in finished}
    elif (path / "results.json").exists():
        levels = {r["level"]: r for r in load_json(path / "results.json", remedy=f"remove {path}")["levels"]}
    else:
        levels = {}
    job = path / "job.json"
    planned = load_json(job, remedy="remove it; the run's next start writes it again")["rounds"] \
        if job.exists() else None
    return RunRecord(path, {**_DEFAULTS, **flatten(saved["hparams"])}, levels, planned)


def load_runs(paths: Iterable[str | Path]) -> list[RunRecord]:
    """Every run at or below ``paths``, each once (a run directory is one holding ``hparams.json``).

    A run is its run id, not its folder: the same run reached through two folders (a folder given twice, a
    symlink, a copy under ``results/`` beside ``runs/``) counts once, so a mean over seeds never counts one run
    twice. Of its copies, the one with the most finished levels is kept (the first found on a tie)."""
    found: dict[str, RunRecord] = {}
    read: set[Path] = set()
    for root in map(Path, paths):
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder")
        for hparams in sorted(root.rglob("hparams.json")):
            if hparams.parent.resolve() in read:
                continue
            read.add(hparams.parent.resolve())
            run = read_run(hparams.parent)
            kept = found.get(run.run_id)
            if kept is None or len(run.levels) > len(kept.levels):
                found[run.run_id] = run
    return list(found.values())
