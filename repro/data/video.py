"""Video decoding: :func:`decode` with a choice of backend (decord, default; PyAV).

A reader is opened per call, inside the DataLoader worker that needs it: readers created in the
parent process hang forked workers (docs/facts.md section 9). Every backend returns the same
``(F, H, W, 3)`` uint8 RGB array for the same picked indices, up to colour-conversion rounding
between their FFmpeg builds (bench/decoders.py measures both speed and agreement), and raises
:class:`DecodeError` naming the file for a missing or undecodable video.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from repro.data.backends import av, decord
from repro.data.frames import decode_frames
from repro.errors import DecodeError

BACKENDS = ("decord", "pyav")
# decord stays the default: on generated SSv2-like webm and Kinetics-like mp4 PyAV returns the
# same pixels at about the same speed (bench/results/decoders.json). PyAV also reads the narrow
# frame widths that decord 0.6.0 returns with the wrong shape (16, 24, 48, 72 px; same file).
DEFAULT_BACKEND = "decord"
Pick = Callable[[int], np.ndarray]
_NARROW_BUG = "The size must exactly match"  # decord's error for the widths it cannot copy


def decode(path: Path, pick: Pick | None = None, backend: str = DEFAULT_BACKEND) -> np.ndarray:
    """Decode frames ``(F, H, W, 3)`` uint8 RGB from a video file or a folder of frames.

    ``pick(num_frames)`` chooses the frame indices once the length is known; all frames when None.
    ``backend`` (one of :data:`BACKENDS`) picks the video decoder; frame folders are always read
    with :func:`repro.data.frames.decode_frames`.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; use one of {', '.join(BACKENDS)}")
    p = Path(path)
    if p.is_dir():  # a folder of JPEG frames (Something-Something V1, some file lists)
        return decode_frames(p, pick)
    if not p.is_file():
        raise DecodeError(f"video not found: {p}")
    try:
        return _DECODERS[backend](p, pick)
    except DecodeError:
        raise
    except Exception as e:  # decord's DECORDError, PyAV's FFmpegError...: normalise, name the file
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DecodeError(f"cannot decode {p}: {msg}") from e


def _indices(p: Path, n: int, pick: Pick | None) -> np.ndarray:
    if n == 0:
        raise DecodeError(f"video {p} has no frames")
    return np.arange(n) if pick is None else np.asarray(pick(n))


def _decode_decord(p: Path, pick: Pick | None) -> np.ndarray:
    vr = decord.VideoReader(str(p), num_threads=1)
    idx = _indices(p, len(vr), pick)
    try:
        frames = vr.get_batch([int(i) for i in idx]).asnumpy()
    except Exception as e:
        if _NARROW_BUG not in str(e):
            raise
        frames = None
    if frames is None or frames.ndim != 4 or frames.shape[-1] != 3:
        # decord 0.6.0 mis-copies frames of some narrow widths (16, 24, 48, 72 px;
        # dmlc/decord#336): PyAV reads them, with the same frame count, at the indices drawn.
        return _decode_pyav(p, lambda n: idx)
    return frames


def _decode_pyav(p: Path, pick: Pick | None, threads: int | None = 1) -> np.ndarray:
    """Demux every packet (cheap: the count gives the length, as decord's index does), then
    decode from the start up to the last wanted frame.

    Sequential beats seeking here: videos have one or two key frames (encoders' default GOP), so
    a seek per index re-decodes from the same key frame every time (bench/decoders.py).
    ``threads``: decoding threads; 1 like decord's ``num_threads=1``, None keeps PyAV's default
    (bench/decoders.py compares them).
    """
    with av.open(str(p)) as container:
        stream = container.streams.video[0]
        if threads is not None:
            stream.codec_context.thread_count = threads
        packets = [pk for pk in container.demux(stream) if pk.size]  # size 0: the flush packet
        idx = _indices(p, len(packets), pick)
        want = {int(i) for i in idx}
        last, got, i = max(want), {}, 0
        for pk in [*packets, None]:  # None drains the frames the decoder still holds
            for frame in stream.decode(pk):
                if i in want:
                    got[i] = frame.to_ndarray(format="rgb24")
                i += 1
            if i > last:
                break
    if len(got) < len(want):
        raise DecodeError(f"video {p}: only {i} of {len(packets)} frames decode "
                          f"(frame {max(want - set(got))} asked)")
    return np.stack([got[int(j)] for j in idx])


_DECODERS: dict[str, Callable[[Path, Pick | None], np.ndarray]] = {
    "decord": _decode_decord, "pyav": _decode_pyav}
