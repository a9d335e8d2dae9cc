"""Prepared inputs: a dataset's videos as the JPEG frame folders its reference pipeline trains from.

TSM trains Something-Something V2 from frames extracted by ``tools/vid2img_sthv2.py:23``::

    ffmpeg -i VIDEO -threads 1 -vf scale=-1:256 -q:v 0 FRAMES/<id>/%06d.jpg

:func:`extract_frames` runs the same FFmpeg steps through PyAV's bundled libraries: every frame
decoded, scaled by the ``scale`` filter to height 256 with the width keeping the aspect ratio
(swscale's default, bicubic), converted to full-range YUV 4:2:0 and written by FFmpeg's mjpeg
encoder at quantiser 2. ``-q:v 0`` asks for quantiser 0, which the encoder clips to its minimum,
2: ``-q:v 0`` and ``-q:v 2`` write identical files. The decoded pixels equal those of the
ffmpeg command (bench/prepared_frames.py compares them where an ffmpeg binary is at hand).

A folder is written under a temporary name and renamed when complete, so a killed preparation
leaves no folder that looks finished; the next one removes the leftovers and resumes with the
videos that have no folder yet.
"""
from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from repro.errors import DatasetError, DecodeError, DiskFull
from repro.files import free_bytes

HEIGHT = 256  # tools/vid2img_sthv2.py:23, scale=-1:256
QSCALE = 2  # -q:v 0, clipped to the mjpeg encoder's qmin
FRAME_NAME = "{:06d}.jpg"  # %06d.jpg, from 1
_LAMBDA_PER_Q = 118  # FF_QP2LAMBDA: how ffmpeg turns -q:v into the encoder's global_quality


@dataclass
class Prepared:
    """One video's outcome: ``frames`` written (0 when it failed), ``error`` when it failed,
    ``skipped`` when its folder was already complete."""

    video: str
    frames: int = 0
    bytes: int = 0
    error: str = ""
    skipped: bool = False


def extract_frames(video: Path, folder: Path, height: int = HEIGHT) -> Prepared:
    """``video``'s frames as ``folder/000001.jpg ...``, or its folder left alone if it exists.

    Never raises for a bad video: the failure is in the returned :class:`Prepared`, and no
    folder (final or temporary) is left for it.
    """
    video, folder = Path(video), Path(folder)
    if folder.is_dir():
        return Prepared(video.name, skipped=True)
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        n, size = _write_frames(video, tmp, height)
        os.replace(tmp, folder)
        return Prepared(video.name, n, size)
    except (DecodeError, OSError, ValueError) as e:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:  # a full disk stops everything
            raise DiskFull(folder.parent, None, free_bytes(folder.parent)) from None
        return Prepared(video.name, error=str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_frames(video: Path, out: Path, height: int) -> tuple[int, int]:
    import av

    n = size = 0
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"  # -threads 1; the parallelism is one video per process
            graph, encoder = _scaler(stream, height), None
            for frame in container.decode(stream):
                graph.push(frame)
                for scaled in _pull(graph):
                    if encoder is None:
                        encoder = _jpeg_encoder(scaled)
                    n += 1
                    scaled.pts, scaled.time_base = n, encoder.time_base
                    data = b"".join(bytes(p) for p in encoder.encode(scaled))
                    (out / FRAME_NAME.format(n)).write_bytes(data)
                    size += len(data)
    except av.error.FFmpegError as e:
        raise DecodeError(f"{video}: {e}") from e
    except IndexError:
        raise DecodeError(f"{video}: no video stream") from None
    if n == 0:
        raise DecodeError(f"{video}: no frame could be decoded")
    return n, size


def _scaler(stream, height: int):
    """The ``scale=-1:HEIGHT`` filter (then full-range 4:2:0, what mjpeg takes) for ``stream``."""
    import av

    graph = av.filter.Graph()
    src, scale = graph.add_buffer(template=stream), graph.add("scale", f"-1:{height}")
    fmt, sink = graph.add("format", "yuvj420p"), graph.add("buffersink")
    src.link_to(scale)
    scale.link_to(fmt)
    fmt.link_to(sink)
    graph.configure()
    return graph


def _pull(graph):
    import av

    while True:
        try:
            yield graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return


def _jpeg_encoder(frame):
    """FFmpeg's mjpeg encoder at a fixed quantiser, as ``-q:v`` sets it."""
    import av

    enc = av.CodecContext.create("mjpeg", "w")
    enc.width, enc.height, enc.pix_fmt = frame.width, frame.height, frame.format.name
    enc.time_base = Fraction(1, 25)
    enc.options = {"flags": "+qscale", "global_quality": str(QSCALE * _LAMBDA_PER_Q)}
    enc.open()
    return enc


def prepare_smoke(jobs: list[tuple[Path, Path, int]]) -> None:
    """Every job of a smoke copy (generated videos, which all decode) prepared, in this process."""
    for video, folder, height in jobs:
        done = extract_frames(video, folder, height)
        if done.error:
            raise DatasetError(f"smoke copy: {video} did not prepare: {done.error}")


def remove_leftovers(frames_root: Path) -> int:
    """Delete the temporary folders a killed preparation left; how many there were."""
    gone = 0
    for p in Path(frames_root).glob("*.tmp*") if Path(frames_root).is_dir() else ():
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            gone += 1
    return gone
