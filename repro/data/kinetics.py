"""Kinetics-400: per-split annotation CSVs and trimmed 10 s clips; the ``k400`` dataset's layout.

Supported layout (the one the CVDF mirror's download/extract scripts produce,
github.com/cvdfoundation/kinetics-dataset, which is where K400 can still be downloaded whole)::

    <root>/annotations/train.csv      label,youtube_id,time_start,time_end,split[,is_cc]
    <root>/annotations/val.csv        (validate.csv, the name in DeepMind's 2020 tarball, also works;
                                       the CSVs may also sit directly in <root>)
    <root>/train/<youtube_id>_<start:06d>_<end:06d>.mp4
    <root>/val/<youtube_id>_<start:06d>_<end:06d>.mp4

Clips may also be grouped one folder deep (``train/<class name>/<clip>.mp4``, the layout of
mmaction2's downloader and of several re-encoded copies): the split folder is indexed by file
name up to one level down, so both work. Class index = rank of the class name in sorted order
of the train CSV's labels. Clips listed in a CSV but absent on disk (YouTube takedowns: every K400
copy misses a few percent) are dropped with one warning giving the count; a split with none of
its clips present is an error, since that means a wrong root rather than a few missing videos.

Prepared (``python -m repro.prepare k400``; read with ``data.prepared: true``): every clip's
frames at height 331, as TSM's tools/vid2img_kinetics.py:37 extracts Kinetics
(``scale=-1:331``; the SSv2 extraction of :mod:`repro.data.prepare` at another height)::

    <root>/frames/<split>/<youtube_id>_<start:06d>_<end:06d>/000001.jpg ...
"""
from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from repro.data.encode import write_mp4
from repro.data.layout import Layout, SmokeVideo
from repro.data.prepare import prepare_smoke
from repro.errors import DatasetError

SPLITS = {"train": ("train",), "val": ("val", "validate"), "validation": ("val", "validate")}
VIDEO_DIRS = {"train": "train", "val": "val", "validation": "val"}
FRAMES_DIR = "frames"
PREPARED_HEIGHT = 331  # TSM tools/vid2img_kinetics.py:37
COLUMNS = ("label", "youtube_id", "time_start", "time_end")
HOW_TO_GET = ("Download Kinetics-400 with the CVDF scripts (github.com/cvdfoundation/kinetics-dataset: "
              "k400_downloader.sh, k400_extractor.sh), which give <root>/annotations/{train,val}.csv "
              "and <root>/{train,val}/<youtube_id>_<start>_<end>.mp4, and point the harness at <root> "
              "with --data-root k400=/path, REPRO_K400_ROOT=/path or data_roots: {k400: /path} in "
              "repro.yaml.")


@dataclass(frozen=True)
class ClipRecord:
    path: Path
    label: int
    video_id: str  # clip name without extension: <youtube_id>_<start:06d>_<end:06d>


def clip_name(youtube_id: str, start: float, end: float) -> str:
    """File stem of a trimmed clip, e.g. ``---QUuC4vJs_000084_000094``."""
    return f"{youtube_id}_{int(float(start)):06d}_{int(float(end)):06d}"


def annotation_file(root: Path, split: str) -> Path:
    """The split's CSV: ``annotations/<name>.csv`` or ``<name>.csv`` (name: train, val, validate)."""
    root = Path(root)
    if split not in SPLITS:
        raise DatasetError(f"unknown Kinetics split {split!r}; use train or val")
    candidates = [root / sub / f"{n}.csv" for n in SPLITS[split] for sub in ("annotations", ".")]
    for c in candidates:
        if c.is_file():
            return c
    raise DatasetError(f"Kinetics-400 {split} annotation CSV not found: expected "
                       f"{root / 'annotations' / (SPLITS[split][0] + '.csv')}. {HOW_TO_GET}")


def read_rows(path: Path) -> list[dict[str, str]]:
    """The CSV's rows as dicts, after checking its header names the K400 columns."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path}: header lacks {', '.join(missing)}; expected "
                               "label,youtube_id,time_start,time_end,split[,is_cc]")
        return list(reader)


def read_classes(root: Path) -> list[str]:
    """Sorted class names of the train CSV (the index order of every split)."""
    return sorted({r["label"].strip() for r in read_rows(annotation_file(root, "train"))})


def _index_frames(folder: Path) -> dict[str, Path]:
    """Clip name -> frame folder, for the finished folders of a prepared split."""
    return {e.name: Path(e.path) for e in os.scandir(folder) if e.is_dir() and ".tmp" not in e.name}


def prepare_jobs(root: Path) -> list[tuple[Path, Path, int]]:
    """(clip, frame folder, height) of every train and validation clip on disk."""
    root = Path(root)
    return [(r.path, root / FRAMES_DIR / VIDEO_DIRS[split] / r.video_id, PREPARED_HEIGHT)
            for split in ("train", "val") for r in read_split(root, split)]


def _index_clips(folder: Path) -> dict[str, Path]:
    """File name -> path for every .mp4/.webm/.mkv/.avi in ``folder`` and its direct subfolders."""
    found: dict[str, Path] = {}
    exts = (".mp4", ".webm", ".mkv", ".avi")
    for e in os.scandir(folder):
        if e.is_dir():
            for s in os.scandir(e.path):
                if s.name.endswith(exts):
                    found.setdefault(os.path.splitext(s.name)[0], Path(s.path))
        elif e.name.endswith(exts):
            found.setdefault(os.path.splitext(e.name)[0], Path(e.path))
    return found


def read_split(root: Path, split: str, prepared: bool = False) -> list[ClipRecord]:
    """Clip records of ``split`` (``train`` | ``val``); clips missing on disk are dropped, warned
    once. ``prepared``: each record's path is the clip's frame folder (``python -m repro.prepare``)."""
    root = Path(root)
    csv_path = annotation_file(root, split)
    classes = {n: i for i, n in enumerate(read_classes(root))}
    folder = root / FRAMES_DIR / VIDEO_DIRS[split] if prepared else root / VIDEO_DIRS[split]
    if not folder.is_dir():
        if prepared:
            raise DatasetError(f"data.prepared is true, but the Kinetics-400 root {root} has no {FRAMES_DIR}/"
                               f"{VIDEO_DIRS[split]}/ folder: run python -m repro.prepare k400 --root {root}, "
                               "or drop data.prepared")
        raise DatasetError(f"Kinetics-400 root {root} has no {VIDEO_DIRS[split]}/ folder of clips "
                           f"({csv_path.name} lists them). {HOW_TO_GET}")
    on_disk = _index_frames(folder) if prepared else _index_clips(folder)
    records, missing = [], 0
    for n, r in enumerate(read_rows(csv_path), 2):  # line 1 is the header
        label = r["label"].strip()
        if label not in classes:
            raise DatasetError(f"{csv_path}:{n}: class {label!r} does not occur in the train CSV")
        try:
            stem = clip_name(r["youtube_id"].strip(), r["time_start"], r["time_end"])
        except ValueError as e:
            raise DatasetError(f"{csv_path}:{n}: time_start/time_end are not numbers ({e})") from e
        path = on_disk.get(stem)
        if path is None:
            missing += 1
            continue
        records.append(ClipRecord(path, classes[label], stem))
    if not records:
        raise DatasetError(f"none of the {missing} clips listed in {csv_path} is under {folder} "
                           f"(expected e.g. {folder}/<youtube_id>_000010_000020.mp4). {HOW_TO_GET}")
    if missing:
        warnings.warn(f"Kinetics-400 {split}: {missing} of {missing + len(records)} clips listed in "
                      f"{csv_path} are missing under {folder}; training on the {len(records)} present "
                      "(report the count: missing clips change accuracy)", RuntimeWarning, stacklevel=2)
    return records


def check_root(root: Path) -> None:
    """Raise a :class:`DatasetError` naming the first missing piece of a Kinetics-400 root."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"Kinetics-400 root {root} does not exist. {HOW_TO_GET}")
    for split in ("train", "val"):
        annotation_file(root, split)
        if not (root / VIDEO_DIRS[split]).is_dir():
            raise DatasetError(f"Kinetics-400 root {root} has no {VIDEO_DIRS[split]}/ folder of "
                               f".mp4 clips. {HOW_TO_GET}")


def smoke_label(name: str) -> str:
    """Kinetics-style class text (lower case) of a synthetic class name."""
    return name.lower()


def write_smoke(root: Path, videos: list[SmokeVideo], names: list[str]) -> None:
    """The smoke copy: ``annotations/{train,val}.csv`` and H.264 clips under ``train/``, ``val/``
    named like the real ones (an 11-character id, start and end seconds)."""
    (root / "annotations").mkdir(parents=True)
    rows: dict[str, list] = {"train": [], "val": []}
    for v in videos:
        yt = f"smoke{v.number:06d}"
        start, end = 10 * v.number, 10 * v.number + 2  # 24 frames at 12 fps
        (root / v.split).mkdir(exist_ok=True)
        write_mp4(root / v.split / f"{clip_name(yt, start, end)}.mp4", v.frames)
        rows[v.split].append([smoke_label(names[v.label]), yt, start, end, v.split])
    for split in ("train", "val"):
        with open(root / "annotations" / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
            w.writerows(rows[split])
    prepare_smoke(prepare_jobs(root))  # the prepared form too, so that tests read both


LAYOUT = Layout(
    records=lambda root, split, cfg, info: read_split(root, split, cfg["data"]["prepared"]), prepare_jobs=prepare_jobs,
    check_root=check_root, how_to_get=HOW_TO_GET,
    smoke="k400", write_smoke=write_smoke,
    # Labels are ranks of the sorted class texts, which the smoke copy writes in lower case.
    smoke_index=lambda names, cfg: {n: i for i, n in enumerate(sorted(names, key=smoke_label))})
