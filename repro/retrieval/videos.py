"""The videos and captions a retrieval row trains and tests on, and the clips its features see.

- ``synthetic``: the classifier's own generated dataset; training videos and captions from its
  training split, test from its validation split, with templated captions
  (:mod:`repro.retrieval.captions`).
- ``msrvtt`` / ``youcook2``: the official layouts (:mod:`repro.retrieval.datasets`), at the
  configured root, or under the smoke profile tiny generated copies in the same layouts.

A clip's feature input is one view of the classifier's test protocol: its frame count and
sampling over the whole video (MSR-VTT) or the annotated segment (YouCook2), resized to its
``eval.resize`` and centre-cropped to ``eval.crop_size``. SSAN states none of this for its
features (docs/retrieval-facts.md section 4); the choice is recorded in every result.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repro.data.dataset import VideoClipDataset
from repro.data.registry import dataset_root
from repro.data.synthetic import default_cache_dir
from repro.data.transforms import ClipTransform
from repro.errors import DatasetError
from repro.retrieval import datasets as D, smoke
from repro.retrieval.captions import captions_for
from repro.retrieval.text import tokenize

SMOKE_WORD2VEC = "smoke-word2vec.bin"  # written with the smoke layouts: the paper path, tiny


@dataclass
class Split:
    """One side of a retrieval dataset: clips for features, and captions per clip."""

    ids: list[str]
    captions: list[tuple[str, ...]]  # training: all of a clip's; test: its one query caption
    clips: VideoClipDataset
    entries: list[dict] | None = None  # synthetic only: split-file entries, for the caption kinds


@dataclass
class RetrievalData:
    name: str
    root: Path
    train: Split
    test: Split


class SegmentClips(VideoClipDataset):
    """Evaluation clips drawn from ``[start, end]`` of each record's video (seconds, with the
    video's ``duration``), or from the whole video where a record has no segment."""

    _current = 0  # the record being decoded: _pick only sees the video's frame count

    def _pick(self, n: int, rng: np.random.Generator) -> np.ndarray:
        rec = self.records[self._current]
        if rec.start is None or not rec.duration:
            return super()._pick(n, rng)
        a = min(n - 1, max(0, int(np.floor(rec.start / rec.duration * n))))
        b = min(n, max(a + 1, int(np.ceil(rec.end / rec.duration * n))))
        return a + super()._pick(b - a, rng)

    def _frames(self, i: int, rng: np.random.Generator) -> np.ndarray:
        self._current = i
        return super()._frames(i, rng)


@dataclass(frozen=True)
class _Record:
    path: Path
    label: int
    video_id: str
    start: float | None = None
    end: float | None = None
    duration: float | None = None


def _eval_transform(clf: dict) -> ClipTransform:
    ev = clf["eval"]
    return ClipTransform(ev["resize"], ev["crop_size"], False)


def _clips(clf: dict, records: list) -> SegmentClips:
    d = clf["data"]
    return SegmentClips(records, clf["model"]["frames"], _eval_transform(clf), False, clf["train"]["seed"],
                        False, sampling=d["sampling"], rate=d["sampling_rate"])


def retrieval_root(name: str, data_roots: dict, smoke: bool, cache_dir: Path | None) -> Path:
    """The dataset's root: configured (``--data-root``, ``REPRO_<NAME>_ROOT``, repro.yaml), or
    under the smoke profile its generated copy in ``<cache>/smoke/<name>``."""
    if smoke:
        return ensure_smoke(name, cache_dir)
    root = dataset_root(name, data_roots)
    if root is None:
        raise DatasetError(f"{D.NAMES[name]} is not configured: give --data-root {name}=PATH or set "
                           f"REPRO_{name.upper()}_ROOT=PATH (files: docs/retrieval-facts.md). Without "
                           "it, use --profile synthetic (the caption probe) or --profile smoke.")
    if not Path(root).is_dir():
        raise DatasetError(f"{D.NAMES[name]} root {root} is not a folder")
    return Path(root)


def ensure_smoke(name: str, cache_dir: Path | None) -> Path:
    """The tiny generated copy of ``name`` in its official layout, with a word2vec file of its
    caption words; written once, into a temporary folder renamed when complete."""

    root = (Path(cache_dir) if cache_dir else default_cache_dir()) / "smoke" / name
    if (root / SMOKE_WORD2VEC).is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{name}."))
    try:
        (smoke.write_msrvtt if name == "msrvtt" else smoke.write_youcook)(tmp)
        words = sorted({w for caps in load(name, tmp, None, captions_only=True) for c in caps for w in tokenize(c)})
        smoke.write_word2vec(tmp / SMOKE_WORD2VEC, words, dim=16)
        shutil.rmtree(root, ignore_errors=True)
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def load(name: str, root: Path, clf: dict | None, captions_only: bool = False):
    """Train and test :class:`Split` of a real-layout dataset (``captions_only``: the captions of
    both splits only, for the smoke word list)."""
    read = D.msrvtt_clips if name == "msrvtt" else D.youcook_clips
    train, test = read(root, "train"), read(root, "test")
    if captions_only:
        return [c.captions for c in train + test]
    durations = _durations(root) if name == "youcook2" else {}

    def split(clips: list[D.Clip]) -> Split:
        recs = [_Record(c.path, 0, c.video_id, c.start, c.end,
                        durations.get(c.video_id.rsplit("_", 1)[0]) if c.start is not None else None)
                for c in clips]
        return Split([c.video_id for c in clips], [c.captions for c in clips], _clips(clf, recs))
    return split(train), split(test)


def _durations(root: Path) -> dict[str, float]:
    db = json.loads((root / D.YOUCOOK_ANNOTATIONS).read_text())["database"]
    return {vid: float(v["duration"]) for vid, v in db.items() if v.get("duration")}


def synthetic_splits(clf: dict, root: Path, train_ds: VideoClipDataset, val_ds: VideoClipDataset,
                     seed: int) -> tuple[Split, Split]:
    """The classifier's generated training and validation videos, one test view each, with their
    templated captions (training: all of a video's; test: one query per caption)."""
    entries = {}
    for name in ("train", "validation"):
        for e in json.loads((root / "labels" / f"something-something-v2-{name}.json").read_text()):
            entries[str(e["id"])] = e

    def side(ds: VideoClipDataset) -> Split:
        view = copy.copy(ds)
        view.train, view.clips = False, 1  # a copy: the decoded-video cache stays shared
        view.transform = _eval_transform(clf)
        es = [entries[r.video_id] for r in ds.records]
        caps = [tuple(c.text for c in captions_for(e, seed)) for e in es]
        return Split([r.video_id for r in ds.records], caps, view, es)
    return side(train_ds), side(val_ds)
