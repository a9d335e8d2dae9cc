"""Worker processes that run units side by side, and that never outlive the run.

Units are independent, so on a CPU with N cores and a one-thread recipe N of them run at once
(``--jobs``), each in a spawned process that writes its own result the moment it finishes.
Stopping the parent ends every worker: SIGINT/SIGTERM terminate them from the parent, and a
worker whose parent died (even by SIGKILL) notices within a second and exits. A worker stopped
by a signal unwinds first, so no half-written temp file is left.
"""
from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import torch

from repro.engine import preempt
from repro.errors import DiskFull, Preempted
from repro.files import disk_full, thread_disk_full, watch_threads
from repro.run.train import run_unit
from repro.run.unit import Dirs, Unit

PR_SET_PDEATHSIG = 1


def _exit_now() -> None:
    raise SystemExit(143)  # unwinds: the finally blocks of atomic writes remove temp files


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:  # re-parented: the run that started us is gone
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5.0)
            os._exit(143)


def _init_worker(parent: int) -> None:
    """In each worker: exit with the parent; on SIGTERM write a step checkpoint if training, then
    unwind; on SIGUSR1 (the cluster's warning) stop at a step checkpoint; leave Ctrl-C to the parent."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except OSError:
            pass  # the watcher thread below still catches it
    signal.signal(signal.SIGTERM, preempt.term_handler(_exit_now))
    signal.signal(signal.SIGUSR1, preempt.request)
    watch_threads()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _worker(unit: Unit, dirs: Dirs, force: bool) -> dict:
    """Entry point in a pool process. Errors come back as text (custom exceptions need not pickle),
    but for a full disk, which stops the whole run."""
    if preempt.requested():  # asked to stop: a unit queued behind the stopped one does not start
        return {"status": "preempted", "error": "not started"}
    try:
        done = run_unit(unit, dirs, force, progress=False, say=lambda *a, **k: None)
        if thread_disk_full() is not None:
            raise thread_disk_full()
        return done
    except Preempted as e:
        if preempt.requested(signal.SIGTERM):  # the parent is going: do not go back to the pool's loop
            os._exit(143)
        return {"status": "preempted", "error": str(e)}
    except SystemExit as e:  # SIGTERM: the finally blocks have run; do not go back to the pool's loop
        os._exit(e.code if isinstance(e.code, int) else 143)
    except (DiskFull, OSError) as e:  # the parent stops the run: every other unit would meet the same disk
        full = e if isinstance(e, DiskFull) else disk_full(e)
        if full is None:
            return {"status": "failed", "error": f"{type(e).__name__}: {e}"}
        raise full from None  # it pickles (repro/errors.py): the parent's fut.result() raises it
    except Exception as e:  # noqa: BLE001 -- reported by the parent with the unit it belongs to
        return {"status": "failed", "error": f"{type(e).__name__}: {e}"}


def default_jobs(threads: int | None) -> int:
    """Units to run at once: one per ``threads`` CPU cores when training on CPU, else 1."""
    if torch.cuda.is_available() or not threads:
        return 1
    return max(1, cpu_count() // int(threads))


def cpu_count() -> int:
    """Cores this process may use (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class Pool:
    """Worker processes for units, started on first use and kept for every table of the run."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._ex = None

    def submit(self, unit: Unit, dirs: Dirs, force: bool):
        if self._ex is None:
            # spawn, not fork: a forked child of a process that already ran torch's thread pool
            # can hang on its first parallel kernel.
            self._ex = ProcessPoolExecutor(self.jobs, mp_context=mp.get_context("spawn"),
                                           initializer=_init_worker, initargs=(os.getpid(),))
        return self._ex.submit(_worker, unit, dirs, force)

    def forward(self, signum: int) -> None:
        """Pass the cluster's warning (SIGUSR1) on to the workers: each stops at a step checkpoint.
        (SIGTERM is not passed on here: the parent stops, and :meth:`close` sends it.)"""
        if signum != signal.SIGUSR1 or self._ex is None:
            return
        for p in list((getattr(self._ex, "_processes", None) or {}).values()):
            if p.is_alive():
                os.kill(p.pid, signum)

    def close(self, cancel: bool = False) -> None:
        """Wait for the workers, or (``cancel``) stop them now: SIGTERM, then SIGKILL after 10 s."""
        if self._ex is None:
            return
        ex, self._ex = self._ex, None
        procs = list((getattr(ex, "_processes", None) or {}).values())
        if not cancel:
            ex.shutdown(wait=True)
            return
        for p in procs:
            if p.is_alive():
                p.terminate()
        deadline = time.time() + 10
        for p in procs:
            p.join(max(0.0, deadline - time.time()))
            if p.is_alive():
                p.kill()
        ex.shutdown(wait=False, cancel_futures=True)
