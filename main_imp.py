#!/usr/bin/env python
"""Iterative magnitude pruning with weight rewinding: ``python main_imp.py --help`` lists every flag."""
import sys

from lottery.cli import main

if __name__ == "__main__":
    sys.exit(main())
