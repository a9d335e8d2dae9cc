"""Prepared JPEG frames against webm, per CPU core, at paper geometry (issue 24).

On the SSv2-like webm videos of bench/inputs.py (VP9, height 240, 2-6 s at 12 fps, the encoder's
own GOP), this script:
- prepares them as ``python -m repro.prepare`` does (:func:`repro.data.prepare.extract_frames`:
  height 256, mjpeg at quantiser 2), timing it (videos/s on one core);
- where an ffmpeg binary is at hand (``$FFMPEG``, or the imageio-ffmpeg package's), runs TSM's
  own command (tools/vid2img_sthv2.py:23) on the same videos and compares the decoded pixels;
- measures training clips/s of the loader with one worker process (TSM's SSv2 recipe: TSN
  sampling of 8 frames, multi-scale crop 224 from short side 256, uint8 collate, batch 8) reading
  the webm and reading the prepared frames, interleaved pass by pass, each the median of the
  passes. ``ratio_frames_over_webm`` is frames / webm (goal: >= 2.5);
- splits one frames clip's time into JPEG decoding and the rest (crop, resize, collate), to say
  what limits it;
- on CUDA, the GPU decode path (``data.decode: gpu``): workers read JPEG bytes only, and the
  batch is decoded (nvJPEG), cut and resized on the device.

Writes bench/results/prepared_frames.json. ``--dry-run``: the same steps on 6 of the smoke copy's
tiny videos, one pass, writing nothing (bench/gpu_check.py runs it in CI).
Usage: .venv/bin/python bench/prepared_frames.py [--passes 3] [--dry-run]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import av  # noqa: F401 -- before decord (repro/data/video.py)
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from _record import write_record  # noqa: E402
from dataloader_throughput import dataset, loader, make_loader  # noqa: E402
from inputs import ensure_inputs, properties  # noqa: E402

from repro.data.frames import decode_frames  # noqa: E402
from repro.data.jpeg_batch import on_device  # noqa: E402
from repro.data.prepare import HEIGHT, extract_frames  # noqa: E402

OUT = REPO / "bench" / "results" / "prepared_frames.json"
PREPARED = REPO / ".cache" / "bench" / "prepared-v1"
GOAL = 2.5


def prepare_all(videos: list[Path]) -> tuple[list[Path], float]:
    """Frame folders of ``videos`` (made again each run, to time it) and videos/s on one core."""
    shutil.rmtree(PREPARED, ignore_errors=True)
    t0 = time.perf_counter()
    folders = []
    for v in videos:
        done = extract_frames(v, PREPARED / v.stem)
        assert not done.error, done.error
        folders.append(PREPARED / v.stem)
    return folders, len(videos) / (time.perf_counter() - t0)


def ffmpeg_binary() -> str | None:
    if os.environ.get("FFMPEG"):
        return os.environ["FFMPEG"]
    try:
        import imageio_ffmpeg
    except ImportError:
        return shutil.which("ffmpeg")
    return imageio_ffmpeg.get_ffmpeg_exe()


def against_ffmpeg(videos: list[Path], folders: list[Path], n: int = 4) -> dict:
    """TSM's command on ``n`` videos; the largest pixel difference to our frames."""
    exe = ffmpeg_binary()
    if exe is None:
        return {"checked": False, "why": "no ffmpeg binary ($FFMPEG, imageio-ffmpeg or PATH)"}
    version = subprocess.run([exe, "-version"], capture_output=True, text=True).stdout.splitlines()[0]
    worst, frames = 0, 0
    for v, ours in zip(videos[:n], folders[:n]):
        out = PREPARED.parent / "ffmpeg-check" / v.stem
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        subprocess.run([exe, "-loglevel", "error", "-i", str(v), "-threads", "1", "-vf", f"scale=-1:{HEIGHT}",
                        "-q:v", "0", str(out / "%06d.jpg")], check=True)
        a, b = decode_frames(ours).astype(int), decode_frames(out).astype(int)
        assert a.shape == b.shape, (v, a.shape, b.shape)
        worst, frames = max(worst, int(np.abs(a - b).max())), frames + len(a)
    return {"checked": True, "ffmpeg": version, "videos": n, "frames": frames, "max_abs_pixel_difference": worst,
            "command": f"ffmpeg -i VIDEO -threads 1 -vf scale=-1:{HEIGHT} -q:v 0 OUT/%06d.jpg"}


def decoded_on(dl, device) -> float:
    """Clips/s of workers that read JPEG bytes only, the batch decoded, cut and resized on ``device``."""
    t0, seen = time.perf_counter(), 0
    for b in dl:
        b = on_device(b, device)
        seen += len(b["label"]) if "video" in b else 0
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return seen / (time.perf_counter() - t0)


def split_time(ds, reps: int = 3) -> dict:
    """Seconds per clip spent decoding the JPEGs, and in the whole item (decode + transforms)."""
    t_dec = t_all = 0.0
    for _ in range(reps):
        for i, r in enumerate(ds.records):
            rng = np.random.default_rng([ds.seed, 0, i])
            t0 = time.perf_counter()
            decode_frames(r.path, lambda n: ds._pick(n, rng))
            t1 = time.perf_counter()
            ds[i]
            t2 = time.perf_counter()
            t_dec, t_all = t_dec + (t1 - t0), t_all + (t2 - t1)
    n = reps * len(ds.records)
    return {"jpeg_decode_ms_per_clip": round(1000 * t_dec / n, 2), "item_ms_per_clip": round(1000 * t_all / n, 2),
            "decode_share": round(t_dec / t_all, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--dry-run", action="store_true", help="6 tiny smoke videos, 1 pass, nothing written")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.dry_run:
        from repro.data import smoke

        a.passes = 1
        videos = sorted((smoke.ensure_layout("ssv2", REPO / ".cache") / "20bn-something-something-v2").glob("*.webm"))[:6]
    else:
        videos = ensure_inputs("webm")
    folders, prep_rate = prepare_all(videos)
    check = against_ffmpeg(videos, folders)
    webm, geometry = dataset("webm", videos)
    frames, _ = dataset("webm", folders)
    reps = 1 if a.dry_run else max(1, round(4.0 * 40 / len(videos)))  # about 4 s a pass at ~40 clips/s for webm
    webm.records, frames.records = webm.records * reps, frames.records * reps
    loaders = {"webm": make_loader(webm, 1), "frames": make_loader(frames, 1)}
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda" or a.dry_run:  # the GPU decode path (on CPU only as a dry run)
        gpu, _ = dataset("webm", folders)
        gpu.records, gpu.jpeg = gpu.records * reps, True
        loaders["frames_gpu_decode"] = make_loader(gpu, 1)
        decoded_on(loaders["frames_gpu_decode"], device)  # the decoder's first call loads it: not timed
    runs: dict[str, list[float]] = {k: [] for k in loaders}
    for _ in range(a.passes):  # interleaved: a noisy minute hurts both alike
        for k, dl in loaders.items():
            runs[k].append(loader(dl) if k != "frames_gpu_decode" else decoded_on(dl, device))
    med = {k: round(statistics.median(v), 2) for k, v in runs.items()}
    frames.records = frames.records[:len(videos)]
    if a.dry_run:
        print(json.dumps({"dry_run": True, "clips_per_s": med, "ffmpeg": check, "split": split_time(frames, 1)}))
        return
    record = {
        "command": "python bench/prepared_frames.py " + " ".join(sys.argv[1:]),
        "inputs": {k: v for k, v in properties("webm").items() if k != "videos"}, "videos": len(videos),
        "recipe": "tsm (SSv2)", "geometry": geometry, "loader_workers": 1, "torch_threads": 1, "passes": a.passes,
        "prepare_videos_per_s_one_core": round(prep_rate, 2),
        "prepared_bytes_per_video": int(sum(f.stat().st_size for d in folders for f in d.iterdir()) / len(folders)),
        "webm_bytes_per_video": int(sum(v.stat().st_size for v in videos) / len(videos)),
        "matches_tsm_ffmpeg": check,
        "clips_per_s_one_worker_median": med,
        "clips_per_s_passes": {k: [round(x, 2) for x in v] for k, v in runs.items()},
        "ratio_frames_over_webm": round(med["frames"] / med["webm"], 3), "goal": GOAL,
        "gpu_decode": ({"device": torch.cuda.get_device_name(device), "clips_per_s": med["frames_gpu_decode"]}
                       if device.type == "cuda" else "not measured: no CUDA device"),
        "met": med["frames"] / med["webm"] >= GOAL,
        "frames_clip_time": split_time(frames),
    }
    write_record(OUT, record)
    print(json.dumps({k: record[k] for k in ("clips_per_s_one_worker_median", "ratio_frames_over_webm",
                                             "prepare_videos_per_s_one_core", "frames_clip_time")}, indent=2))
    print(json.dumps(check))


if __name__ == "__main__":
    main()
