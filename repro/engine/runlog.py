"""A run folder's log file, ``<run folder>/log.txt``, as mmaction2 and PySlowFast keep one: the
start, every epoch line, every Python warning of the run (skipped videos, ...), a resume, and the
final metrics, each line time-stamped. Appended to, so a resumed run's log tells its whole story.
"""
from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOG_FILE = "log.txt"


class RunLog:
    """``log(line)`` appends to ``folder/log.txt``; a None folder (ranks other than 0) logs nothing."""

    def __init__(self, folder: Path | None) -> None:
        self.path = Path(folder) / LOG_FILE if folder is not None else None

    def __call__(self, line: str) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    @contextmanager
    def warnings(self) -> Iterator[None]:
        """Every warning shown while inside also goes to the log (and still to stderr)."""
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            self(f"warning: {category.__name__}: {message}")
            shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        try:
            yield
        finally:
            warnings.showwarning = shown
