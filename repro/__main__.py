"""``python -m repro``: the same command line as ``run_all.py`` (see ``--help``)."""
from __future__ import annotations

import sys

from repro.cli import main

if __name__ == "__main__":
    sys.exit(main())
