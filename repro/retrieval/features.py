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
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from repro.engine.inputs import to_input
from repro.progress import progress_bar


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
    path, state_path = folder / "features.npy", folder / "progress.json"
    state = json.loads(state_path.read_text()) if state_path.is_file() else {"done": 0, "total": total}
    if state["total"] != total:
        raise ValueError(f"{folder} holds features of {state['total']} clips, not {total}; delete it")
    done, bad, out = state["done"], list(state.get("bad", [])), None
    if done and path.is_file():
        out = np.load(path, mmap_mode="r+")
    elif done:  # progress without its array: nothing is final
        done, bad = 0, []
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
                out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(total, f.shape[1]))
            out[batch["index"].numpy()] = f
        if out is not None:
            out.flush()  # the rows reach the file before progress.json says they are final
        bad += batch["bad_videos"] or ([f"{batch['bad']} unnamed"] if batch["bad"] else [])
        seen += n
        done = seen
        tmp = state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"done": done, "total": total, "bad": bad}))
        os.replace(tmp, state_path)
        bar.update(n)
    bar.close()
    if done != total:
        raise RuntimeError(f"{folder}: {done} of {total} clips have features; the batches ran out")
    if out is None:
        raise RuntimeError(f"{folder}: none of the {total} videos could be read")
    return np.load(path, mmap_mode="r"), bad
