"""``python -m repro.torchrun [torchrun's arguments]``: torchrun whose agent ignores SIGUSR1.

SLURM sends its warning signal (the sbatch template's ``--signal=USR1@120``) to every process of
the job step: to the training processes, which stop at a step checkpoint
(:mod:`repro.engine.preempt`), and to torchrun's agent, which SIGUSR1 would kill (the agent
handles SIGTERM, SIGINT, SIGHUP and SIGQUIT only: torch/distributed/elastic/multiprocessing/api.py).
A killed agent fails the job step, and ``srun --kill-on-bad-exit`` then kills the ranks before
they have written their checkpoint. Here the agent ignores it and waits for its workers; each
worker inherits "ignore" and replaces it with its own handler (:func:`repro.cli.main`).
"""
from __future__ import annotations

import signal
import sys


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    from torch.distributed.run import main as torchrun

    torchrun(argv)


if __name__ == "__main__":
    sys.exit(main())
