"""Writing videos: intra-only VP9 ``.webm`` and H.264 ``.mp4`` from ``(F, H, W, 3)`` uint8 RGB, with PyAV.

The generated data (the synthetic dataset, the smoke copies of every layout, the retrieval
smoke sets) is encoded here, so that the dataset modules writing it need not import each other.
Both keep every frame a key frame and near-lossless: codec quality must not drift with time and
leak a video's direction to a model (:mod:`repro.data.synthetic`).
"""
from __future__ import annotations

from pathlib import Path

import av  # alone: only decord before av breaks PyAV (repro/data/backends.py)
import numpy as np

FPS = 12


def write_webm(path: Path, frames: np.ndarray, fps: int = FPS) -> None:
    """Encode ``(F, H, W, 3)`` uint8 RGB as intra-only VP9 webm with PyAV."""
    with av.open(str(path), mode="w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = 1
        stream.options = {"crf": "10", "b": "0", "deadline": "realtime", "cpu-used": "8",
                          "row-mt": "0", "threads": "1"}
        for arr in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_mp4(path: Path, frames: np.ndarray, fps: int = FPS) -> None:
    """Encode ``(F, H, W, 3)`` uint8 RGB as H.264 ``.mp4`` with PyAV's bundled libx264."""
    with av.open(str(path), mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "10", "preset": "ultrafast", "g": "1", "threads": "1"}
        for arr in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
