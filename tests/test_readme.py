"""The README documents every flag, and every flag it shows exists."""
from __future__ import annotations

import re
from pathlib import Path

from lottery.cli import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BENCH_FLAGS = {"--help", "--case", "--common", "--full-level", "--tile", "--warmup-epochs", "--epochs"}


def parser_flags() -> set[str]:
    return {s for a in build_parser()._actions for s in a.option_strings if s.startswith("--")} - {"--help"}


def test_every_flag_is_in_the_flag_table():
    first_cells = re.findall(r"^\| ([^|]*`--[^|]*)\|", README, flags=re.M)
    table = {flag for cell in first_cells for flag in re.findall(r"`(--[a-z-]+)", cell)}
    assert parser_flags() <= table, parser_flags() - table


def test_every_flag_the_readme_shows_exists():
    shown = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", README))
    assert shown <= parser_flags() | BENCH_FLAGS, shown - parser_flags() - BENCH_FLAGS
