"""Generic file lists (TSM / mmaction2 style): one ``path num_frames label`` per line; their layout.

Used for Diving-48 and FineGym (gym99, gym288), whose official annotation layouts this harness
does not read directly: convert them once with the TSM/mmaction2 preparation scripts into::

    <root>/train_list.txt      <path> <num_frames> <label>
    <root>/val_list.txt

``path`` is relative to ``<root>`` (or absolute) and names either a video file (decoded by
:func:`repro.data.video.decode`) or a folder of numbered JPEG frames (decoded by
:func:`repro.data.frames.decode_frames`). It may contain spaces: the last two fields are split off.
``label`` is already a class index; ``num_frames`` is kept on the record for reference (the
decoders count frames themselves, so a stale count cannot index past the end).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from repro.data.encode import write_mp4
from repro.data.layout import Layout, SmokeVideo
from repro.errors import DatasetError

SPLIT_FILES = {"train": "train_list.txt", "val": "val_list.txt", "validation": "val_list.txt"}
HOW_TO_GET = ("Write <root>/train_list.txt and <root>/val_list.txt with one '<path> <num_frames> "
              "<label>' line per video (paths relative to <root>; the TSM and mmaction2 data-preparation "
              "scripts for Diving-48 and FineGym produce this format), and point the harness at <root> "
              "with --data-root NAME=/path, REPRO_<NAME>_ROOT=/path or data_roots: {NAME: /path} in "
              "repro.yaml (NAME: diving48, gym99, gym288).")


@dataclass(frozen=True)
class ListRecord:
    path: Path
    label: int
    video_id: str  # the path as written in the list
    num_frames: int


def read_split(root: Path, split: str, num_classes: int | None = None) -> list[ListRecord]:
    """Records of ``split`` (``train`` | ``val``); labels checked against ``num_classes`` if given."""
    root = Path(root)
    if split not in SPLIT_FILES:
        raise DatasetError(f"unknown file-list split {split!r}; use train or val")
    path = root / SPLIT_FILES[split]
    if not path.is_file():
        raise DatasetError(f"file list not found: expected {path}. {HOW_TO_GET}")
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.strip().rsplit(maxsplit=2)
        try:
            rel, frames, label = parts[0], int(parts[1]), int(parts[2])
        except (IndexError, ValueError) as e:
            raise DatasetError(f"{path}:{n}: expected '<path> <num_frames> <label>', "
                               f"got {line!r:.80}") from e
        if label < 0 or (num_classes is not None and label >= num_classes):
            raise DatasetError(f"{path}:{n}: label {label} is outside 0..{(num_classes or 1) - 1}; "
                               "is this the list of another dataset?")
        p = Path(rel)
        records.append(ListRecord(p if p.is_absolute() else root / p, label, rel, frames))
    if not records:
        raise DatasetError(f"{path} lists no videos. {HOW_TO_GET}")
    return records


def check_root(root: Path) -> None:
    """Raise a :class:`DatasetError` naming the first missing piece of a file-list root."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset root {root} does not exist. {HOW_TO_GET}")
    for rel in ("train_list.txt", "val_list.txt"):
        if not (root / rel).is_file():
            raise DatasetError(f"dataset root {root} lacks {rel}. {HOW_TO_GET}")


def write_smoke(root: Path, videos: list[SmokeVideo], names: list[str]) -> None:
    """The smoke copy: H.264 ``videos/<n>.mp4`` and the two lists, labels in the given class order."""
    (root / "videos").mkdir(parents=True)
    lines: dict[str, list[str]] = {"train": [], "val": []}
    for v in videos:
        write_mp4(root / "videos" / f"{v.number}.mp4", v.frames)
        lines[v.split].append(f"videos/{v.number}.mp4 {len(v.frames)} {v.label}\n")
    (root / "train_list.txt").write_text("".join(lines["train"]))
    (root / "val_list.txt").write_text("".join(lines["val"]))


# Labels are checked against the registered class count of the dataset the list stands for.
LAYOUT = Layout(
    records=lambda root, split, cfg, info: read_split(root, split, info.classes),
    check_root=check_root, how_to_get=HOW_TO_GET,
    smoke="filelist", write_smoke=write_smoke)
