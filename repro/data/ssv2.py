"""Something-Something V2: the labels JSON and the train/validation JSON lists; the ``ssv2`` layout.

Layout (as distributed by the dataset's authors, and as the synthetic generator writes it)::

    <root>/20bn-something-something-v2/<id>.webm
    <root>/labels/something-something-v2-labels.json       {"<template text>": "<index>"}
    <root>/labels/something-something-v2-train.json        [{"id", "label", "template", "placeholders"}]
    <root>/labels/something-something-v2-validation.json

Prepared (``python -m repro.prepare ssv2``; read with ``data.prepared: true``): every video's
frames at height 256, as TSM's tools/vid2img_sthv2.py extracts them (:mod:`repro.data.prepare`)::

    <root>/20bn-something-something-v2-frames/<id>/000001.jpg ...
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from repro.data.encode import write_webm
from repro.data.layout import Layout, SmokeVideo
from repro.data.prepare import HEIGHT, prepare_smoke
from repro.errors import DatasetError

VIDEO_DIR = "20bn-something-something-v2"
FRAMES_DIR = "20bn-something-something-v2-frames"  # TSM's FRAME_ROOT (tools/vid2img_sthv2.py:10)
LABELS_FILE = "labels/something-something-v2-labels.json"
SPLIT_FILES = {"train": "labels/something-something-v2-train.json",
               "validation": "labels/something-something-v2-validation.json"}
SPLIT_ALIASES = {"train": "train", "val": "validation", "validation": "validation"}
HOW_TO_GET = ("Download Something-Something V2 from Qualcomm's developer site "
              "(20bn-something-something-v2-*.zip and labels.zip), unpack them under one folder, "
              "and point the harness at it with --data-root ssv2=/path or REPRO_SSV2_ROOT=/path.")
# Left/right label swaps for flip augmentation (docs/facts.md section 8).
FLIP_SWAP = {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}


@dataclass(frozen=True)
class VideoRecord:
    path: Path
    label: int
    video_id: str


def _read_json(path: Path, what: str):
    if not path.is_file():
        raise DatasetError(f"SSv2 {what} not found: expected {path}. {HOW_TO_GET}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"SSv2 {what} {path} is not valid JSON ({e}); re-extract labels.zip.") from e


def read_labels(root: Path) -> dict[str, int]:
    """Template text (brackets stripped) -> class index."""
    path = Path(root) / LABELS_FILE
    raw = _read_json(path, "labels file")
    try:
        labels = {str(k): int(v) for k, v in raw.items()}
    except (AttributeError, ValueError) as e:
        raise DatasetError(f"{path}: expected an object mapping template text "
                           f"to an index string, e.g. {{\"Moving something up\": \"0\"}}") from e
    owner: dict[int, str] = {}
    for name, i in labels.items():  # the indices must be 0..N-1, once each: they are the classifier's outputs
        if i in owner:
            raise DatasetError(f"{path}: class index {i} is given to both {owner[i]!r} and {name!r}; "
                               "each template needs its own index: re-extract labels.zip")
        if not 0 <= i < len(labels):
            raise DatasetError(f"{path}: class index {i} of {name!r} is outside 0..{len(labels) - 1} "
                               f"(the file lists {len(labels)} templates); re-extract labels.zip")
        owner[i] = name
    return labels


def read_split(root: Path, split: str, prepared: bool = False) -> list[VideoRecord]:
    """Video records of ``split`` (``train`` | ``val``), labels resolved through the labels file;
    ``prepared``: each record's path is its frame folder instead of its webm."""
    root = Path(root)
    if split not in SPLIT_ALIASES:
        raise DatasetError(f"unknown SSv2 split {split!r}; use train or val")
    if prepared and not (root / FRAMES_DIR).is_dir():
        raise DatasetError(f"data.prepared is true, but the SSv2 root {root} has no {FRAMES_DIR}/ folder: "
                           f"run python -m repro.prepare ssv2 --root {root}, or drop data.prepared")
    labels = read_labels(root)
    path = root / SPLIT_FILES[SPLIT_ALIASES[split]]
    entries = _read_json(path, f"{split} annotation file")
    if not isinstance(entries, list):
        raise DatasetError(f"{path}: expected a JSON list of {{id, template, ...}} objects")
    records = []
    for i, e in enumerate(entries):
        try:
            vid, template = str(e["id"]), e["template"]
        except (KeyError, TypeError) as err:
            raise DatasetError(f"{path}: entry {i} lacks 'id' or 'template' ({e!r:.80})") from err
        key = template.replace("[", "").replace("]", "")
        if key not in labels:
            raise DatasetError(f"{path}: entry {i} (id {vid}) has template {key!r}, "
                               f"which is not in {root / LABELS_FILE}")
        video = root / FRAMES_DIR / vid if prepared else root / VIDEO_DIR / f"{vid}.webm"
        records.append(VideoRecord(video, labels[key], vid))
    return records


def prepare_jobs(root: Path) -> list[tuple[Path, Path, int]]:
    """(webm, frame folder, height) of every train and validation video, for ``python -m repro.prepare``."""
    root = Path(root)
    return [(r.path, root / FRAMES_DIR / r.video_id, HEIGHT) for split in ("train", "val")
            for r in read_split(root, split)]


def check_root(root: Path) -> None:
    """Raise a :class:`DatasetError` naming the first missing piece of an SSv2 root."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"SSv2 root {root} does not exist. {HOW_TO_GET}")
    if not (root / VIDEO_DIR).is_dir() and not (root / FRAMES_DIR).is_dir():
        raise DatasetError(f"SSv2 root {root} has no {VIDEO_DIR}/ folder of .webm videos. {HOW_TO_GET}")
    for rel in (LABELS_FILE, *SPLIT_FILES.values()):
        if not (root / rel).is_file():
            raise DatasetError(f"SSv2 root {root} lacks {rel}. {HOW_TO_GET}")


def write_smoke(root: Path, videos: list[SmokeVideo], names: list[str]) -> None:
    """The smoke copy: VP9 ``.webm`` videos, labels JSON in the given class order, split JSONs."""
    (root / VIDEO_DIR).mkdir(parents=True)
    (root / "labels").mkdir()
    (root / LABELS_FILE).write_text(json.dumps({n: str(i) for i, n in enumerate(names)}, indent=1))
    entries: dict[str, list] = {"train": [], "val": []}
    for v in videos:
        write_webm(root / VIDEO_DIR / f"{v.number}.webm", v.frames)
        entries[v.split].append({"id": str(v.number), "label": v.text, "template": v.template,
                                 "placeholders": [v.thing]})
    (root / SPLIT_FILES["train"]).write_text(json.dumps(entries["train"], indent=0))
    (root / SPLIT_FILES["validation"]).write_text(json.dumps(entries["val"], indent=0))
    prepare_smoke(prepare_jobs(root))  # the prepared form too, so that CI reads both


def _records(root: Path, split: str, cfg: dict) -> list[VideoRecord]:
    prepared = cfg["data"]["prepared"]
    if not prepared and not (Path(root) / VIDEO_DIR).is_dir():  # only the prepared form is there
        raise DatasetError(f"SSv2 root {root} has {FRAMES_DIR}/ but no {VIDEO_DIR}/ of .webm videos: "
                           "add --set data.prepared=true to read the frames")
    return read_split(root, split, prepared)


LAYOUT = Layout(
    records=lambda root, split, cfg, info: _records(root, split, cfg), prepare_jobs=prepare_jobs,
    check_root=check_root, how_to_get=HOW_TO_GET,
    flip_swap=lambda root, cfg: dict(FLIP_SWAP),
    smoke="ssv2", write_smoke=write_smoke)
