"""Preemption: the cluster's warning signal asks a run to stop at the next step boundary.

SLURM sends SIGUSR1 ahead of the time limit or a preemption (the sbatch template's
``--signal=USR1@120``). The handler only records the request; training finishes the step it is
in, writes a step checkpoint (``last.pt`` with the step, the epoch's partial sums and the RNG
state) and raises :class:`repro.errors.Preempted`. The next start resumes at that step, and the
run ends with the same numbers as one never stopped.
"""
from __future__ import annotations

import signal

_REQUESTED: list[int] = []


def request(signum: int = signal.SIGUSR1, frame=None) -> None:  # noqa: ARG001
    _REQUESTED.append(signum)


def requested() -> bool:
    return bool(_REQUESTED)


def clear() -> None:
    _REQUESTED.clear()
