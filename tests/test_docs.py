"""docs/: the flag reference is generated from the parsers and must be current."""
from __future__ import annotations

from utils import flags_doc


def test_flags_doc_is_current():
    assert flags_doc.main(["--check"]) == 0, "docs/flags.md is stale: run python -m utils.flags_doc"


def test_flags_doc_lists_every_flag_of_both_parsers():
    from lottery.cli import build_parser
    from robustness.cli import build_parser as evaluate_parser
    from selfsup.cli import build_ssl_parser

    text = flags_doc.render()
    for parser in (build_parser(), evaluate_parser(), build_ssl_parser()):
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}`" in text, option
