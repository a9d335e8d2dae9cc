"""Atomic checkpoint files, one per row run, resumable at an epoch boundary or a saved step.

A checkpoint also holds the RNG states (torch, CUDA, numpy, python) as they were at the end of
its epoch, so that a resumed run draws the same dropout masks as an uninterrupted one and ends
with the same metrics.
"""
from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch

from repro.errors import TrainingError
from repro.files import write_atomic


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` of ``obj``, serialised in memory first and then written atomically
    (:func:`repro.files.write_atomic`): a kill leaves the old or the new checkpoint, and a full
    disk one DiskFull naming the folder and the bytes needed, never half a file."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_atomic(path, buf.getbuffer())


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
