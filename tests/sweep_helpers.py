"""Running the sweep scripts in tests: a quiet environment (one thread per run), a tiny run's flags, and a run
script's queued runs read through a stand-in for scripts/lib/sweep.sh."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
# a run of a few seconds on a CPU: synthetic data, a width-4 ResNet-18, 2 levels of 2 epochs
TINY_RUN = ("--dataset synthetic --per-class 10 --width 4 --rounds 2 --epochs 2 --batch-size 50 --rewind epoch:1 "
            "--eval-every 0 --device cpu")
KNOBS = ("SEEDS", "EXTRA", "DATA_ROOT", "OUT", "DRY_RUN", "QUICK", "JOBS", "PACK", "LAUNCHER", "SBATCH_ARGS",
         "SWEEP_CALLER_DIR", "CUDA_VISIBLE_DEVICES")


def sweep_env(**knobs: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KNOBS}
    return {**env, "OMP_NUM_THREADS": "1", **knobs}


def run_script(script: str | Path, *args: str, cwd: Path, timeout: int = 600, **knobs: str):
    return subprocess.run(["bash", str(script), *args], cwd=cwd, env=sweep_env(**knobs), capture_output=True,
                          text=True, timeout=timeout)


def write_sweep(path: Path, prefix: str, *runs: str) -> Path:
    """A run script like scripts/run_*.sh, with the given runs (strings of main_imp.py flags)."""
    lines = [f"source {shlex.quote(str(SCRIPTS / 'lib' / 'sweep.sh'))}", f"sweep_begin {prefix}",
             *[f"sweep_add {r}" for r in runs], "sweep_finish"]
    path.write_text("\n".join(lines) + "\n")
    return path


def commands(stdout: str) -> list[list[str]]:
    """The main_imp.py argument lists a dry run printed."""
    return [shlex.split(line.split("  > ")[0])[2:] for line in stdout.splitlines()
            if line.startswith("python main_imp.py")]


def flag(argv: list[str], name: str) -> str:
    """The value a flag ends up with (argparse keeps the last)."""
    return [argv[i + 1] for i, a in enumerate(argv) if a == name][-1]


# scripts/lib/sweep.sh's functions, recording instead of running: the prefix, and each sweep_add's flags
RECORDER = """sweep_begin() { echo "$1" > "$RECORD.prefix"; }
sweep_add() { printf '%q ' "$@" >> "$RECORD"; echo >> "$RECORD"; }
sweep_finish() { :; }
"""


def queued(tmp_path: Path, script: str, *args: str, **knobs: str) -> list[list[str]]:
    """The main_imp.py flags of every run ``scripts/<script> ARGS`` queues (``args[0]`` is its prefix), each
    checked to parse and validate."""
    from lottery.cli import parse_args

    lib = tmp_path / "scripts" / "lib"
    lib.mkdir(parents=True)
    shutil.copy(SCRIPTS / script, lib.parent / script)
    shutil.copy(SCRIPTS / "lib" / "cifar10_settings.sh", lib)
    (lib / "sweep.sh").write_text(RECORDER)
    record = tmp_path / "queued.txt"
    subprocess.run(["bash", str(lib.parent / script), *args], check=True, env=sweep_env(RECORD=str(record), **knobs))
    assert (tmp_path / "queued.txt.prefix").read_text().strip() == args[0]
    runs = [shlex.split(line) for line in record.read_text().splitlines()]
    for argv in runs:
        parse_args([*argv, "--out", str(tmp_path / "runs")])  # raises on any invalid combination
    return runs
