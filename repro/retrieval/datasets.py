"""Caption-video pairs of MSR-VTT (JSFusion's 1k-A split) and YouCook2 (segments), in their
official annotation formats. Sources: docs/retrieval-facts.md sections 7 and 8.

MSR-VTT, under its root::

    MSRVTT_data.json             {"videos": [{"video_id": "video0", ...}], "sentences":
                                  [{"video_id": "video0", "caption": "..."}, ...]} (20 per video)
    MSRVTT_train.9k.csv          video_id: the 9,000 training videos of the 1k-A split
    MSRVTT_JSFUSION_test.csv     key,vid_key,video_id,sentence: the 1,000 test pairs
    videos/<video_id>.mp4

HowTo100M's code names its training list MSRVTT_train.csv; its size is only in a zip we could
not read, so the 1k-A convention (train+val minus the 1,000 test videos, 9,000) is what this
reads: ``train_list`` names another file. Training draws one of a video's captions per epoch
(HowTo100M's msrvtt_dataloader.py), so a training item is a video with all its captions.

YouCook2, under its root::

    youcookii_annotations_trainval.json   {"database": {<youtube id>: {"subset": "training" |
                                           "validation", "recipe_type": "101", "duration": s,
                                           "annotations": [{"id": 0, "segment": [s, e],
                                           "sentence": "..."}]}}}
    raw_videos/<subset>/<recipe_type>/<youtube id>.<mp4|mkv|webm>

One clip per annotated segment; the test set is the validation subset (the test subset has no
captions). The folder layout is the official download script's as public readers use it
(UNVERIFIED against the official README, see the facts file).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from repro.errors import DatasetError

RETRIEVAL_DATASETS = ("msrvtt", "youcook2")
NAMES = {"msrvtt": "MSR-VTT", "youcook2": "YouCook2"}

MSRVTT_DATA, MSRVTT_TEST = "MSRVTT_data.json", "MSRVTT_JSFUSION_test.csv"
MSRVTT_TRAIN = "MSRVTT_train.9k.csv"
YOUCOOK_ANNOTATIONS = "youcookii_annotations_trainval.json"
YOUCOOK_SPLITS = {"train": "training", "test": "validation"}
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm")


@dataclass(frozen=True)
class Clip:
    """A video (or a segment of one, in seconds) and its captions: all of them for training
    (one is drawn per epoch), the one paired test caption for testing."""

    video_id: str
    path: Path
    captions: tuple[str, ...]
    start: float | None = None
    end: float | None = None


def _need(root: Path, name: str, what: str) -> Path:
    p = root / name
    if not p.is_file():
        raise DatasetError(f"{what} root {root} lacks {name}; see docs/retrieval-facts.md for the "
                           "files and where they come from")
    return p


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DatasetError(f"cannot read {path}: {e}") from e


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in columns if rows and c not in rows[0]]
    if not rows or missing:
        raise DatasetError(f"{path}: expected a CSV with columns {', '.join(columns)}"
                           + (f" (missing {', '.join(missing)})" if missing else " and at least one row"))
    return rows


def msrvtt_clips(root: Path, split: str, train_list: str = MSRVTT_TRAIN) -> list[Clip]:
    """``train``: every listed video with its captions; ``test``: JSFusion's 1,000 pairs."""
    root = Path(root)
    if split == "test":
        rows = _read_csv(_need(root, MSRVTT_TEST, "MSR-VTT"), ("video_id", "sentence"))
        return [Clip(r["video_id"], root / "videos" / f"{r['video_id']}.mp4", (r["sentence"],)) for r in rows]
    if split != "train":
        raise ValueError(f"MSR-VTT split {split!r}: use train or test")
    data = _read_json(_need(root, MSRVTT_DATA, "MSR-VTT"))
    captions: dict[str, list[str]] = {}
    for s in data.get("sentences", []):
        captions.setdefault(s["video_id"], []).append(s["caption"])
    ids = [r["video_id"] for r in _read_csv(_need(root, train_list, "MSR-VTT"), ("video_id",))]
    test = {r["video_id"] for r in _read_csv(root / MSRVTT_TEST, ("video_id",))} \
        if (root / MSRVTT_TEST).is_file() else set()
    leaked = sorted(set(ids) & test)
    if leaked:
        raise DatasetError(f"{root / train_list} lists {len(leaked)} test videos of {MSRVTT_TEST} "
                           f"(e.g. {leaked[0]}); use the 1k-A training list")
    missing = [v for v in ids if v not in captions]
    if missing:
        raise DatasetError(f"{root / MSRVTT_DATA} has no caption for {len(missing)} training videos "
                           f"(e.g. {missing[0]})")
    return [Clip(v, root / "videos" / f"{v}.mp4", tuple(captions[v])) for v in ids]


def _youcook_video(root: Path, subset: str, recipe: str, vid: str) -> Path:
    folder = root / "raw_videos" / subset / recipe
    for suffix in VIDEO_SUFFIXES:
        if (folder / f"{vid}{suffix}").is_file():
            return folder / f"{vid}{suffix}"
    return folder / f"{vid}.mp4"  # missing: the run counts it as an unreadable video


def youcook_clips(root: Path, split: str) -> list[Clip]:
    """One clip per annotated segment of the ``train`` (training) or ``test`` (validation) subset."""
    if split not in YOUCOOK_SPLITS:
        raise ValueError(f"YouCook2 split {split!r}: use train or test")
    root = Path(root)
    db = _read_json(_need(root, YOUCOOK_ANNOTATIONS, "YouCook2")).get("database")
    if not isinstance(db, dict):
        raise DatasetError(f"{root / YOUCOOK_ANNOTATIONS} has no 'database' object")
    subset, out = YOUCOOK_SPLITS[split], []
    for vid in sorted(db):
        v = db[vid]
        if v.get("subset") != subset:
            continue
        path = _youcook_video(root, subset, str(v.get("recipe_type", "")), vid)
        for a in sorted(v.get("annotations", []), key=lambda a: a["id"]):
            start, end = (float(t) for t in a["segment"])
            out.append(Clip(f"{vid}_{a['id']}", path, (a["sentence"],), start, end))
    return out
