"""The README documents every flag (of main_imp.py and evaluate.py), and every flag it shows exists."""
from __future__ import annotations

import re
from pathlib import Path

from lottery.cli import build_parser
from robustness.cli import build_parser as build_evaluate_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BENCH_FLAGS = {"--help", "--case", "--common", "--full-level", "--tile", "--warmup-epochs", "--epochs", "--tile-to",
               "--pgd-images",  # scripts/bench.py, scripts/bench_robustness.py
               "--jobs", "--metric",  # scripts/bench_jobs.py, scripts/report.py
               "--variants"}  # scripts/bench_speedups.py
SBATCH_FLAGS = {"--array", "--parsable", "--partition", "--gres", "--time", "--cpus-per-task",  # SLURM's own
                "--comment"}
PIP_FLAGS = {"--no-deps"}  # pip's own (installing torchattacks)


def parser_flags() -> set[str]:
    return {s for parser in (build_parser(), build_evaluate_parser()) for a in parser._actions
            for s in a.option_strings if s.startswith("--")} - {"--help"}


def test_every_flag_is_in_the_flag_table():
    first_cells = re.findall(r"^\| ([^|]*`--[^|]*)\|", README, flags=re.M)
    table = {flag for cell in first_cells for flag in re.findall(r"`(--[a-z0-9-]+)", cell)}
    assert parser_flags() <= table, parser_flags() - table


def test_every_flag_the_readme_shows_exists():
    shown = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", README))
    other = BENCH_FLAGS | SBATCH_FLAGS | PIP_FLAGS
    assert shown <= parser_flags() | other, shown - parser_flags() - other
