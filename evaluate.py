#!/usr/bin/env python
"""Robustness and analysis of finished runs: ``python evaluate.py RUN_DIR [RUN_DIR ...] --suite c10c,pgd ...``.

Reads each run directory (what main_imp.py wrote) and writes ``robustness.json`` and ``robustness_<suite>.csv``
into it, computing only the cells not stored yet; ``--plots`` also writes ``plots/*.png``. README: Robustness.
"""
import sys

from robustness.cli import main

if __name__ == "__main__":
    sys.exit(main())
