"""Kinetics prepared two ways, measured against the clips as distributed (issue 24).

On the Kinetics-like H.264 mp4 of bench/inputs.py (10 s, 25/30 fps, short side 256-320, x264's
default GOP), with TSM's Kinetics recipe (dense 8-frame clips, multi-scale crop 224 from a short
side of 331, the height TSM extracts Kinetics frames at: tools/vid2img_kinetics.py:37):
- ``frames``: every frame as JPEG at height 331 (:func:`repro.data.prepare.extract_frames`, the
  SSv2 extraction at another height);
- ``reencoded``: the video re-encoded at height 331 with a short GOP (H.264, a key frame every
  16 frames, no B-frames, crf 18), so that a clip's seek decodes at most 15 frames it does not
  use;
for each: seconds to prepare per video on one core, bytes per video, and loader clips/s with one
worker (interleaved passes, medians), against the original mp4.
Writes bench/results/prepared_kinetics.json.
Usage: .venv/bin/python bench/prepared_kinetics.py [--passes 3]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from _record import write_record  # noqa: E402
from dataloader_throughput import dataset, loader, make_loader  # noqa: E402
from inputs import ensure_inputs, properties  # noqa: E402

from repro.data.prepare import _pull, _scaler, extract_frames  # noqa: E402

OUT = REPO / "bench" / "results" / "prepared_kinetics.json"
WORK = REPO / ".cache" / "bench" / "prepared-kinetics-v1"
HEIGHT, GOP = 331, 16


def reencode(video: Path, out: Path) -> None:
    """``video`` at height ``HEIGHT``, H.264 with a key frame every ``GOP`` frames."""
    with av.open(str(video)) as src, av.open(str(out), "w") as dst:
        s = src.streams.video[0]
        graph, enc = _scaler(s, HEIGHT), None
        for frame in src.decode(s):
            graph.push(frame)
            for f in _pull(graph):
                if enc is None:
                    enc = dst.add_stream("libx264", rate=s.average_rate or Fraction(25))
                    # H.264 4:2:0 needs even sides: 331 becomes 330
                    enc.width, enc.height, enc.pix_fmt = f.width - f.width % 2, f.height - f.height % 2, "yuv420p"
                    enc.options = {"g": str(GOP), "bf": "0", "crf": "18", "preset": "veryfast"}
                # A fresh frame without the source's timestamps (variable-rate sources confuse the muxer)
                f = av.VideoFrame.from_ndarray(f.reformat(width=enc.width, height=enc.height,
                                                          format="yuv420p").to_ndarray(), format="yuv420p")
                for p in enc.encode(f):
                    dst.mux(p)
        for p in enc.encode():
            dst.mux(p)


def prepare(videos: list[Path]) -> dict:
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "frames").mkdir(parents=True), (WORK / "reencoded").mkdir()
    out = {}
    t0 = time.perf_counter()
    frames = []
    for v in videos:
        done = extract_frames(v, WORK / "frames" / v.stem, HEIGHT)
        assert not done.error, done.error
        frames.append(WORK / "frames" / v.stem)
    out["frames"] = (frames, (time.perf_counter() - t0) / len(videos))
    t0 = time.perf_counter()
    enc = []
    for v in videos:
        reencode(v, WORK / "reencoded" / v.name)
        enc.append(WORK / "reencoded" / v.name)
    out["reencoded"] = (enc, (time.perf_counter() - t0) / len(videos))
    return out


def size(paths: list[Path]) -> int:
    total = sum((sum(f.stat().st_size for f in p.iterdir()) if p.is_dir() else p.stat().st_size) for p in paths)
    return int(total / len(paths))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    videos = ensure_inputs("mp4")
    made = prepare(videos)
    inputs = {"original": videos, "reencoded": made["reencoded"][0], "frames": made["frames"][0]}
    datasets = {k: dataset("mp4", v) for k, v in inputs.items()}
    geometry = datasets["original"][1]
    for ds, _ in datasets.values():
        ds.records = ds.records * 2
    loaders = {k: make_loader(ds, 1) for k, (ds, _) in datasets.items()}
    runs: dict[str, list[float]] = {k: [] for k in loaders}
    for _ in range(a.passes):
        for k, dl in loaders.items():
            runs[k].append(loader(dl))
    med = {k: round(statistics.median(v), 2) for k, v in runs.items()}
    record = {
        "command": "python bench/prepared_kinetics.py " + " ".join(sys.argv[1:]),
        "inputs": {k: v for k, v in properties("mp4").items() if k != "videos"}, "videos": len(videos),
        "recipe": "tsm_k400", "geometry": geometry, "height": HEIGHT, "gop": GOP,
        "loader_workers": 1, "torch_threads": 1, "passes": a.passes,
        "bytes_per_video": {k: size(v) for k, v in inputs.items()},
        "prepare_seconds_per_video_one_core": {k: round(made[k][1], 2) for k in ("frames", "reencoded")},
        "clips_per_s_one_worker_median": med,
        "clips_per_s_passes": {k: [round(x, 2) for x in v] for k, v in runs.items()},
        "ratio_over_original": {k: round(med[k] / med["original"], 3) for k in ("frames", "reencoded")},
    }
    write_record(OUT, record)
    print(json.dumps({k: record[k] for k in ("bytes_per_video", "prepare_seconds_per_video_one_core",
                                             "clips_per_s_one_worker_median", "ratio_over_original")}, indent=2))


if __name__ == "__main__":
    main()
