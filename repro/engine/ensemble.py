"""Saved per-video class scores (``scores.pt``) and ensembles that average them.

Every evaluated row writes ``<runs-dir>/<table>/<profile>/<row>/scores.pt``: its softmax scores
(float16, one row per video, averaged over the test views), labels, video ids and the spec hash
of the config that produced them. An ensemble row (``ensemble: [a, b]`` in a spec; SSA_En, GTA_En,
RSA 8+16) trains nothing: it averages its members' saved scores, after checking that they score
the same videos with the same labels and come from the members' current configs.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from repro.engine.checkpoint import atomic_save

SCORES_FILE = "scores.pt"


class EnsembleError(RuntimeError):
    """Member scores missing, stale or for other videos; the message says which and what to do."""


def scores_path(runs_dir: Path, table: str, profile: str, row: str) -> Path:
    return Path(runs_dir) / table / profile / row / SCORES_FILE


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


def average(members: dict[str, dict]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Mean of the members' scores (float32), their common labels and video ids.

    Members must list the same videos in the same order with the same labels: a member that
    skipped an unreadable video, or ran on another split, is refused rather than misaligned.
    """
    names = list(members)
    first = members[names[0]]
    for name in names[1:]:
        m = members[name]
        if m["video_ids"] != first["video_ids"]:
            a, b = set(first["video_ids"]), set(m["video_ids"])
            diff = sorted(a ^ b)[:3]
            raise EnsembleError(
                f"rows {names[0]!r} and {name!r} scored different videos ({len(a)} vs {len(b)}; "
                f"e.g. {diff or 'same set, other order'}); re-run them on the same split so that "
                "every video is scored by both")
        if not torch.equal(m["labels"], first["labels"]):
            raise EnsembleError(f"rows {names[0]!r} and {name!r} disagree on the labels of the same "
                                "videos (another label order?); re-run them with the same data config")
        if m["scores"].shape != first["scores"].shape:
            raise EnsembleError(f"rows {names[0]!r} and {name!r} have scores of shapes "
                                f"{tuple(first['scores'].shape)} and {tuple(m['scores'].shape)}")
    mean = torch.stack([members[n]["scores"].float() for n in names]).mean(0)
    return mean, first["labels"], list(first["video_ids"])


def ensemble_hash(members: dict[str, str]) -> str:
    """Spec hash of an ensemble: a function of its members and their spec hashes only."""
    blob = json.dumps({"ensemble": members}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
