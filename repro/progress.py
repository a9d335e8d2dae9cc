"""Progress of long work: a bar on a terminal; in a log (nohup, SLURM, CI) a plain line a minute.

A bar redrawn into a file is thousands of carriage returns; a line every :data:`EVERY_S`
seconds says the same in a form a log can hold.
"""
from __future__ import annotations

import sys
import time
from typing import Iterable

from tqdm import tqdm

EVERY_S = 60.0


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = True, **kw):
    """``tqdm(iterable, **kw)`` on a terminal; periodic lines on stderr when it is not one;
    nothing when ``enabled`` is False. Supports iteration, ``update``, ``set_postfix``, ``close``."""
    if not enabled:
        return tqdm(iterable, disable=True, **kw)
    if sys.stderr.isatty():
        return tqdm(iterable, **kw)
    return Lines(iterable, kw.get("total"), kw.get("desc", ""), kw.get("unit", "it"), kw.get("initial", 0))


class Lines:
    """The part of tqdm's interface the harness uses, printing ``desc: n/total unit (s), postfix``
    at most once every :data:`EVERY_S` seconds."""

    def __init__(self, iterable: Iterable | None, total: int | None, desc: str, unit: str, initial: int) -> None:
        self.iterable, self.desc, self.unit, self.n = iterable, desc, unit, initial
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.postfix = ""
        self.t0 = self.last = time.time()

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)

    def update(self, k: int = 1) -> None:
        self.n += k
        now = time.time()
        if now - self.last >= EVERY_S:
            self.last = now
            of = f"/{self.total}" if self.total else ""
            post = f", {self.postfix}" if self.postfix else ""
            print(f"{self.desc}: {self.n}{of} {self.unit} ({now - self.t0:.0f} s){post}", file=sys.stderr, flush=True)

    def set_postfix(self, **kw) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in kw.items())

    def close(self) -> None:
        pass
