"""A map-style clip dataset over video records: decode (decord), TSN-sample, transform.

A video that cannot be decoded is not fatal: the item comes back as ``None``, a warning names
the file once, and :func:`collate_clips` drops it and counts it, so the engine can record the
number of skipped videos in the result's provenance.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from repro.data.sampling import tsn_indices
from repro.data.transforms import ClipTransform
from repro.data.video import DecodeError, decode


@dataclass(frozen=True)
class Clip:
    video: torch.Tensor  # (3, T, H, W)
    label: int
    index: int


class VideoClipDataset(Dataset):
    """Clips of ``segments`` frames from ``records`` (objects with ``path`` and ``label``).

    ``cache_decoded`` keeps every decoded video in memory after its first read; the synthetic
    profile uses it (tiny videos, num_workers=0) so later epochs skip decoding.
    """

    def __init__(self, records: Sequence, segments: int, transform: ClipTransform, train: bool,
                 seed: int = 0, cache_decoded: bool = False) -> None:
        self.records = list(records)
        self.segments, self.transform, self.train = segments, transform, train
        self.seed, self.epoch = seed, 0
        self.cache: dict[int, np.ndarray] | None = {} if cache_decoded else None
        self._warned: set[str] = set()

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _frames(self, i: int, rng: np.random.Generator) -> np.ndarray:
        path = self.records[i].path
        pick = lambda n: tsn_indices(n, self.segments, self.train, rng)  # noqa: E731
        if self.cache is None:
            return decode(path, pick)
        if i not in self.cache:
            self.cache[i] = decode(path)
        frames = self.cache[i]
        return frames[pick(len(frames))]

    def __getitem__(self, i: int) -> Clip | None:
        # Seeded per (seed, epoch, index): the same run draws the same clips in any worker layout.
        rng = np.random.default_rng([self.seed, self.epoch, i])
        try:
            frames = self._frames(i, rng)
        except DecodeError as e:
            key = str(self.records[i].path)
            if key not in self._warned:
                self._warned.add(key)
                warnings.warn(f"skipping unreadable video: {e}", RuntimeWarning, stacklevel=2)
            return None
        video, label = self.transform(frames, int(self.records[i].label), rng)
        return Clip(video, label, i)


def collate_clips(items: list[Clip | None]) -> dict:
    """Stack clips; ``bad`` counts the videos that failed to decode in this batch."""
    good = [c for c in items if c is not None]
    out = {"bad": len(items) - len(good)}
    if good:
        out["video"] = torch.stack([c.video for c in good])
        out["label"] = torch.tensor([c.label for c in good])
        out["index"] = torch.tensor([c.index for c in good])
    return out
