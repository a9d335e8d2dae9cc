"""Smoke data: a few synthetic videos written in EACH real dataset layout, for pipeline checks.

No real dataset is needed to check that a loader, the paper recipe's transforms and a
ResNet-50 run end to end: the synthetic generator's videos (:mod:`repro.data.synthetic`,
``render``; 2 train and 1 val video per class, 24 frames of 64x64, upscaled by the recipe's
transform, not on disk) are written in the real formats under ``<cache>/smoke/<layout>/``:

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
written on first use, into a temporary folder renamed into place when complete.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np

LAYOUTS = ("ssv2", "ssv1", "k400", "filelist")
# Which layout serves each dataset id under the smoke profile.
DATASET_LAYOUT = {"ssv2": "ssv2", "ssv1": "ssv1", "k400": "k400",
                  "diving48": "filelist", "gym99": "filelist", "gym288": "filelist"}
SMOKE_VERSION = "1"
TRAIN_PER_CLASS, VAL_PER_CLASS, SEED = 2, 1, 0


def layout_for(dataset: str) -> str:
    """The smoke layout that stands in for ``dataset``."""
    from repro.errors import DatasetError

    if dataset not in DATASET_LAYOUT:
        raise DatasetError(f"the smoke profile has no layout for dataset {dataset!r} "
                           f"(it serves {', '.join(DATASET_LAYOUT)})")
    return DATASET_LAYOUT[dataset]


def class_names() -> list[str]:
    """Synthetic class names (brackets stripped) in generator order: the 'file order'."""
    from repro.data.synthetic import CLASSES, label_text

    return [label_text(c.template) for c in CLASSES]


def _videos() -> list[tuple[str, int, int, np.ndarray, str]]:
    """``(split, video number, class index, frames, placeholder)``, as the synthetic generator draws them."""
    from repro.data.synthetic import CLASSES, Difficulty, render

    index = {c.template: i for i, c in enumerate(CLASSES)}
    out, vid = [], 0
    for split_idx, (split, per_class) in enumerate((("train", TRAIN_PER_CLASS), ("val", VAL_PER_CLASS))):
        for ci, cls in enumerate(CLASSES):
            for j in range(per_class):
                vid += 1
                # Same rule as synthetic._generate: val partners are exact reverses of base videos.
                draw = index[cls.partner_of] if cls.partner_of and split == "val" else ci
                frames, thing = render(cls, np.random.default_rng([SEED, split_idx, draw, j]), Difficulty())
                out.append((split, vid, ci, frames, thing))
    return out


def write_mp4(path: Path, frames: np.ndarray, fps: int = 12) -> None:
    """Encode ``(F, H, W, 3)`` uint8 RGB as H.264 ``.mp4`` with PyAV's bundled libx264."""
    import av

    with av.open(str(path), mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        # Every frame a key frame and near-lossless, as for the webm videos (synthetic.write_webm).
        stream.options = {"crf": "10", "preset": "ultrafast", "g": "1", "threads": "1"}
        for arr in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _write_ssv2(root: Path, videos) -> None:
    from repro.data.ssv2 import LABELS_FILE, SPLIT_FILES, VIDEO_DIR
    from repro.data.synthetic import CLASSES, fill_template, write_webm

    (root / VIDEO_DIR).mkdir(parents=True)
    (root / "labels").mkdir()
    (root / LABELS_FILE).write_text(json.dumps({n: str(i) for i, n in enumerate(class_names())}, indent=1))
    entries: dict[str, list] = {"train": [], "val": []}
    for split, vid, ci, frames, thing in videos:
        write_webm(root / VIDEO_DIR / f"{vid}.webm", frames)
        t = CLASSES[ci].template
        entries[split].append({"id": str(vid), "label": fill_template(t, thing), "template": t,
                               "placeholders": [thing]})
    (root / SPLIT_FILES["train"]).write_text(json.dumps(entries["train"], indent=0))
    (root / SPLIT_FILES["validation"]).write_text(json.dumps(entries["val"], indent=0))


def _write_ssv1(root: Path, videos) -> None:
    from PIL import Image

    from repro.data.ssv1 import FRAME_DIR, LABELS_FILE, SPLIT_FILES

    names = class_names()
    (root / LABELS_FILE).write_text("".join(f"{n}\n" for n in names))
    lines: dict[str, list[str]] = {"train": [], "val": []}
    for split, vid, ci, frames, _ in videos:
        folder = root / FRAME_DIR / str(vid)
        folder.mkdir(parents=True)
        for k, arr in enumerate(frames, 1):  # %05d.jpg from 00001, as in the real release
            Image.fromarray(arr).save(folder / f"{k:05d}.jpg", quality=95)
        lines[split].append(f"{vid};{names[ci]}\n")
    (root / SPLIT_FILES["train"]).write_text("".join(lines["train"]))
    (root / SPLIT_FILES["validation"]).write_text("".join(lines["val"]))


def k400_label(name: str) -> str:
    """Kinetics-style class text (lower case) of a synthetic class name."""
    return name.lower()


def _write_k400(root: Path, videos) -> None:
    from repro.data.kinetics import clip_name

    names = class_names()
    (root / "annotations").mkdir(parents=True)
    rows: dict[str, list] = {"train": [], "val": []}
    for split, vid, ci, frames, _ in videos:
        yt = f"smoke{vid:06d}"  # 11 characters, like a YouTube id
        start, end = 10 * vid, 10 * vid + 2  # 24 frames at 12 fps
        (root / split).mkdir(exist_ok=True)
        write_mp4(root / split / f"{clip_name(yt, start, end)}.mp4", frames)
        rows[split].append([k400_label(names[ci]), yt, start, end, split])
    for split in ("train", "val"):
        with open(root / "annotations" / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
            w.writerows(rows[split])


def _write_filelist(root: Path, videos) -> None:
    (root / "videos").mkdir(parents=True)
    lines: dict[str, list[str]] = {"train": [], "val": []}
    for split, vid, ci, frames, _ in videos:
        write_mp4(root / "videos" / f"{vid}.mp4", frames)
        lines[split].append(f"videos/{vid}.mp4 {len(frames)} {ci}\n")
    (root / "train_list.txt").write_text("".join(lines["train"]))
    (root / "val_list.txt").write_text("".join(lines["val"]))


WRITERS = {"ssv2": _write_ssv2, "ssv1": _write_ssv1, "k400": _write_k400, "filelist": _write_filelist}


def ensure_layout(layout: str, cache_dir: Path | None = None) -> Path:
    """Root of the smoke data in ``layout`` (``ssv2`` | ``ssv1`` | ``k400`` | ``filelist``), written if absent."""
    from repro.data.synthetic import GENERATOR_VERSION, default_cache_dir

    if layout not in WRITERS:
        raise ValueError(f"unknown smoke layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    root = (Path(cache_dir) if cache_dir else default_cache_dir()) / "smoke" / layout
    stamp = f"smoke {SMOKE_VERSION} synthetic {GENERATOR_VERSION}"
    done = root / "DONE"
    if done.is_file() and done.read_text() == stamp:
        return root
    tmp = root.with_name(f"{layout}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    WRITERS[layout](tmp, _videos())
    (tmp / "DONE").write_text(stamp)
    if done.is_file() and done.read_text() == stamp:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        shutil.rmtree(root, ignore_errors=True)  # a stale version
        os.replace(tmp, root)
    return root


def flip_swap(dataset: str, root: Path, label_order: str = "alphabetical") -> dict[int, int]:
    """The synthetic left/right swap in the label indices of ``dataset``'s smoke layout.

    The real datasets' swap maps index classes the smoke files do not have, so the smoke run
    flips with the synthetic pair instead, translated through class names into the layout's order.
    """
    from repro.data.synthetic import class_info

    names = class_names()
    pairs = {names[int(a)]: names[b] for a, b in class_info()["flip_swap"].items()}
    layout = layout_for(dataset)
    if layout == "ssv1":
        from repro.data.ssv1 import class_index

        index = class_index(names, label_order)
    elif layout == "k400":
        index = {n: i for i, n in enumerate(sorted(names, key=k400_label))}
    else:
        index = {n: i for i, n in enumerate(names)}
    return {index[a]: index[b] for a, b in pairs.items()}
