"""The README is a guide that links its reference pages; every flag the README or docs/ shows exists, every page it
links exists, and docs/flags.md (tests/test_docs.py) lists every flag."""
from __future__ import annotations

import re
from pathlib import Path

from lottery.cli import build_parser
from robustness.cli import build_parser as build_evaluate_parser
from selfsup.cli import build_ssl_parser

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
PAGES = {p.relative_to(REPO).as_posix(): p.read_text() for p in sorted((REPO / "docs").glob("*.md"))}
BENCH_FLAGS = {"--help", "--case", "--common", "--full-level", "--tile", "--warmup-epochs", "--epochs", "--tile-to",
               "--pgd-images",  # bench/bench.py, bench/bench_robustness.py
               "--jobs", "--metric", "--out", "--where", "--check",  # bench_jobs.py, report.py, sweep.evaluate
               "--variants"}  # bench/bench_speedups.py
SBATCH_FLAGS = {"--array", "--parsable", "--partition", "--gres", "--time", "--cpus-per-task",  # SLURM's own
                "--comment"}
PIP_FLAGS = {"--no-deps"}  # pip's own (installing torchattacks)


def parser_flags() -> set[str]:
    return {s for parser in (build_parser(), build_evaluate_parser(), build_ssl_parser()) for a in parser._actions
            for s in a.option_strings if s.startswith("--")} - {"--help"}


def test_every_flag_the_readme_and_docs_show_exists():
    for name, text in {"README.md": README, **PAGES}.items():
        shown = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", text))
        other = BENCH_FLAGS | SBATCH_FLAGS | PIP_FLAGS
        assert shown <= parser_flags() | other, (name, shown - parser_flags() - other)


def test_readme_is_a_guide_whose_links_resolve():
    assert len(README.splitlines()) <= 250
    links = re.findall(r"\]\(([^)#]+)\)", README) + [m for text in PAGES.values()
                                                      for m in re.findall(r"\]\((\.\./[^)#]+|[a-z_]+\.md)\)", text)]
    assert links
    for link in links:
        if not link.startswith("http"):
            base = REPO if not link.startswith("../") and "/" in link else REPO / "docs"
            assert (base / link).resolve().exists(), link
    for heading in ("## The main job", "## Results", "## Sweeps and the report", "## Robustness and the notebook"):
        assert heading in README
