"""Frame sampling: TSN segments (one frame per equal segment) and PySlowFast's dense clips
(``frames`` frames ``rate`` apart), each with its multi-clip test layout."""
from __future__ import annotations

import numpy as np

SAMPLINGS = ("tsn", "dense")
# Where the clips of a multi-clip TSN test sit inside each segment: ``spread`` = clip k at
# (k + .5)/K of the segment; ``tsm`` = TSM's --twice_sample (clip 0 at the centre, clip 1 at
# the start; ops/dataset.py), defined for 2 clips only.
CLIP_LAYOUTS = ("spread", "tsm")


def tsn_indices(num_frames: int, segments: int, train: bool,
                rng: np.random.Generator | None = None, clip: int = 0, clips: int = 1,
                layout: str = "spread") -> np.ndarray:
    """Frame indices ``(segments,)``.

    Training: a random frame inside each segment. Evaluation: the segment centre, or for clip
    ``clip`` of ``clips`` the offset that ``layout`` gives. Videos shorter than ``segments``
    repeat frames.
    """
    if num_frames <= 0:
        raise ValueError("video has no frames")
    seg = num_frames / segments
    starts = np.arange(segments) * seg
    if train:
        rng = rng or np.random.default_rng()
        offs = rng.random(segments) * seg
    elif layout == "tsm" and clips > 1:
        if clips != 2:
            raise ValueError(f"eval.clip_layout tsm is TSM's two-clip test; {clips} clips asked")
        offs = np.full(segments, seg * (0.5 if clip == 0 else 0.0))
    else:
        offs = np.full(segments, seg * (clip + 0.5) / clips)
    return np.minimum((starts + offs).astype(np.int64), num_frames - 1)


def dense_indices(num_frames: int, frames: int, rate: int, train: bool,
                  rng: np.random.Generator | None = None, clip: int = 0,
                  clips: int = 1) -> np.ndarray:
    """Frame indices ``(frames,)`` of one dense clip spanning ``frames * rate`` frames.

    PySlowFast (``decoder.get_start_end_idx``): the clip starts uniformly at random in training
    and at ``delta * clip / clips`` in testing (``delta`` = the frames left over), and its frames
    are ``linspace(start, start + span - 1, frames)``; a short video repeats frames. Frames are
    counted at the video's own rate (PySlowFast first resamples to 30 fps).
    """
    if num_frames <= 0:
        raise ValueError("video has no frames")
    span = frames * rate
    delta = max(num_frames - span, 0)
    if train:
        rng = rng or np.random.default_rng()
        start = rng.uniform(0, delta)
    else:
        start = delta * clip / clips
    idx = np.linspace(start, start + span - 1, frames)
    return np.clip(idx, 0, num_frames - 1).astype(np.int64)
