"""The layout of one run's directory, and the results table written into it.

``<out>/<run-id>/``: ``hparams.json``, ``job.json`` (the job settings of the latest start: ``rounds`` says how
many levels are planned), ``subset_indices.npy``, ``level_<k>/`` (``mask.pt``, ``weights.pt``,
``metrics.json``, and while training ``checkpoint.pt``; level 0 also keeps ``rewind.pt``), ``results.json`` and
``results.csv``. A level is finished exactly when its ``metrics.json`` exists (it is written last). Every file is
written atomically (``utils.io``); what a killed write leaves behind is removed when the run next starts.
``.training.lock`` is the lock (``utils.lock``) a process holds while it trains the run, so that a second start
(a double launch, a SLURM requeue while the first still runs) is refused instead of training into it too.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from lottery.hparams import HparamTree, Hparams
from utils.errors import UserError
from utils.io import load_json, remove_stale_temporaries, save_json, save_numpy, save_text
from utils.lock import acquire, release

RESULT_COLUMNS = ("level", "density", "test_acc", "best_test_acc", "train_acc", "train_loss", "epochs", "seconds",
                  "test_balanced_acc")
# what each result key is called in the console table
HEADLINE_NAMES = {"test_acc": "test acc", "test_balanced_acc": "balanced"}
_LEVEL = re.compile(r"level_([0-9]+)")
TRAINING_LOCK = ".training.lock"


def level_numbers(root: Path, holding: str = "") -> list[int]:
    """The levels ``k`` whose folder ``root/level_<k>`` exists (and holds the file ``holding``, if given), in
    order; other folders whose name starts with ``level_`` (a user's ``level_3.bak``) are not levels."""
    found = (_LEVEL.fullmatch(p.name) for p in root.glob("level_*") if (p / holding).exists())
    return sorted(int(m.group(1)) for m in found if m)


def redo_hint(root: Path, k: int) -> str:
    """What to delete so that level ``k`` of the run in ``root`` and everything derived from it is computed
    again (by the run's command)."""
    later = " and every later level_* folder" if k > 0 else " and every other level_* folder"
    return f"remove {root / f'level_{k}'}{later} to retrain from level {k}"


def check_writable(out: str) -> None:
    """Refuse an ``--out`` that cannot hold run directories, before anything is written: the nearest existing
    folder on its path must be a folder we can write into (a path through a file cannot be)."""
    path = Path(out).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"--out {out}: {existing} is a file, not a folder")
    try:  # permissions alone do not say (root ignores them; read-only mounts, /proc): try a nameless file
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise UserError(f"--out {out}: cannot write into {existing} ({err.strerror or err})") from None


def _differences(stored: dict[str, Any], mine: HparamTree) -> list[str]:
    """``group.field (stored X, this run Y)`` for each result-affecting value an hparams.json written by this
    or an earlier version of the code holds differently. A field it lacks was added since and takes its default
    (a no-op by design), so an old run directory stays usable; a field this code does not know is a difference."""
    ours = mine.to_dict()
    unknown = [f"{g}.{k}" for g, values in stored.items() for k in values if k not in ours.get(g, {})]
    if unknown:
        return [f"{key} (stored, unknown to this code)" for key in unknown]
    theirs = type(mine).from_dict(stored).canonical().to_dict()
    return [f"{g}.{k} (stored {theirs[g][k]!r}, this run {v!r})"
            for g, values in ours.items() for k, v in values.items() if theirs[g][k] != v]


class RunDir:
    """A run's folder, named by its run id. ``hp`` is main_imp.py's ``Hparams`` or another entry point's
    ``HparamTree`` (pretrain_ssl.py's), whose ``job`` group has ``out``; the level and results methods are
    main_imp.py's."""

    def __init__(self, hp: HparamTree, root: str | Path | None = None):
        self.hp = hp.canonical()
        out = Path(hp.job.out)
        self.root = Path(root) if root is not None else out / self.hp.run_id()
        # where this spelling's run lived under earlier canonical rules (newest first)
        self.earlier_roots = [] if root is not None else [out / i for i in hp.earlier_run_ids()]

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        """An existing run directory, for reading (evaluate.py, the notebook): its hyperparameters come from its
        ``hparams.json``; the folder may have been moved or renamed."""
        path = Path(path)
        if not (path / "hparams.json").is_file():
            raise UserError(f"{path} is not a run directory (no hparams.json); pass the <out>/<run-id> folder of a "
                            f"main_imp.py run")
        return cls(Hparams.from_dict(load_json(path / "hparams.json")["hparams"]), path)

    def level(self, k: int) -> Path:
        return self.root / f"level_{k}"

    def redo_hint(self, k: int) -> str:
        """What to delete so that level ``k`` and everything derived from it is computed again."""
        return redo_hint(self.root, k)

    def adopt_earlier(self) -> None:
        """Before this run's directory exists: move the one written under an id this spelling had under earlier
        canonical rules (``Hparams.earlier_run_ids``) here, if its hparams.json holds this run."""
        if self.root.exists():
            return
        for earlier in self.earlier_roots:
            path = earlier / "hparams.json"
            if path.is_file() and not _differences(load_json(path).get("hparams", {}), self.hp):
                try:
                    earlier.rename(self.root)
                except FileNotFoundError:
                    return  # a second start of this run moved it a moment ago; the training lock decides
                print(f"moved {earlier} to {self.root} (the run id of this spelling's canonical form)")
                return

    def claim(self) -> None:
        """Create the directory and take its training lock (held until ``release`` or the process ends; another
        process training this run is a UserError naming it), then check that what it holds is this run: same
        result-affecting values once an old hparams.json's missing fields take their defaults (the file is then
        rewritten in full). Removes the temporary files of writes killed in an earlier attempt, and the
        checkpoints of finished levels."""
        path = self.root / "hparams.json"
        self.adopt_earlier()  # a directory under an earlier id of this run moves here (before the lock is taken)
        self.root.mkdir(parents=True, exist_ok=True)
        acquire(self.root / TRAINING_LOCK, busy=self._busy)
        mine = {"run_id": self.hp.run_id(), "hparams": self.hp.to_dict()}
        if path.exists():
            stored = load_json(path, remedy=f"remove {self.root} to start this run afresh")
            differences = _differences(stored.get("hparams", {}), self.hp)
            if differences:
                raise UserError(f"{self.root} holds a different run under the same id (hparams.json differs in "
                                f"{'; '.join(differences)}); use another --out or remove that folder")
            if stored != mine:
                save_json(mine, path)
        else:
            save_json(mine, path)
        for stale in remove_stale_temporaries(self.root):
            print(f"removed {stale}, left by a write that was killed", file=sys.stderr)
        for k in self.finished_levels():  # a kill between a level's metrics.json and the checkpoint's removal
            (self.level(k) / "checkpoint.pt").unlink(missing_ok=True)

    _busy = ("{path.parent} is being trained by {holder}; wait for it to finish (or stop it), then run the same "
             "command again to resume")

    def release(self) -> None:
        """Let another process train this run (``claim`` took the lock)."""
        release(self.root / TRAINING_LOCK)

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
            save_numpy(indices, path)

    def level_folders(self, holding: str = "") -> list[int]:
        """The levels whose folder exists (and holds the file ``holding``, if given), in order."""
        return level_numbers(self.root, holding)

    def finished_levels(self) -> list[int]:
        """The levels whose metrics.json exists (written last, so their weights and mask are complete), in order,
        however many rounds this invocation asked for."""
        return self.level_folders("metrics.json")

    def finished_record(self, k: int) -> dict | None:
        path = self.level(k) / "metrics.json"
        return load_json(path, remedy=self.redo_hint(k))["result"] if path.exists() else None

    def recorded_precisions(self) -> set[str]:
        """The precisions this run's finished levels trained in, as their metrics.json recorded them."""
        found = set()
        for k in self.finished_levels():
            environment = load_json(self.level(k) / "metrics.json", remedy=self.redo_hint(k)).get("environment")
            if environment is not None:
                found.add(environment["precision"])
        return found

    def write_results(self, headline: str = "test_acc") -> list[dict]:
        """results.json and results.csv listing every finished level on disk; returns those records.
        ``headline`` is the result key the dataset's benchmark reports (``test_acc`` or ``test_balanced_acc``);
        in results.csv, levels finished before a column existed leave it empty."""
        records = [self.finished_record(k) for k in self.finished_levels()]
        save_json({"hparams": self.hp.to_dict(), "headline": headline, "levels": records},
                  self.root / "results.json")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=RESULT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: r.get(c) for c in RESULT_COLUMNS} for r in records)
        save_text(buf.getvalue(), self.root / "results.csv")
        return records


def format_table(records: list[dict], headline: str = "test_acc") -> str:
    """Density against accuracy, one line per level, in percent; the ``headline`` result comes first."""
    keys = [headline, *(k for k in HEADLINE_NAMES if k != headline), "best_test_acc", "train_acc"]
    names = {**HEADLINE_NAMES, "best_test_acc": "best test", "train_acc": "train acc"}
    lines = [f"{'level':>5} {'density':>8} " + " ".join(f"{names[k]:>9}" for k in keys)]
    for r in records:
        cells = [f"{'-':>9}" if r.get(k) is None else f"{100 * r[k]:>8.2f}%" for k in keys]
        lines.append(f"{r['level']:>5} {100 * r['density']:>7.2f}% " + " ".join(cells))
    return "\n".join(lines)
