"""Something-Something V1: JPEG frame folders and ';'-separated CSVs; the ``ssv1`` dataset's layout.

Layout (as distributed by the dataset's authors; TSM's ``tools/gen_label_sthv1.py`` reads the
same files)::

    <root>/20bn-something-something-v1/<id>/00001.jpg, 00002.jpg, ...   (%05d.jpg)
    <root>/something-something-v1-labels.csv       one class name per line
    <root>/something-something-v1-train.csv        <id>;<class name>
    <root>/something-something-v1-validation.csv

Class indices depend on ``data.label_order`` and the two are NOT interchangeable
(docs/facts.md section 8):

- ``alphabetical`` (default, TSM and the papers built on it): index = rank of the class name
  in sorted order;
- ``file`` (mmaction2): index = line number in the labels CSV.

A record's ``path`` is the frame folder. :func:`repro.data.frames.decode_frames` (re-exported
here) reads one with the interface of :func:`repro.data.video.decode` (``decode(path, pick)`` ->
``(F, H, W, 3)`` uint8), raising :class:`repro.errors.DecodeError` for a missing, empty or
unreadable folder.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

# decode_frames and frame_files lived here before frames.py: kept importable from here.
from repro.data.frames import decode_frames, decoder_name, frame_files  # noqa: F401
from repro.data.layout import Layout, SmokeVideo
from repro.errors import DatasetError

FRAME_DIR = "20bn-something-something-v1"
LABELS_FILE = "something-something-v1-labels.csv"
SPLIT_FILES = {"train": "something-something-v1-train.csv",
               "validation": "something-something-v1-validation.csv"}
SPLIT_ALIASES = {"train": "train", "val": "validation", "validation": "validation"}
LABEL_ORDERS = ("alphabetical", "file")
# mmaction2 (file-order) indices of the left/right class pairs (docs/facts.md section 8); other
# orders are translated through the class names, see :func:`flip_swap`.
FLIP_SWAP_FILE_ORDER = {2: 4, 4: 2, 30: 41, 41: 30, 52: 66, 66: 52}
HOW_TO_GET = ("Something-Something V1 (20bn-something-something-v1 JPEG frames and the "
              "something-something-v1-*.csv files) is no longer distributed by its authors; use an "
              "existing copy (academic mirrors, e.g. the TSM/mmaction2 instructions), unpack it so "
              "that the CSVs sit next to the 20bn-something-something-v1/ folder, and point the "
              "harness at that folder with --data-root ssv1=/path, REPRO_SSV1_ROOT=/path or "
              "data_roots: {ssv1: /path} in repro.yaml.")


@dataclass(frozen=True)
class FrameRecord:
    path: Path  # the video's frame folder
    label: int
    video_id: str


def _read_lines(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise DatasetError(f"SSv1 {what} not found: expected {path}. {HOW_TO_GET}")
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def read_classes(root: Path) -> list[str]:
    """Class names in labels-file order."""
    names = _read_lines(Path(root) / LABELS_FILE, "labels file")
    if len(set(names)) != len(names):
        raise DatasetError(f"{Path(root) / LABELS_FILE}: duplicate class names; re-extract the CSVs")
    return names


def class_index(names: list[str], label_order: str = "alphabetical") -> dict[str, int]:
    """Class name -> index under ``label_order`` (``alphabetical`` | ``file``)."""
    if label_order == "alphabetical":
        return {n: i for i, n in enumerate(sorted(names))}
    if label_order == "file":
        return {n: i for i, n in enumerate(names)}
    raise DatasetError(f"data.label_order {label_order!r} is not one of {', '.join(LABEL_ORDERS)} "
                       "(alphabetical = TSM, file = mmaction2)")


def read_split(root: Path, split: str, label_order: str = "alphabetical") -> list[FrameRecord]:
    """Frame-folder records of ``split`` (``train`` | ``val``) with labels in ``label_order``."""
    root = Path(root)
    if split not in SPLIT_ALIASES:
        raise DatasetError(f"unknown SSv1 split {split!r}; use train or val")
    index = class_index(read_classes(root), label_order)
    path = root / SPLIT_FILES[SPLIT_ALIASES[split]]
    records = []
    for n, line in enumerate(_read_lines(path, f"{split} annotation file"), 1):
        vid, sep, name = line.partition(";")
        if not sep:
            raise DatasetError(f"{path}:{n}: expected '<id>;<class name>', got {line!r:.80}")
        if name not in index:
            raise DatasetError(f"{path}:{n}: class {name!r} is not in {root / LABELS_FILE}")
        records.append(FrameRecord(root / FRAME_DIR / vid, index[name], vid))
    return records


def flip_swap(root: Path, label_order: str = "alphabetical") -> dict[int, int]:
    """The left/right label swap under ``label_order``: docs/facts.md section 8 gives it in file
    order, so the pairs are looked up by class name (indices past the end of a shorter labels file
    are dropped)."""
    names = read_classes(root)
    index = class_index(names, label_order)
    return {index[names[a]]: index[names[b]] for a, b in FLIP_SWAP_FILE_ORDER.items()
            if a < len(names) and b < len(names)}


def check_root(root: Path) -> None:
    """Raise a :class:`DatasetError` naming the first missing piece of an SSv1 root."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"SSv1 root {root} does not exist. {HOW_TO_GET}")
    if not (root / FRAME_DIR).is_dir():
        raise DatasetError(f"SSv1 root {root} has no {FRAME_DIR}/ folder of per-video JPEG frame "
                           f"folders (<id>/00001.jpg ...). {HOW_TO_GET}")
    for rel in (LABELS_FILE, *SPLIT_FILES.values()):
        if not (root / rel).is_file():
            raise DatasetError(f"SSv1 root {root} lacks {rel} (';'-separated CSV). {HOW_TO_GET}")


def label_order(cfg: dict) -> str:
    """The run's ``data.label_order``, checked."""
    order = cfg["data"]["label_order"]
    if order not in LABEL_ORDERS:
        raise DatasetError(f"data.label_order {order!r} is not one of alphabetical (TSM), file (mmaction2)")
    return order


def write_smoke(root: Path, videos: list[SmokeVideo], names: list[str]) -> None:
    """The smoke copy: labels CSV in the given class order (the generator's, not alphabetical, so
    the two ``label_order`` settings give different indices), ``%05d.jpg`` folders from 00001 as
    in the real release, ';' CSVs."""
    (root / LABELS_FILE).write_text("".join(f"{n}\n" for n in names))
    lines: dict[str, list[str]] = {"train": [], "val": []}
    for v in videos:
        folder = root / FRAME_DIR / str(v.number)
        folder.mkdir(parents=True)
        for k, arr in enumerate(v.frames, 1):
            Image.fromarray(arr).save(folder / f"{k:05d}.jpg", quality=95)
        lines[v.split].append(f"{v.number};{names[v.label]}\n")
    (root / SPLIT_FILES["train"]).write_text("".join(lines["train"]))
    (root / SPLIT_FILES["validation"]).write_text("".join(lines["val"]))


LAYOUT = Layout(
    records=lambda root, split, cfg, info: read_split(root, split, label_order(cfg)),
    check_root=check_root, how_to_get=HOW_TO_GET,
    flip_swap=lambda root, cfg: flip_swap(root, label_order(cfg)),
    smoke="ssv1", write_smoke=write_smoke,
    smoke_index=lambda names, cfg: class_index(names, label_order(cfg)),
    decoder=decoder_name)
