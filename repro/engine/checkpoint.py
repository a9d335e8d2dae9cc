"""Atomic checkpoint files, one per row run, resumable at an epoch boundary.

A checkpoint also holds the RNG states (torch, CUDA, numpy, python) as they were at the end of
its epoch, so that a resumed run draws the same dropout masks as an uninterrupted one and ends
with the same metrics.
"""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

from repro.errors import TrainingError


def _fsync_dir(path: Path) -> None:
    # The rename is only durable once the directory entry is on disk (POSIX); best effort.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_save(obj, path: Path) -> None:
    """Write to a temp file in the same folder, fsync, then rename: a kill (or a crash of the
    machine) never leaves half a file, and readers see the old or the new checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


# A run folder's checkpoints: the end of the last finished epoch, and the best validation epoch.
LAST, BEST = "last.pt", "best.pt"


def load_if_matching(path: Path, config_hash: str) -> dict | None:
    """The checkpoint at ``path`` if it was written for the same config, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # only a file not written by atomic_save can get here
        raise TrainingError(f"checkpoint {path} cannot be read ({type(e).__name__}: {e}); delete it "
                            "(or re-run with --force) to train this row from scratch") from e
    return ckpt if isinstance(ckpt, dict) and ckpt.get("config_hash") == config_hash else None


def rng_state() -> dict:
    """Every global RNG state a training epoch draws from (dropout, augmentation fallbacks)."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore :func:`rng_state`; CUDA states only when the device count matches (a checkpoint
    moved to another machine still resumes, just not bit-exactly on the GPU)."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
