"""A map-style clip dataset over video records: decode (decord), TSN-sample, transform.

A video that cannot be decoded is not fatal: the item comes back as a :class:`BadVideo` marker
(file and reason), a warning names the file once, and :func:`collate_clips` drops it, counts it
and passes its name on, so the engine can record the skipped videos in the result's provenance
and stop the run when more than ``data.max_bad_fraction`` of them fail.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from repro.data.jpeg_batch import JpegClip, read_picked
from repro.data.sampling import dense_indices, tsn_indices
from repro.data.transforms import ClipTransform, stack_clips
from repro.data.video import decode
from repro.errors import DecodeError


@dataclass(frozen=True)
class Clip:
    video: torch.Tensor  # (3, T, H, W); (V, 3, T, H, W) for V > 1 evaluation views
    label: int
    index: int


@dataclass(frozen=True)
class BadVideo:
    """A video that could not be read. It is returned instead of ``None`` so that the name
    survives DataLoader worker processes (a worker's own state never reaches the engine)."""
    path: str
    reason: str
    index: int


_EBML, _SEGMENT = 0x1A45DFA3, 0x18538067
_MATROSKA_SUFFIXES = {".webm", ".mkv"}


def _vint(buf: bytes, pos: int, keep_marker: bool) -> tuple[int, int, bool]:
    """EBML variable-size integer at ``pos``: (value, next position, all value bits set)."""
    first = buf[pos]
    n = 8 - first.bit_length() + 1  # leading zeros + 1 = length in bytes
    if first == 0 or pos + n > len(buf):
        raise ValueError("bad EBML integer")
    value = first if keep_marker else first & (0xFF >> n)
    for b in buf[pos + 1:pos + n]:
        value = value << 8 | b
    return value, pos + n, value == (1 << (7 * n)) - 1


def truncation(path) -> str | None:
    """Why a WebM/Matroska file is cut short (its Segment declares more bytes than the file
    holds), else None.

    decord decodes a truncated WebM without an error, returning only the frames that survived
    (half a file gives half the frames), so a download cut short would silently train on part
    of the action. Files of unknown segment size (live streams) and other formats pass.
    """
    p = Path(path)
    if p.suffix.lower() not in _MATROSKA_SUFFIXES or not p.is_file():
        return None
    with open(p, "rb") as f:
        head = f.read(1024)
    try:
        ident, pos, _ = _vint(head, 0, True)
        if ident != _EBML:
            return "it does not start with an EBML header"
        size, pos, _ = _vint(head, pos, False)
        ident, pos, _ = _vint(head, pos + size, True)
        if ident != _SEGMENT:
            return None  # unusual layout: leave the verdict to the decoder
        size, pos, unknown = _vint(head, pos, False)
    except (ValueError, IndexError):
        return "its header is cut short or malformed"
    have = p.stat().st_size
    if not unknown and pos + size > have:
        return f"truncated: {have} of {pos + size} bytes"
    return None


class VideoClipDataset(Dataset):
    """Clips of ``segments`` frames from ``records`` (objects with ``path`` and ``label``).

    ``cache_decoded`` keeps every decoded video in memory after its first read; the synthetic
    profile uses it (tiny videos, num_workers=0) so later epochs skip decoding.

    ``sampling``: ``tsn`` (one frame per segment) or ``dense`` (``segments`` frames ``rate``
    apart, PySlowFast). ``clips`` (evaluation only): K clips per video, placed by ``layout`` for
    TSN (:func:`repro.data.sampling.tsn_indices`) and evenly for dense clips; with the
    transform's ``crops`` this gives ``clips x crops`` views per video, returned as one ``(V, 3, T, H, W)`` item so that a video stays one index (sharding
    under torchrun and the one-score-row-per-video contract are unchanged).

    ``source``: the registry id of the dataset the records come from (:mod:`repro.data.registry`),
    if known.
    """

    def __init__(self, records: Sequence, segments: int, transform: ClipTransform, train: bool,
                 seed: int = 0, cache_decoded: bool = False, clips: int = 1, sampling: str = "tsn",
                 rate: int = 1, layout: str = "spread", source: str | None = None, jpeg: bool = False) -> None:
        if clips < 1 or (train and clips != 1):
            raise ValueError(f"clips={clips}: training takes 1 clip, evaluation 1 or more")
        self.sampling, self.rate, self.layout, self.source = sampling, rate, layout, source
        self.jpeg = jpeg  # the GPU decode path: items are JpegClip, decoded by the engine on its device
        self.records = list(records)
        self.segments, self.transform, self.train, self.clips = segments, transform, train, clips
        self.seed, self.epoch = seed, 0
        self.cache: dict[int, np.ndarray] | None = {} if cache_decoded else None
        self._warned: set[str] = set()

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def views(self) -> tuple[int, int]:
        """(clips, crops) per video, as the provenance reports them."""
        return self.clips, getattr(self.transform, "crops", 1)

    def _pick(self, n: int, rng: np.random.Generator) -> np.ndarray:
        # All clips' indices in one array, decoded in one pass; __getitem__ splits them again.
        if self.sampling == "dense":
            return np.concatenate([dense_indices(n, self.segments, self.rate, self.train, rng, k,
                                                 self.clips) for k in range(self.clips)])
        if self.clips == 1:
            return tsn_indices(n, self.segments, self.train, rng)
        return np.concatenate([tsn_indices(n, self.segments, False, clip=k, clips=self.clips,
                                           layout=self.layout) for k in range(self.clips)])

    def _frames(self, i: int, rng: np.random.Generator) -> np.ndarray:
        path = self.records[i].path
        pick = lambda n: self._pick(n, rng)  # noqa: E731
        if self.cache is None or i not in self.cache:
            why = truncation(path)
            if why:
                raise DecodeError(f"video {path} is unusable, {why}; re-download or re-encode it")
        if self.cache is None:
            return decode(path, pick)
        if i not in self.cache:
            self.cache[i] = decode(path)
        frames = self.cache[i]
        return frames[pick(len(frames))]

    def _bad(self, i: int, e: DecodeError) -> BadVideo:
        key = str(self.records[i].path)
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"skipping unreadable video: {e}", RuntimeWarning, stacklevel=3)
        return BadVideo(key, str(e), i)

    def _jpeg_item(self, i: int, rng: np.random.Generator) -> JpegClip | BadVideo:
        """The GPU decode path's item: the picked frames' JPEG bytes and the planned crops,
        drawn in the order the CPU path draws them (:mod:`repro.data.jpeg_batch`)."""
        try:
            data, (h, w) = read_picked(self.records[i].path, lambda n: self._pick(n, rng))
        except DecodeError as e:
            return self._bad(i, e)
        label = int(self.records[i].label)
        plans = []
        for _ in range(self.clips):
            cuts, flips, drawn = self.transform.plan(h, w, label, rng)
            plans.append((cuts, flips))
        return JpegClip(data, plans, self.transform.crop, drawn if self.clips == 1 else label, i)

    def __getitem__(self, i: int) -> Clip | JpegClip | BadVideo:
        # Seeded per (seed, epoch, index): the same run draws the same clips in any worker layout.
        rng = np.random.default_rng([self.seed, self.epoch, i])
        if self.jpeg:
            return self._jpeg_item(i, rng)
        try:
            frames = self._frames(i, rng)
        except DecodeError as e:
            return self._bad(i, e)
        label = int(self.records[i].label)
        if self.clips == 1:
            video, label = self.transform(frames, label, rng)
            return Clip(video, label, i)
        views = []
        for part in np.split(frames, self.clips):
            v, _ = self.transform(part, label, rng)
            views.append(v if v.dim() == 5 else v[None])  # (crops, 3, T, h, w)
        # clip-major: view = clip * crops + crop
        return Clip(stack_clips([u for v in views for u in v]), label, i)


def with_eval_views(ds: VideoClipDataset, clips: int = 1, crops: int = 1,
                    resize: int | list[int] | None = None, crop: int | None = None,
                    layout: str | None = None, single_crop: str | None = None) -> VideoClipDataset:
    """A copy of evaluation dataset ``ds`` that serves ``clips x crops`` views per video, after
    resizing to ``resize`` (short side, or ``[H, W]``) and cropping ``crop``, with the clips
    placed by ``layout`` and a single crop taken at ``single_crop`` (defaults: ``ds``'s own).

    A shallow copy: the decoded-video cache is shared, and ``ds`` itself is left as it was, so one
    prepared dataset can serve rows with different test protocols.
    """
    if ds.train:
        raise ValueError("evaluation views apply to the validation dataset, not the training one")
    t = ds.transform
    resize, crop, layout = resize or t.resize, crop or t.crop, layout or ds.layout
    single = single_crop or t.single_crop
    if (clips, crops, resize, crop, layout, single) == (ds.clips, t.crops, t.resize, t.crop, ds.layout,
                                                        t.single_crop):
        return ds
    out = copy.copy(ds)
    out.clips, out.layout = clips, layout
    out.transform = ClipTransform(resize, crop, False, crops=crops, single_crop=single)
    return out


def collate_clips(items: list[Clip | BadVideo | None]) -> dict:
    """Stack clips; ``bad`` counts the videos that failed to decode in this batch and
    ``bad_videos`` holds their ``"path: reason"`` (``None`` items, from older datasets, count
    as bad without a name)."""
    good = [c for c in items if isinstance(c, (Clip, JpegClip))]
    out: dict = {"bad": len(items) - len(good),
                 "bad_videos": [c.reason if c.path in c.reason else f"{c.path}: {c.reason}"
                                for c in items if isinstance(c, BadVideo)]}
    if good:
        if isinstance(good[0], JpegClip):  # decoded on the device (repro.data.jpeg_batch.on_device)
            out["jpeg"] = good
        else:
            out["video"] = stack_clips([c.video for c in good])  # uint8: normalize() on the device
        out["label"] = torch.tensor([c.label for c in good])
        out["index"] = torch.tensor([c.index for c in good])
    return out
