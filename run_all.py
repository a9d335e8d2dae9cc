#!/usr/bin/env python3
"""Entry point: ``python run_all.py --table ssa_table2`` (see ``--help``)."""
import sys

from repro.cli import main

if __name__ == "__main__":
    sys.exit(main())
