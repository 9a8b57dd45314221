#!/usr/bin/env python
"""SimCLR pretraining of the backbone on the training pool: ``python pretrain_ssl.py --help`` lists every flag."""
import sys

from selfsup.cli import main

if __name__ == "__main__":
    sys.exit(main())
