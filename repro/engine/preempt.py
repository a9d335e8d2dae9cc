"""Preemption: the cluster's warning signal asks a run to stop at the next step boundary.

SLURM sends SIGUSR1 ahead of the time limit or a preemption (the sbatch template's
``--signal=USR1@120``), and SIGTERM when it preempts without warning (KillWait, 30 s by default,
before SIGKILL). The handlers only record the request; training finishes the step it is in,
writes a step checkpoint (``last.pt`` with the step, the epoch's partial sums and the RNG state)
and raises :class:`repro.errors.Preempted`. The next start resumes at that step, and the run ends
with the same numbers as one never stopped.

SIGTERM outside training (data generation, evaluation, a report), or a second SIGTERM, stops at
once: there is no step to finish, and whatever called ``kill`` twice wants the process gone.
Listeners (:func:`listening`) hear every request: the ``--jobs`` pool passes it on to its workers.
"""
from __future__ import annotations

import contextlib
import signal
from typing import Callable, Iterator

_REQUESTED: list[int] = []
_TRAINING: list[bool] = []
_LISTENERS: list[Callable[[int], None]] = []


def request(signum: int = signal.SIGUSR1, frame=None) -> None:  # noqa: ARG001
    _REQUESTED.append(signum)
    for fn in list(_LISTENERS):
        fn(signum)


def requested(signum: int | None = None) -> bool:
    """Whether a stop was asked for (by ``signum``, if given)."""
    return bool(_REQUESTED) if signum is None else signum in _REQUESTED


def signal_name() -> str:
    """The signal that asked, in words (SIGUSR1: the cluster's warning)."""
    if not _REQUESTED:
        return "a signal to another rank"
    name = signal.Signals(_REQUESTED[0]).name
    return "the cluster's warning signal (SIGUSR1)" if name == "SIGUSR1" else name


def clear() -> None:
    _REQUESTED.clear()


@contextlib.contextmanager
def training() -> Iterator[None]:
    """Marks the training loop, where SIGTERM can wait for the step's end."""
    _TRAINING.append(True)
    try:
        yield
    finally:
        _TRAINING.pop()


def term_handler(stop: Callable[[], None]) -> Callable:
    """A SIGTERM handler: inside training the first one asks for a step checkpoint, as SIGUSR1
    does; otherwise, or the second time, ``stop()`` (which raises)."""

    def on_term(signum, frame) -> None:  # noqa: ARG001
        if _TRAINING and not _REQUESTED:
            request(signum)
            return
        stop()

    return on_term


@contextlib.contextmanager
def listening(fn: Callable[[int], None]) -> Iterator[None]:
    """``fn(signum)`` is called on every request while the block runs (from the signal handler)."""
    _LISTENERS.append(fn)
    try:
        yield
    finally:
        _LISTENERS.remove(fn)
