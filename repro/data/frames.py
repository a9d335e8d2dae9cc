"""Folders of numbered JPEG frames: listing them in order, and decoding them like a video.

Something-Something V1 is distributed this way, and a file list may name such folders too.
Both the generic decoder (:func:`repro.data.video.decode`) and the SSv1 adapter
(:mod:`repro.data.ssv1`) read folders through here, so neither has to import the other.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

import numpy as np

from repro.errors import DecodeError

_FRAME_RE = re.compile(r"^\d+\.jpe?g$", re.IGNORECASE)


def frame_files(folder: Path) -> list[Path]:
    """The folder's numbered JPEGs in frame order (by number, so 00001.jpg..NNNNN.jpg or 0-based)."""
    names = [e.name for e in os.scandir(folder) if _FRAME_RE.match(e.name)]
    names.sort(key=lambda s: int(s.split(".")[0]))
    return [folder / n for n in names]


def frame_gap(files: list[Path]) -> int | None:
    """The first missing number in a folder's sorted frame numbers, or None if consecutive."""
    numbers = [int(f.name.split(".")[0]) for f in files]
    for a, b in zip(numbers, numbers[1:]):
        if b != a + 1:
            return a + 1
    return None


def checked_frame_files(p: Path) -> list[Path]:
    """The folder's frames in order, or a DecodeError if it is missing, empty or has a gap."""
    if not p.is_dir():
        raise DecodeError(f"frame folder not found: {p}")
    files = frame_files(p)
    if not files:
        raise DecodeError(f"frame folder {p} has no numbered .jpg frames (expected 00001.jpg ...)")
    gap = frame_gap(files)
    if gap is not None:  # a lost frame would shift every later one: the clip is not the video
        raise DecodeError(f"frame folder {p} misses frame {gap} (its numbered frames are not consecutive)")
    return files


def decode_frames(path: Path, pick: Callable[[int], np.ndarray] | None = None) -> np.ndarray:
    """Read a frame folder as ``(F, H, W, 3)`` uint8 RGB, like :func:`repro.data.video.decode`.

    ``pick(num_frames)`` chooses the frame indices once the count is known (only those JPEGs
    are opened); all frames when None.
    """
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    p = Path(path)
    files = checked_frame_files(p)
    idx = np.arange(len(files)) if pick is None else pick(len(files))
    out = []
    for i in idx:
        f = files[int(i)]
        try:
            # torchvision's libjpeg-turbo: the same pixels as PIL, ~1.3x faster (bench/decoders.py)
            data = torch.frombuffer(bytearray(f.read_bytes()), dtype=torch.uint8)
            out.append(decode_jpeg(data, mode=ImageReadMode.RGB).permute(1, 2, 0).numpy())
        except Exception as e:  # missing, truncated or not a JPEG
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DecodeError(f"cannot read frame {f}: {msg}") from e
    if len({a.shape for a in out}) != 1:
        raise DecodeError(f"frame folder {p} mixes frame sizes {sorted({a.shape for a in out})}")
    return np.stack(out)


def decoder_name(records: list | None = None) -> str:
    """How frame folders are decoded, as a dataset fingerprint names it."""
    import torchvision

    return f"torchvision {torchvision.__version__} (JPEG frames)"
