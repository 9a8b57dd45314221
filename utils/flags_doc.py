"""``python -m utils.flags_doc [--check]``: docs/flags.md, the flag tables of main_imp.py, evaluate.py and
pretrain_ssl.py, generated from their parsers (main_imp.py's from the hyperparameter dataclasses), so the docs
cannot disagree with --help.

``--check`` exits 1 when docs/flags.md differs from what would be written (tests/test_docs.py runs it).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "flags.md"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(action: argparse.Action) -> str:
    if action.default is False:
        return "off"
    if action.default is None or action.default == argparse.SUPPRESS:
        return "-"
    if isinstance(action.default, (list, tuple)):
        return "`" + ",".join(map(str, action.default)) + "`"
    return f"`{action.default}`"


def table(parser: argparse.ArgumentParser) -> list[str]:
    """One markdown table per argument group of ``parser`` (positionals and --help left out)."""
    lines = []
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.option_strings and a.dest != "help"]
        if not actions:
            continue
        lines += [f"### {group.title}", "", "| flag | default | meaning |", "|---|---|---|"]
        for a in actions:
            flag = ", ".join(f"`{s}`" + (f" {a.metavar}" if a.metavar and a.nargs != 0 else "")
                             for s in a.option_strings)
            choices = f" (choices: {', '.join(map(str, a.choices))})" if a.choices else ""
            lines.append(f"| {flag} | {_default(a)} | {_cell((a.help or '').replace('%%', '%') + choices)} |")
        lines.append("")
    return lines


def render() -> str:
    from lottery.cli import build_parser as imp_parser
    from robustness.cli import build_parser as evaluate_parser
    from selfsup.cli import build_ssl_parser

    lines = ["# All flags", "", "Generated from the parsers by `python -m utils.flags_doc` (do not edit by hand; "
             "tests/test_docs.py fails when this file is stale). `python main_imp.py --help` and "
             "`python evaluate.py --help` and `python pretrain_ssl.py --help` print the same.", ""]
    for title, parser in (("main_imp.py", imp_parser()), ("evaluate.py", evaluate_parser()),
                          ("pretrain_ssl.py", build_ssl_parser())):
        lines += [f"## {title}", "", *table(parser)]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.flags_doc", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/flags.md is stale; write nothing")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        stale = not OUT.exists() or OUT.read_text() != text
        if stale:
            print(f"{OUT.relative_to(REPO)} is stale: run python -m utils.flags_doc", file=sys.stderr)
        return 1 if stale else 0
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
