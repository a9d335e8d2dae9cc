"""Saved per-video class scores (``scores.pt``), the input of ensemble rows (:mod:`repro.run.ensemble`).

Every evaluated row writes ``scores.pt`` in its run folder (``<runs-dir>/<table>/<profile>/<row>/``):
its softmax scores (float16, one row per video, averaged over the test views), labels, video ids
and the spec hash of the config that produced them.
"""
from __future__ import annotations

from pathlib import Path

import torch

from repro.data.fingerprint import sha256
from repro.engine.checkpoint import atomic_save
from repro.errors import EnsembleError

SCORES_FILE = "scores.pt"


def scores_path(run_dir: Path) -> Path:
    """The scores file of a run folder (:func:`repro.run.unit.run_folder`)."""
    return Path(run_dir) / SCORES_FILE


def save_scores(path: Path, scores: torch.Tensor, labels: torch.Tensor, video_ids: list[str],
                spec_hash: str, **meta) -> None:
    """Write ``scores.pt`` atomically (a killed run never leaves half a file for an ensemble)."""
    if len(video_ids) != len(scores) or len(labels) != len(scores):
        raise ValueError(f"{path}: {len(scores)} score rows, {len(labels)} labels, {len(video_ids)} ids")
    atomic_save({"scores": scores.detach().to(torch.float16).cpu(), "labels": labels.cpu().long(),
                 "video_ids": [str(v) for v in video_ids], "spec_hash": spec_hash, **meta}, path)


def load_scores(path: Path, row: str = "", expected_hash: str | None = None, hint: str = "") -> dict:
    """The saved scores of ``row``; an EnsembleError naming the file when absent or stale."""
    path = Path(path)
    who = f"row {row!r}: " if row else ""
    if not path.is_file():
        raise EnsembleError(f"{who}scores file {path} is missing; {hint or 'evaluate that row first'}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 -- any unreadable file gets the same advice
        raise EnsembleError(f"{who}scores file {path} cannot be read ({e}); {hint or 're-run that row'}") from e
    if expected_hash is not None and data.get("spec_hash") != expected_hash:
        raise EnsembleError(f"{who}scores file {path} was written for spec hash {data.get('spec_hash')}, "
                            f"but the row's current config has hash {expected_hash}; "
                            f"{hint or 're-run that row'}")
    return data


def file_hash(path: Path) -> str:
    return sha256(Path(path))[:16]
