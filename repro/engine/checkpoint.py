"""Atomic checkpoint files, one per row run, resumable at an epoch boundary."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch


def atomic_save(obj, path: Path) -> None:
    """Write to a temp file in the same folder, then rename: a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_if_matching(path: Path, config_hash: str) -> dict | None:
    """The checkpoint at ``path`` if it was written for the same config, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    return ckpt if ckpt.get("config_hash") == config_hash else None
