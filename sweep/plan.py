"""From a run script's list of runs and the knobs to the concrete ``main_imp.py`` command lines.

A run script queues runs by their result-affecting flags only; everything else comes from the environment
(``Knobs``): each run is expanded per seed, then the QUICK preset, EXTRA, --data-root and --out are appended, in
that order, so EXTRA overrides the preset and the script (argparse keeps the last value of a flag). Each run's id,
and so its directory and whether it is finished, is computed here with the same code main_imp.py uses. With
``PACK=N``, ``packs`` groups the runs still to train that can share a process (``lottery.pack.pack_key``) N at a
time.
"""
from __future__ import annotations

import contextlib
import io
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from lottery.cli import parse_args
from lottery.pack import pack_key
from lottery.run_dir import RunDir
from utils.errors import UserError

REPO = Path(__file__).resolve().parents[1]

# QUICK=1: the whole pipeline (sweep, report) in minutes on a laptop CPU; numbers are for checking the plumbing,
# not for reading: a width-8 ResNet-18, 3 levels of 4 epochs, rewound to epoch 1, tested once per level on 1,000
# class-balanced test images (--test-images: most of a QUICK run was its 10,000-image evaluations).
QUICK_PRESET = ("--width", "8", "--epochs", "4", "--rounds", "3", "--rewind", "epoch:1", "--eval-every", "0",
                "--test-images", "1000")


@dataclass(frozen=True)
class Knobs:
    """The environment variables every run script honours (README: Run scripts)."""
    seeds: tuple[int, ...] = (0,)
    extra: tuple[str, ...] = ()
    data_root: str | None = None
    out: str = str(REPO / "runs")
    dry_run: bool = False
    quick: bool = False
    jobs: int | None = None  # None: not set (local: 1 at a time; SLURM: no limit on the array)
    launcher: str = "local"
    sbatch_args: tuple[str, ...] = ()
    pack: int = 1  # runs trained together in one process (lottery/pack.py)

    @classmethod
    def from_env(cls, env: Mapping[str, str], caller_dir: str | None = None) -> "Knobs":
        """Read the knobs; relative DATA_ROOT and OUT are taken from ``caller_dir`` (where the script was
        started: the scripts cd to the repository)."""
        base = Path(caller_dir or os.getcwd())

        def path(name: str) -> str | None:
            value = env.get(name, "")
            return str(base / value) if value else None

        try:
            seeds = tuple(int(s) for s in env.get("SEEDS", "0").split())
        except ValueError:
            raise UserError(f"SEEDS must be integers separated by spaces, got {env['SEEDS']!r}") from None
        if not seeds:
            raise UserError("SEEDS is empty")
        jobs = env.get("JOBS", "")
        if jobs and (not jobs.isdigit() or int(jobs) < 1):
            raise UserError(f"JOBS must be a whole number >= 1, got {jobs!r}")
        pack = env.get("PACK", "") or "1"
        if not pack.isdigit() or int(pack) < 1:
            raise UserError(f"PACK must be a whole number >= 1, got {pack!r}")
        launcher = env.get("LAUNCHER", "") or "local"
        if launcher not in ("local", "slurm"):
            raise UserError(f"LAUNCHER must be local or slurm, got {launcher!r}")
        return cls(seeds=seeds, extra=_words(env, "EXTRA"), data_root=path("DATA_ROOT"),
                   out=path("OUT") or cls.out, dry_run=env.get("DRY_RUN", "") not in ("", "0"),
                   quick=env.get("QUICK", "") not in ("", "0"), jobs=int(jobs) if jobs else None,
                   launcher=launcher, sbatch_args=_words(env, "SBATCH_ARGS"), pack=int(pack))


def _words(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A knob holding arguments, split as the shell would (quotes group words)."""
    try:
        return tuple(shlex.split(env.get(name, "")))
    except ValueError as err:  # an unclosed quote
        raise UserError(f"{name} cannot be split into arguments ({err}): {env[name]!r}") from None


@dataclass(frozen=True)
class Run:
    """One concrete main_imp.py run of a sweep."""
    label: str           # the script's flags and the seed, for the terminal
    argv: tuple[str, ...]  # main_imp.py's arguments
    run_id: str
    run_dir: Path
    finished: bool       # every planned level has its metrics.json
    pack_key: tuple = ()  # runs with equal keys can share a pack

    @property
    def log(self) -> Path:
        """The run's console output, beside its run directory."""
        return self.run_dir.with_name(self.run_id + ".log")

    @property
    def runs(self) -> tuple["Run", ...]:
        return (self,)

    def command(self) -> list[str]:
        return [sys.executable, "main_imp.py", *self.argv]

    def shell(self) -> str:
        return shlex.join(["python", "main_imp.py", *self.argv])

    def finished_now(self) -> bool:
        return is_finished(RunDir(parse_args(list(self.argv))))


@dataclass(frozen=True)
class Pack:
    """Runs trained together in one process, taking turns (``python -m sweep.pack``): what a sweep starts, or a
    SLURM array task trains, in place of one run when PACK > 1. Each run still writes its own log."""
    runs: tuple[Run, ...]

    @property
    def label(self) -> str:
        return f"pack of {len(self.runs)}: " + "; ".join(r.label for r in self.runs)

    @property
    def log(self) -> Path:
        """The pack's own lines (which run ended how); each run's output is in its own log."""
        first = self.runs[0]
        return first.run_dir.with_name(f"pack-{first.run_id}+{len(self.runs) - 1}.log")

    def _args(self) -> list[str]:
        return [a for r in self.runs for a in (str(r.log), shlex.join(r.argv))]

    def command(self) -> list[str]:
        return [sys.executable, "-m", "sweep.pack", *self._args()]

    def shell(self) -> str:
        return shlex.join(["python", "-m", "sweep.pack", *self._args()])


def is_finished(run_dir: RunDir) -> bool:
    """Whether every level --rounds asks for has its metrics.json."""
    return all(run_dir.finished_record(k) is not None for k in range(run_dir.hp.job.rounds))


def packs(runs: Sequence[Run], size: int) -> list[Run | Pack]:
    """``runs`` in packs of up to ``size`` that can share a process (equal ``pack_key``), in the order of each
    pack's first run; a run left alone stays a plain run, and ``size`` 1 changes nothing."""
    if size <= 1:
        return list(runs)
    groups: dict[tuple, list[list[Run]]] = {}
    order: list[list[Run]] = []
    for run in runs:
        chunks = groups.setdefault(run.pack_key, [])
        if not chunks or len(chunks[-1]) == size:
            chunks.append([])
            order.append(chunks[-1])
        chunks[-1].append(run)
    return [Pack(tuple(chunk)) if len(chunk) > 1 else chunk[0] for chunk in order]


def own_seed(flags: Sequence[str]) -> int | None:
    """The seed a run names itself (``--seed N``, as the reproduction presets do for their fixed seed grids), or
    None: such a run is queued once, with that seed (and ``--data-seed N`` unless it names one too), whatever
    SEEDS says."""
    for i, flag in enumerate(flags):
        if flag == "--seed" and i + 1 < len(flags):
            return int(flags[i + 1]) if flags[i + 1].isdigit() else None
        if flag.startswith("--seed="):
            value = flag.split("=", 1)[1]
            return int(value) if value.isdigit() else None
    return None


def expand(flags: Sequence[str], seed: int, knobs: Knobs, out: Path) -> tuple[str, ...]:
    if own_seed(flags) is not None:
        named_data_seed = any(f == "--data-seed" or f.startswith("--data-seed=") for f in flags)
        argv = [*flags] if named_data_seed else [*flags, "--data-seed", str(seed)]
    else:
        argv = [*flags, "--seed", str(seed), "--data-seed", str(seed)]
    if knobs.quick:
        argv += QUICK_PRESET
    argv += knobs.extra
    if knobs.data_root:
        argv += ["--data-root", knobs.data_root]
    return (*argv, "--out", str(out))


def plan(prefix: str, specs: Sequence[Sequence[str]], knobs: Knobs) -> list[Run]:
    """Every (run, seed), run-major: all seeds of the script's first run, then the next (so the cheap runs a
    script lists first finish first). A run that names its own ``--seed`` is queued once, with it. A run listed
    twice is kept once."""
    if not prefix or "/" in prefix or prefix.startswith("."):
        raise UserError(f"PREFIX must be a plain folder name, got {prefix!r}")
    out = Path(knobs.out) / prefix
    runs, seen = [], set()
    for flags in specs:
        seed_of_run = own_seed(flags)
        for seed in knobs.seeds if seed_of_run is None else (seed_of_run,):
            argv = expand(flags, seed, knobs, out)
            why = io.StringIO()
            try:
                with contextlib.redirect_stderr(why):  # argparse's line goes into the one error line
                    hp = parse_args(argv)
            except SystemExit:
                reason = why.getvalue().strip().removeprefix("main_imp.py: error: ")
                raise UserError(f"bad flags in run ({reason}): {shlex.join(argv)}") from None
            run_dir = RunDir(hp)
            if hp.run_id() in seen:
                print(f"sweep: skipping a repeated run ({shlex.join(flags)}, seed {seed})", file=sys.stderr)
                continue
            seen.add(hp.run_id())
            label = shlex.join(flags) + ("" if seed_of_run is not None else f" [seed {seed}]")
            runs.append(Run(label, argv, hp.run_id(), run_dir.root, is_finished(run_dir), pack_key(hp)))
    return runs
