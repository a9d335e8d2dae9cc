"""Clip features from a trained classifier, frozen, for the retrieval tables (SSAN Tables 7-8).

A feature is the input of the classifier's last linear layer, averaged over the clip's frames
where the model classifies frames (TSN: the ``(N*T, D)`` pooled frame features, as TSN's
consensus averages their logits) and taken as is where it classifies clips (``(N, D)``). It is
caught with a forward hook on that layer, so any model of the registry works unchanged.

Features are stored per (model key, dataset key) as a memory-mapped ``(N, D)`` float16 array
under the cache folder, with a ``progress.json`` that records how many rows are final: an
interrupted extraction resumes where it stopped, and a finished one is read back without
running the model.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from repro.data.fingerprint import sha256
from repro.engine.inputs import to_input
from repro.files import reserve, write_atomic
from repro.progress import progress_bar


FEATURES, PROGRESS = "features.npy", "progress.json"


def last_linear(model: torch.nn.Module) -> torch.nn.Linear:
    """The classifier: the model's last ``nn.Linear`` in registration order."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no linear classifier to take features before")
    return linears[-1]


def dataset_key(ids: Iterable[str]) -> str:
    """A short key of an ordered list of video ids (and segment bounds, if any)."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:12]


@torch.no_grad()
def clip_features(model: torch.nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """``(N, 3, T, H, W)`` clips (uint8 or normalised) -> ``(N, D)`` features before the classifier."""
    caught: list[torch.Tensor] = []
    handle = last_linear(model).register_forward_hook(lambda m, inp, out: caught.append(inp[0]))
    try:
        model.eval()
        model(to_input(clips, next(model.parameters()).device, model))
    finally:
        handle.remove()
    f = caught[-1].float()
    n = clips.shape[0]
    if f.shape[0] != n:  # per-frame classification: average the frames of each clip
        f = f.view(n, f.shape[0] // n, -1).mean(1)
    return f.cpu()


def extract(model: torch.nn.Module, batches: Iterable[dict], total: int, folder: Path,
            progress: bool = True) -> tuple[np.ndarray, list[str]]:
    """Features of ``total`` clips stored in ``folder`` (``features.npy`` + ``progress.json``).

    ``batches`` are :func:`repro.data.dataset.collate_clips` dicts of consecutive clips, in
    order: ``video`` and ``index`` of the readable ones, ``bad`` and ``bad_videos`` of the others.
    An unreadable video gets a zero feature and is named in the returned list, so one corrupt
    file does not stop an extraction. Resumes after the rows already final; returns the
    read-only memory-mapped ``(total, D)`` array and the unreadable videos.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path, state_path = folder / FEATURES, folder / PROGRESS
    state, out = trusted_cache(folder, total)
    done, bad = state["done"], list(state.get("bad", []))
    bar = progress_bar(total=total, initial=done, desc="features", unit="clip", enabled=progress,
               dynamic_ncols=True)
    seen = 0
    for batch in batches:
        n = len(batch.get("index", ())) + batch["bad"]
        if seen + n <= done:  # final already: skip without running the model
            seen += n
            continue
        if "video" in batch:
            f = clip_features(model, batch["video"]).numpy().astype(np.float16)
            if out is None:
                out = _new_array(path, total, f.shape[1])
            out[batch["index"].numpy()] = f
        if out is not None:
            out.flush()  # the rows reach the file before progress.json says they are final
        bad += batch["bad_videos"] or ([f"{batch['bad']} unnamed"] if batch["bad"] else [])
        seen += n
        done = seen
        _write_state(state_path, {"done": done, "total": total, "bad": bad,
                                  **({"dim": int(out.shape[1])} if out is not None else {})})
        bar.update(n)
    bar.close()
    if done != total:
        raise RuntimeError(f"{folder}: {done} of {total} clips have features; the batches ran out")
    if out is None:
        raise RuntimeError(f"{folder}: none of the {total} videos could be read")
    if "sha256" not in state or state.get("done") != total:  # the checksum is written last
        _write_state(state_path, {"done": done, "total": total, "bad": bad, "dim": int(out.shape[1]),
                                  "sha256": sha256(path)})
    return np.load(path, mmap_mode="r"), bad


def _write_state(state_path: Path, state: dict) -> None:
    write_atomic(state_path, json.dumps(state), fsync=False)


def _new_array(path: Path, total: int, dim: int) -> np.ndarray:
    """A ``(total, dim)`` float16 memory map at ``path``, its blocks allocated up front: a sparse
    file that meets a full disk while the map is written kills the process with SIGBUS."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(total, dim))
    try:
        reserve(path, path.stat().st_size)
    except BaseException:
        path.unlink(missing_ok=True)  # no half-made cache is left to be mistaken for one
        raise
    return out


def trusted_cache(folder: Path, total: int) -> tuple[dict, np.ndarray | None]:
    """The cache's progress and its array (read-write), when they check out: ``progress.json``
    parses, ``features.npy`` has the size, shape and dtype it records and, once finished, the
    checksum written last. A damaged cache is named on stderr, deleted, and started again."""
    path, state_path = folder / FEATURES, folder / PROGRESS
    fresh = {"done": 0, "total": total}
    if not state_path.is_file():
        return fresh, None
    try:
        state = json.loads(state_path.read_text())
        done = int(state["done"])
    except (ValueError, KeyError, TypeError):
        return _discard(folder, f"{state_path.name} is not valid JSON progress"), None
    if state.get("total") != total:
        raise ValueError(f"{folder} holds features of {state.get('total')} clips, not {total}; delete it")
    if done == 0:
        return state, None
    problem = _array_problem(path, total, state)
    if problem:
        return _discard(folder, problem), None
    return state, np.load(path, mmap_mode="r+")


def _array_problem(path: Path, total: int, state: dict) -> str | None:
    """Why ``features.npy`` cannot be trusted, or None."""
    if not path.is_file():
        return f"{path.name} is missing"
    try:
        arr = np.load(path, mmap_mode="r")  # a truncated file does not map: ValueError
    except (ValueError, OSError, EOFError) as e:
        return f"{path.name} is unreadable ({e})"
    if arr.ndim != 2 or arr.shape[0] != total or arr.dtype != np.float16 or \
            ("dim" in state and arr.shape[1] != state["dim"]):
        return f"{path.name} is {arr.dtype}{list(arr.shape)}, not float16[{total}, {state.get('dim', 'D')}]"
    if state.get("done") == total and state.get("sha256") and sha256(path) != state["sha256"]:
        return f"{path.name}'s checksum differs from the one written when it was finished"
    return None


def _discard(folder: Path, problem: str) -> dict:
    print(f"warning: feature cache {folder} is damaged: {problem}; deleting it and extracting again",
          file=sys.stderr, flush=True)
    for name in (FEATURES, PROGRESS):
        (folder / name).unlink(missing_ok=True)
    return {"done": 0, "total": None}
