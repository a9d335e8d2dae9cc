"""Dataset fingerprint: which copy of a dataset a result was computed on.

"Is it my data or my training?" is the first question when a number misses: published SSv2
checkpoints have scored points lower on another copy of the dataset (webm vs extracted frames,
missing videos). A run records the sha256 of the annotation files at the dataset root, how many
listed videos were found, the decoder and its version, and the mean length and size of a fixed
sample of validation videos; the report shows it, so two users can tell whether they tested the
same copy. Unreadable videos are counted by the run itself (``videos_skipped``).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from repro.errors import DecodeError

ANNOTATION_SUFFIXES = (".json", ".csv", ".txt", ".list")
MAX_ANNOTATION_BYTES = 256 << 20
SAMPLE = 16


def sha256(path: Path) -> str:
    """The file's sha256 (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _length_and_size(path: Path) -> tuple[int, int, int] | None:
    """``(frames, height, width)`` of a video file or frame folder, None if unreadable: its
    first frame, read as a run reads it (:func:`repro.data.video.decode`)."""
    from repro.data.video import decode

    counted: list[int] = []
    try:
        first = decode(path, lambda n: (counted.append(n), np.zeros(1, dtype=int))[1])
    except DecodeError:  # an unreadable video is counted by the run, not here
        return None
    return counted[0], int(first.shape[1]), int(first.shape[2])


def decoder_name(dataset: str | None, records: list) -> str:
    """The decoder that reads ``records``: the one the dataset's layout names, else told by the
    path type (a frame folder is read as JPEGs, a file by decord)."""
    if dataset is not None:
        from repro.data.registry import layout

        named = layout(dataset).decoder
        if named is not None:
            return named(records)
    if bool(records) and Path(records[0].path).is_dir():
        from repro.data.frames import decoder_name as frames_decoder

        return frames_decoder(records)

    from repro.data.backends import decord  # here: the spec loader imports sha256 without decoders

    return f"decord {decord.__version__}"


def fingerprint(root: Path, train_ds, val_ds, sample: int = SAMPLE) -> dict:
    """The fingerprint of the dataset at ``root`` as the run's datasets list it (their
    ``source``, the registry id, picks the decoder named; without one it is told by path type)."""
    root = Path(root)
    annotations = {p.name: sha256(p)[:16] for p in sorted(root.iterdir())
                   if p.is_file() and p.suffix in ANNOTATION_SUFFIXES and p.stat().st_size <= MAX_ANNOTATION_BYTES}
    videos, found = {}, {}
    for split, ds in (("train", train_ds), ("val", val_ds)):
        found[split], missing = [], []
        for r in ds.records:  # one lookup per listed video
            (found[split] if Path(r.path).exists() else missing).append(r)
        videos[split] = {"listed": len(found[split]) + len(missing), "found": len(found[split]),
                         "missing": len(missing), "missing_examples": [str(r.path) for r in missing[:3]]}
    val = found["val"]
    step = max(1, len(val) // sample)
    seen = [m for m in (_length_and_size(Path(r.path)) for r in val[::step][:sample]) if m]
    mean = (lambda i: round(sum(m[i] for m in seen) / len(seen), 1)) if seen else (lambda i: None)
    return {"root": str(root), "annotations": annotations, "videos": videos,
            "decoder": decoder_name(getattr(val_ds, "source", None), val),
            "sample": {"videos": len(seen), "mean_frames": mean(0), "mean_height": mean(1), "mean_width": mean(2)}}


def short(fp: dict | None) -> str:
    """One line for a report: annotation hashes, found/listed, decoder, the sample's mean size."""
    if not fp:
        return "not recorded (a result from before fingerprints)"
    ann = ", ".join(f"{k} {v[:8]}" for k, v in fp["annotations"].items()) or "no annotation files"
    v, s = fp["videos"], fp["sample"]
    found = "; ".join(f"{k} {d['found']}/{d['listed']} found" for k, d in v.items())
    return (f"{ann}; {found}; {fp['decoder']}; sample of {s['videos']}: {s['mean_frames']} frames, "
            f"{s['mean_height']}x{s['mean_width']}")
