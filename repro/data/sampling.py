"""TSN segment sampling: split a video into T equal segments and take one frame from each."""
from __future__ import annotations

import numpy as np


def tsn_indices(num_frames: int, segments: int, train: bool,
                rng: np.random.Generator | None = None, clip: int = 0, clips: int = 1) -> np.ndarray:
    """Frame indices ``(segments,)``.

    Training: a random frame inside each segment. Evaluation: the segment centre, shifted by
    ``clip / clips`` of a segment when several clips are averaged (TSM's multi-clip protocol).
    Videos shorter than ``segments`` repeat frames.
    """
    if num_frames <= 0:
        raise ValueError("video has no frames")
    seg = num_frames / segments
    starts = np.arange(segments) * seg
    if train:
        rng = rng or np.random.default_rng()
        offs = rng.random(segments) * seg
    else:
        offs = np.full(segments, seg * (clip + 0.5) / clips)
    return np.minimum((starts + offs).astype(np.int64), num_frames - 1)
