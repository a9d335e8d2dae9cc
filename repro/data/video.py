"""Video decoding with decord. A reader is opened per call, inside the DataLoader worker that
needs it: readers created in the parent process hang forked workers (facts.md)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np


class DecodeError(RuntimeError):
    """A video that is missing, truncated or undecodable; the message names the file."""


def decode(path: Path, pick: Callable[[int], np.ndarray] | None = None) -> np.ndarray:
    """Decode frames ``(F, H, W, 3)`` uint8 RGB from a video file or a folder of frames.

    ``pick(num_frames)`` chooses the frame indices once the length is known; all frames when None.
    """
    # PyAV first: both wheels bundle FFmpeg, and once decord's copy is loaded PyAV can no longer
    # open its libvpx encoder (avcodec_open2 returns EINVAL), which breaks dataset generation
    # later in the same process. Loaded in this order, both work.
    import av  # noqa: F401
    import decord

    p = Path(path)
    if p.is_dir():  # a folder of JPEG frames (Something-Something V1, some file lists)
        from repro.data.ssv1 import decode_frames

        return decode_frames(p, pick)
    if not p.is_file():
        raise DecodeError(f"video not found: {p}")
    try:
        vr = decord.VideoReader(str(p), num_threads=1)
        n = len(vr)
        if n == 0:
            raise DecodeError(f"video {p} has no frames")
        idx = np.arange(n) if pick is None else pick(n)
        return vr.get_batch([int(i) for i in idx]).asnumpy()
    except DecodeError:
        raise
    except Exception as e:  # decord raises its own DECORDError; normalise it and name the file
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DecodeError(f"cannot decode {p}: {msg}") from e
