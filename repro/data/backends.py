"""The two video decoders' libraries, imported in the one order where both work.

PyAV first: both wheels bundle FFmpeg, and once decord's copy is loaded PyAV can no longer open
its libvpx encoder (avcodec_open2 returns EINVAL), which breaks dataset generation later in the
same process. Every module that needs either imports it from here.
"""
from __future__ import annotations

import av  # noqa: I001  (the order is the point of this module)
import decord

__all__ = ["av", "decord"]
