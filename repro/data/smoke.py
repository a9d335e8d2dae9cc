"""Smoke data: a few synthetic videos written in EACH registered dataset's layout, for pipeline checks.

No real dataset is needed to check that a loader, the paper recipe's transforms and a
ResNet-50 run end to end: the synthetic generator's videos (:mod:`repro.data.synthetic`,
``render``; 2 train and 1 val video per class, 24 frames of 64x64, upscaled by the recipe's
transform, not on disk) are written in the real formats under ``<cache>/smoke/<layout>/``.
Each dataset module writes its own (its layout's ``write_smoke``, :mod:`repro.data.layout`);
datasets that share a layout share its smoke copy:

- ``ssv2``: VP9 ``.webm`` + labels/train/validation JSON (:mod:`repro.data.ssv2`);
- ``ssv1``: ``%05d.jpg`` frame folders + ';' CSVs, labels CSV in the synthetic class order, which
  differs from alphabetical order, so the two ``label_order`` settings give different indices
  (:mod:`repro.data.ssv1`);
- ``k400``: ``annotations/{train,val}.csv`` + H.264 ``.mp4`` clips named
  ``<youtube_id>_<start:06d>_<end:06d>.mp4`` under ``train/`` and ``val/`` (:mod:`repro.data.kinetics`);
- ``filelist``: H.264 ``.mp4`` + ``train_list.txt``/``val_list.txt`` (:mod:`repro.data.filelist`),
  standing in for Diving-48 and FineGym.

Labels are the synthetic classes (15), which fit any real dataset's classifier head (174, 400,
48, ...). Generation is deterministic (the synthetic generator's seeding) and cached: a layout is
written on first use (:mod:`repro.data.smoke_copy`, which the registry calls directly; this
module finds layouts by name through the registry).
"""
from __future__ import annotations

from pathlib import Path

# Kept importable from here: the retrieval smoke sets import write_mp4, tests the rest.
from repro.data.encode import write_mp4  # noqa: F401
from repro.data.layout import Layout
from repro.data.smoke_copy import (SEED, SMOKE_VERSION, TRAIN_PER_CLASS, VAL_PER_CLASS,  # noqa: F401
                                   class_names, ensure, flip_swap)
from repro.data import registry


def layouts() -> dict[str, Layout]:
    """Smoke layout name -> the layout that writes it, over every registered dataset."""
    return registry.smoke_layouts()


def layout_for(dataset: str) -> str:
    """The smoke layout that stands in for ``dataset``."""
    return registry.smoke_layout(dataset).smoke


def ensure_layout(layout: str, cache_dir: Path | None = None) -> Path:
    """Root of the smoke data in ``layout`` (``ssv2`` | ``ssv1`` | ``k400`` | ``filelist``, or
    a registered dataset's own), written if absent."""
    writers = layouts()
    if layout not in writers:
        raise ValueError(f"unknown smoke layout {layout!r}; use one of {', '.join(writers)}")
    return ensure(writers[layout], cache_dir)
