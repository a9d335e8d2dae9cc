"""Data-loader throughput on webm: the harness's clip pipeline vs a plain decord baseline.

Generates 32 VP9 webm videos of 240x240 pixels and 48 frames (the synthetic generator at
Something-Something-V2 height; 12 fps like SSv2), then measures in one run, single process:
- baseline: one ``decord.VideoReader`` per sample and ``get_batch`` of 8 TSN indices;
- harness: ``VideoClipDataset`` (decord reader inside the worker, TSN sampling, resize 256,
  random crop 224, flip with label swap, normalise) through a DataLoader with 1 worker.
Reports clips/s of each and their ratio, in bench/results/dataloader_throughput.json.
Usage: .venv/bin/python bench/dataloader_throughput.py
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from repro.data.dataset import VideoClipDataset, collate_clips
from repro.data.sampling import tsn_indices
from repro.data.synthetic import CLASSES, Difficulty, render, write_webm
from repro.data.transforms import ClipTransform
from repro.data.video import decode

OUT = Path(__file__).resolve().parent / "results" / "dataloader_throughput.json"
N_VIDEOS, FRAMES, SIZE, SEGMENTS, PASSES = 32, 48, 240, 8, 3


class Rec:
    def __init__(self, path: Path, label: int) -> None:
        self.path, self.label = path, label


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Difficulty(size=SIZE, frames=FRAMES)
        recs = []
        for i in range(N_VIDEOS):
            frames, _ = render(CLASSES[i % len(CLASSES)], np.random.default_rng(i), d)
            p = Path(tmp) / f"{i}.webm"
            write_webm(p, frames)
            recs.append(Rec(p, i % len(CLASSES)))
        decode(recs[0].path)  # load the libraries before timing
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        for _ in range(PASSES):
            for r in recs:
                decode(r.path, lambda n: tsn_indices(n, SEGMENTS, True, rng))
        base = PASSES * N_VIDEOS / (time.perf_counter() - t0)
        ds = VideoClipDataset(recs, SEGMENTS, ClipTransform(256, 224, True, {0: 1, 1: 0}), True)
        loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True, num_workers=1,
                                             collate_fn=collate_clips, persistent_workers=True)
        next(iter(loader))  # start the worker before timing
        t0 = time.perf_counter()
        seen = 0
        for _ in range(PASSES):
            for b in loader:
                seen += len(b["label"])
        ours = seen / (time.perf_counter() - t0)
    record = {"command": "python bench/dataloader_throughput.py",
              "videos": f"{N_VIDEOS} x {FRAMES} frames, {SIZE}x{SIZE} VP9 webm",
              "baseline_clips_per_s": round(base, 1),
              "harness_clips_per_s_1_worker": round(ours, 1),
              "ratio_harness_over_baseline": round(ours / base, 3),
              "torch_threads": torch.get_num_threads()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
