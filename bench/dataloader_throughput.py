"""The harness's data loader against the bare decoder, per format, at paper geometry (issue 12).

On the generated inputs of bench/inputs.py (SSv2-like VP9 webm with the encoder's GOP, SSv1-like
JPEG folders, Kinetics-like H.264 mp4), measures in one run, interleaved pass by pass (the
machine is shared: each figure is the median of the passes, and only ratios are compared):
- ``bare``: :func:`repro.data.video.decode` of the clip's frames (the same indices the dataset
  draws: TSN segments, or 8x8 dense clips for Kinetics) with the default decoder, one thread, in
  this process;
- ``loader_1`` / ``loader_2``: ``VideoClipDataset`` with the recipe's training transforms (crop
  in source coordinates, one uint8 resize to 224, flip, uint8 collate) through a DataLoader with
  1 or 2 persistent worker processes (started and warmed before timing), batch 8.

Target: ``loader_1 / bare >= 0.85`` per format (one worker keeps up with one bare decoder).
Writes bench/results/dataloader_throughput.json.
Usage: .venv/bin/python bench/dataloader_throughput.py [--passes 3] [--formats webm jpeg mp4]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import av  # noqa: F401 -- before decord (repro/data/video.py)
import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from _record import write_record  # noqa: E402
from inputs import ensure_inputs, properties  # noqa: E402

from repro.data.dataset import VideoClipDataset, collate_clips  # noqa: E402
from repro.data.transforms import ClipTransform  # noqa: E402
from repro.data.video import DEFAULT_BACKEND, decode  # noqa: E402

OUT = REPO / "bench" / "results" / "dataloader_throughput.json"
FRAMES, BATCH, MIN_PASS_S = 8, 8, 4.0
# format -> (the recipe whose training transforms and sampling it uses, which dataset it stands for)
RECIPES = {"webm": ("tsm", "ssv2"), "jpeg": ("rsa", "ssv1"), "mp4": ("tsm_k400", "k400")}


class Rec:
    def __init__(self, path: Path, label: int) -> None:
        self.path, self.label = path, label


def dataset(fmt: str, paths: list[Path] | None = None) -> tuple[VideoClipDataset, dict]:
    """The recipe's training dataset of ``fmt`` over ``paths`` (default: the generated inputs)."""
    recipe = RECIPES[fmt][0]
    d = yaml.safe_load((REPO / "experiments" / "recipes" / f"{recipe}.yaml").read_text())["data"]
    tf = ClipTransform(d["resize"], d["crop"], True, crop_mode=d.get("crop_mode", "random"),
                       jitter=d.get("jitter"), flip_swap=None if d.get("flip", "none") == "none" else {})
    recs = [Rec(p, 0) for p in (paths or ensure_inputs(fmt))]
    ds = VideoClipDataset(recs, FRAMES, tf, True, seed=0, sampling=d.get("sampling", "tsn"),
                          rate=d.get("sampling_rate", 1))
    return ds, {k: d.get(k) for k in ("resize", "crop", "crop_mode", "flip", "sampling", "sampling_rate")}


def bare(ds: VideoClipDataset, epoch: int) -> float:
    """Clips/s of decoding exactly the frames the dataset draws for each video."""
    t0 = time.perf_counter()
    for i, r in enumerate(ds.records):
        rng = np.random.default_rng([ds.seed, epoch, i])
        decode(r.path, lambda n: ds._pick(n, rng))
    return len(ds.records) / (time.perf_counter() - t0)


def make_loader(ds: VideoClipDataset, workers: int) -> torch.utils.data.DataLoader:
    """Persistent workers, as training keeps them (repro/engine/train.py): their start-up is paid
    once per run, so the warm-up pass below takes it and the timed passes do not."""
    dl = torch.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=False, num_workers=workers,
                                     collate_fn=collate_clips, prefetch_factor=2, persistent_workers=True)
    loader(dl)
    return dl


def loader(dl: torch.utils.data.DataLoader) -> float:
    t0 = time.perf_counter()
    seen = sum(len(b["label"]) for b in dl if "video" in b)
    return seen / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--formats", nargs="+", default=list(RECIPES))
    a = ap.parse_args()
    torch.set_num_threads(1)
    record = {"command": "python bench/dataloader_throughput.py " + " ".join(sys.argv[1:]),
              "decoder": DEFAULT_BACKEND, "frames": FRAMES, "batch": BATCH, "passes": a.passes,
              "torch_threads": 1, "formats": {}}
    for fmt in a.formats:
        ds, geometry = dataset(fmt)
        # Warm the page cache and the libraries, then repeat the videos until a bare pass takes
        # MIN_PASS_S: a worker's start-up must not weigh on formats that decode in milliseconds.
        bare(ds, 98)
        reps = max(1, round(MIN_PASS_S * bare(ds, 99) / len(ds.records)))
        ds.records = ds.records * reps
        loaders = {w: make_loader(ds, w) for w in (1, 2)}
        runs: dict[str, list[float]] = {"bare": [], "loader_1": [], "loader_2": []}
        for p in range(a.passes):  # interleaved: a noisy minute hurts every variant alike
            runs["bare"].append(bare(ds, p))
            runs["loader_1"].append(loader(loaders[1]))
            runs["loader_2"].append(loader(loaders[2]))
        med = {k: round(statistics.median(v), 2) for k, v in runs.items()}
        props = properties(fmt)
        record["formats"][fmt] = {
            "stands_for": RECIPES[fmt][1], "recipe": RECIPES[fmt][0], "geometry": geometry,
            "videos": len(ds.records) // reps, "clips_per_pass": len(ds.records), "inputs": {k: v for k, v in props.items() if k != "videos"},
            "clips_per_s_median": med, "clips_per_s_passes": {k: [round(x, 2) for x in v] for k, v in runs.items()},
            "ratio_loader_1_over_bare": round(med["loader_1"] / med["bare"], 3),
            "ratio_loader_2_over_bare": round(med["loader_2"] / med["bare"], 3),
            "target_ratio": 0.85, "met": med["loader_1"] / med["bare"] >= 0.85}
        print(fmt, json.dumps(record["formats"][fmt]["clips_per_s_median"]),
              record["formats"][fmt]["ratio_loader_1_over_bare"], flush=True)
    write_record(OUT, record)
    print(json.dumps({f: v["ratio_loader_1_over_bare"] for f, v in record["formats"].items()}, indent=2))


if __name__ == "__main__":
    main()
