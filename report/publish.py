"""``python -m report.publish SWEEP_DIR RESULTS_DIR [--command CMD] [--note TEXT]``: a sweep's small files into
the repository's ``results/``, and every summary regenerated from those files alone.

Per run it copies ``hparams.json``, ``results.json``, ``job.json`` and ``robustness.json`` and writes
``layers.json`` (each finished level's per-layer densities, from its ``metrics.json``), into
``RESULTS_DIR/runs/<run-id>/``; weights, masks, checkpoints and subset indices stay behind. Then it runs the
report over ``RESULTS_DIR/runs`` into ``RESULTS_DIR`` (summary.md, summary.csv, accuracy_vs_density.png,
robustness.md) and writes ``RESULTS_DIR/README.md``: the command, the code versions the runs recorded, the
machine, the wall time and the training time. ``python scripts/report.py RESULTS_DIR/runs --out RESULTS_DIR``
regenerates every table and plot from the committed files (tests/test_results.py checks that it does).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

from report.__main__ import main as report_main
from report.robust import LAYERS_FILE, layer_table
from report.runs import RunRecord, load_runs
from utils.io import save_json, save_text
from utils.provenance import code_version, machine

COPIED = ("hparams.json", "results.json", "job.json", "robustness.json")
_LOG_START = re.compile(r"^== (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ", re.MULTILINE)


def _environments(run: RunRecord) -> list[dict]:
    return [json.loads(p.read_text()).get("environment", {}) for p in sorted(run.path.glob("level_*/metrics.json"))]


def wall_time(runs: list[RunRecord]) -> tuple[float, str, str] | None:
    """Seconds from the first start any run's sweep log records to the last result written, with both times."""
    starts = [time.mktime(time.strptime(m, "%Y-%m-%d %H:%M:%S"))
              for r in runs if r.path.with_name(r.path.name + ".log").exists()
              for m in _LOG_START.findall(r.path.with_name(r.path.name + ".log").read_text(errors="replace"))]
    ends = [p.stat().st_mtime for r in runs for p in (r.path / "results.json", r.path / "robustness.json")
            if p.exists()]
    if not starts or not ends:
        return None
    first, last = min(starts), max(ends)
    fmt = "%Y-%m-%d %H:%M"
    return last - first, time.strftime(fmt, time.localtime(first)), time.strftime(fmt, time.localtime(last))


def copy_run(run: RunRecord, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (run.path / name).exists():
            shutil.copyfile(run.path / name, dest / name)
    save_json({str(k): v for k, v in sorted(layer_table(run.path).items())}, dest / LAYERS_FILE)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h ({seconds / 60:.0f} min)"


def provenance(runs: list[RunRecord], command: str, note: str) -> str:
    envs = [e for r in runs for e in _environments(r)]
    versions = sorted({e["code_version"] for e in envs if e.get("code_version")})
    devices = sorted({f"{e.get('device')} ({e.get('precision')}, torch {e.get('torch')})" for e in envs})
    training = sum(level.get("seconds", 0.0) for r in runs for level in r.levels.values())
    wall = wall_time(runs)
    lines = ["# Published results", "", f"- Command: `{command}`" if command else "- Command: not given",
             f"- Runs: {len(runs)} ({sum(r.finished for r in runs)} finished), in `runs/<run-id>/` (small files "
             f"only: {', '.join(COPIED)}, {LAYERS_FILE})",
             f"- Code version the runs recorded: {', '.join(versions) if versions else 'not recorded by these runs'}"
             f"; published at {code_version() or 'an unknown version'}",
             f"- Machine: {machine()}; the runs ran on {', '.join(devices) if devices else 'an unrecorded device'}",
             f"- Wall time: {_hours(wall[0])}, {wall[1]} to {wall[2]} (first run started to last result written)"
             if wall else "- Wall time: not recorded (no sweep logs beside the runs)",
             f"- Training time: {_hours(training)} summed over runs and levels (runs ran side by side, so this "
             f"exceeds the wall time)",
             "", "Regenerate every table and plot from these files alone:", "",
             "```bash", "python scripts/report.py RESULTS/runs --out RESULTS   # RESULTS: this folder", "```", ""]
    return "\n".join(lines + ([note.strip(), ""] if note.strip() else []))


def publish(sweep_dir: str | Path, results_dir: str | Path, command: str = "", note: str = "") -> int:
    runs = load_runs([sweep_dir])
    if not runs:
        print(f"publish: error: no run directories under {sweep_dir}", file=sys.stderr)
        return 2
    results = Path(results_dir)
    if (results / "runs").exists():
        shutil.rmtree(results / "runs")  # a published folder holds exactly one sweep's runs
    for run in runs:
        copy_run(run, results / "runs" / run.path.name)
    status = report_main([str(results / "runs"), "--out", str(results)])
    save_text(provenance(runs, command, note), results / "README.md")
    print(f"published {len(runs)} runs -> {results}")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m report.publish", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", help="a sweep folder ($OUT/PREFIX)")
    parser.add_argument("results_dir", help="where to publish, e.g. results/cifar10_mini")
    parser.add_argument("--command", default="", help="the command that produced the sweep, for README.md")
    parser.add_argument("--note", default="", help="a paragraph added to README.md")
    args = parser.parse_args(argv)
    return publish(args.sweep_dir, args.results_dir, args.command, args.note)


if __name__ == "__main__":
    sys.exit(main())
