#!/usr/bin/env python
"""Summary table and plot of run directories: ``python scripts/report.py runs/PREFIX [more] [--out DIR]
[--metric test_acc|best_test_acc]``. The work is in the ``report`` package (importable from notebooks)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from report.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
