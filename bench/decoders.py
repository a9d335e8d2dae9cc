"""Decoder comparison on the inputs of bench/inputs.py: clips/s of TSN training sampling and agreement.

For each format (SSv2-like VP9 webm, Kinetics-like H.264 mp4, SSv1-like JPEG folders), every
decoder reads the 8 frames that ``tsn_indices(n, 8, True, rng)`` picks from each of the 24 videos,
one clip per video, single process, one decoding thread:

- video: decord 0.6.0 and PyAV through ``repro.data.video.decode`` (the harness's path), PyAV
  with its default threading, PyAV seeking to every index, and decord2 (the maintained fork; it
  installs as a package named ``decord``, so it runs in a worker subprocess whose PYTHONPATH puts
  its target folder first). torchcodec is installed into its own folder and tried in a
  subprocess: whether it can open a video (and the reason if not) is recorded; it is not timed.
- JPEG folders: PIL (the harness's reader until this comparison chose torchvision),
  ``torchvision.io.decode_jpeg`` on ``torchvision.io.read_file`` bytes, the harness's
  ``repro.data.ssv1.decode_frames`` (now torchvision), and PyAV's mjpeg decoder.

Timing: a warm-up pass, then PASSES passes interleaved clip by clip (for each video every
decoder in turn, the order rotated from video to video), the same indices for every decoder
within a pass; the median pass gives clips/s, from wall time and from the process's CPU time
(steadier on a shared machine), plus the median per-pass speed ratio to the reference decoder.

Agreement: every decoder decodes the same indices of every video and is compared with the
reference (decord 0.6.0 for video, PIL for JPEG): frame count, shape, and the mean/max absolute
pixel difference, next to the mean difference between neighbouring frames (what an off-by-one
index would show). A sweep of narrow frame widths records where decord builds return wrong
shapes. Writes bench/results/decoders.json.
Usage: .venv/bin/python bench/decoders.py [--passes N]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch loads

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

# PyAV before decord (repro.data.video imports decord lazily): see the note there.
import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: bench/ is not a package
from inputs import FORMATS, ROOT, ensure_inputs, ensure_width_sweep, properties  # noqa: E402

from repro.data.sampling import tsn_indices  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "decoders.json"
CACHE = ROOT.parent
PKG_DIRS = {"decord2": CACHE / "pkgs", "torchcodec": CACHE / "torchcodec"}
PIP = Path(sys.executable).with_name("pip")
SEGMENTS, PASSES = 8, 5
# A decoder agrees with the reference when, in every video, the mean absolute difference
# (0-255 units) is at most this AND under half the mean difference between neighbouring frames
# of that video, so that colour-conversion rounding between FFmpeg builds passes but a frame
# one index off cannot (neighbours in the slowly panning Kinetics-like clips can differ by
# less than the absolute bound).
TOL_MEAN_ABS = 1.0
Decoder = Callable[[Path, Callable[[int], np.ndarray]], np.ndarray]


def pick_for(key: tuple[int, ...]) -> Callable[[int], np.ndarray]:
    """TSN training indices from a generator seeded by ``key``: same key, same frames for all."""
    return lambda n: tsn_indices(n, SEGMENTS, True, np.random.default_rng(list(key)))


# --- decoders ---------------------------------------------------------------------------------

def decord_clip(path: Path, pick) -> np.ndarray:
    """decord's reader as the harness uses it; imports whichever ``decord`` the path provides."""
    import decord

    vr = decord.VideoReader(str(path), num_threads=1)
    return vr.get_batch([int(i) for i in pick(len(vr))]).asnumpy()


def pyav_seek(path: Path, pick) -> np.ndarray:
    """Seek to each wanted frame (FFmpeg lands on the key frame before it) and decode up to it."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        pts = sorted(pk.pts for pk in c.demux(s) if pk.size)  # presentation order
        idx = [int(i) for i in pick(len(pts))]
        got = {}
        for i in sorted(set(idx)):
            c.seek(pts[i], stream=s, backward=True)
            for frame in c.decode(s):
                if frame.pts >= pts[i]:
                    got[i] = frame.to_ndarray(format="rgb24")
                    break
        return np.stack([got[i] for i in idx])


def pil_jpeg(folder: Path, pick) -> np.ndarray:
    """PIL, as repro.data.ssv1.decode_frames read frames until issue 12: the JPEG reference."""
    from PIL import Image

    from repro.data.ssv1 import frame_files

    files = frame_files(folder)
    out = []
    for i in pick(len(files)):
        with Image.open(files[int(i)]) as im:
            out.append(np.asarray(im.convert("RGB")))
    return np.stack(out)


def tv_jpeg(folder: Path, pick) -> np.ndarray:
    from torchvision.io import decode_jpeg, read_file

    from repro.data.ssv1 import frame_files

    files = frame_files(folder)
    return np.stack([decode_jpeg(read_file(str(files[int(i)]))).permute(1, 2, 0).numpy()
                     for i in pick(len(files))])


def pyav_jpeg(folder: Path, pick) -> np.ndarray:
    from repro.data.ssv1 import frame_files

    files = frame_files(folder)
    out = []
    for i in pick(len(files)):
        with av.open(str(files[int(i)])) as c:
            s = c.streams.video[0]
            s.codec_context.thread_count = 1
            out.append(next(c.decode(s)).to_ndarray(format="rgb24"))
    return np.stack(out)


def in_process_decoders(fmt: str) -> dict[str, Decoder]:
    from repro.data.ssv1 import decode_frames
    from repro.data.video import _decode_pyav, decode

    if fmt == "jpeg":
        return {"pil": pil_jpeg, "torchvision.decode_jpeg": tv_jpeg,
                "harness (ssv1.decode_frames: torchvision)": decode_frames, "pyav mjpeg": pyav_jpeg}
    return {"decord 0.6.0": lambda p, pick: decode(p, pick, backend="decord"),
            "pyav sequential (backend)": lambda p, pick: decode(p, pick, backend="pyav"),
            "pyav sequential, default threading": lambda p, pick: _decode_pyav(p, pick, None),
            "pyav seek per index": pyav_seek}


# --- decord2 / torchcodec: separate install folders, separate processes ------------------------

def install(pkg: str) -> dict:
    """``pip install --target`` into the package's own folder (once), never into the venv."""
    target = PKG_DIRS[pkg]
    if any(target.glob(f"{pkg}-*.dist-info")):
        return {"installed": True, "target": str(target), "pip": "already in target"}
    proc = subprocess.run([str(PIP), "install", "--target", str(target), "--no-deps", pkg],
                          capture_output=True, text=True, timeout=600)
    return {"installed": proc.returncode == 0, "target": str(target),
            "pip": (proc.stdout + proc.stderr).strip().splitlines()[-1:]}


def dist_version(pkg: str) -> str | None:
    found = sorted(PKG_DIRS[pkg].glob(f"{pkg}-*.dist-info"))
    return found[0].name[len(pkg) + 1 : -len(".dist-info")] if found else None


def torchcodec_probe(video: Path) -> dict:
    """Whether torchcodec, from its own folder, can open a video; the error's gist if not."""
    code = ("import torch; torch.set_num_threads(1);"
            "from torchcodec.decoders import VideoDecoder;"
            f"d = VideoDecoder({str(video)!r}, num_ffmpeg_threads=1); print(len(d))")
    env = {**os.environ, "PYTHONPATH": str(PKG_DIRS["torchcodec"])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    if proc.returncode == 0:
        return {"works": True, "frames": proc.stdout.strip()}
    lines = proc.stderr.splitlines()
    missing = sorted({ln.split(":")[1].strip() for ln in lines
                      if ln.startswith("OSError: lib") and "cannot open shared object" in ln})
    last = [ln for ln in lines if ln.startswith("RuntimeError")][-1:]
    return {"works": False, "error": last[0] if last else lines[-1:],
            "missing_shared_libraries": missing}


class Worker:
    """A subprocess running this file with ``--worker``: decord2 importable as ``decord``."""

    def __init__(self, pkg_dir: Path) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pkg_dir), os.environ.get("PYTHONPATH", "")])}
        self.proc = subprocess.Popen([sys.executable, __file__, "--worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)

    def ask(self, **msg) -> dict:
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if "error" in reply:
            raise RuntimeError(f"decord2 worker: {reply['error']}")
        return reply

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def worker_main() -> None:
    """Serve ``version``, ``frames`` (decode to an .npz), ``widths`` and ``clip`` (time one
    clip) requests on stdin, one JSON object a line."""
    import decord

    for line in sys.stdin:
        msg = json.loads(line)
        try:
            if msg["op"] == "version":
                reply = {"version": decord.__version__, "file": decord.__file__}
            elif msg["op"] == "frames":
                reply = decode_all(decord_clip, [Path(p) for p in msg["paths"]], msg["key"], msg["out"])
            elif msg["op"] == "widths":
                reply = {"failing": failing_widths(decord_clip, [Path(p) for p in msg["paths"]])}
            else:
                wall, cpu = timed_clip(decord_clip, Path(msg["path"]), tuple(msg["key"]))
                reply = {"wall": wall, "cpu": cpu}
        except Exception as e:  # report it to the parent, which records it
            reply = {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300]}"}
        print(json.dumps(reply), flush=True)


# --- measurement ------------------------------------------------------------------------------

def decode_all(fn: Decoder, paths: list[Path], key: list[int], out: str) -> dict:
    """Decode one clip per video; save the arrays to ``out`` and return the frame counts seen."""
    counts, arrays = [], {}
    for v, p in enumerate(paths):
        pick = pick_for((*key, v))
        seen: list[int] = []
        arrays[str(v)] = fn(p, lambda n, pick=pick, seen=seen: (seen.append(n), pick(n))[1])
        counts.append(seen[0])
    np.savez(out, **arrays)
    return {"counts": counts}


def compare(ref: dict, ref_counts: list[int], other: dict, counts: list[int],
            neighbour: list[float]) -> dict:
    """Per-video agreement of ``other`` with ``ref`` folded into worst cases and a verdict."""
    mads, maxes, shapes_ok, within = [], [], True, True
    for v in range(len(ref_counts)):
        a, b = ref[str(v)], other[str(v)]
        shapes_ok &= a.shape == b.shape and b.dtype == np.uint8
        if a.shape == b.shape:
            d = np.abs(a.astype(np.int16) - b.astype(np.int16))
            mads.append(float(d.mean()))
            maxes.append(int(d.max()))
            within &= mads[-1] <= min(TOL_MEAN_ABS, neighbour[v] / 2)
    counts_ok = counts == ref_counts
    exact = shapes_ok and counts_ok and max(maxes, default=1) == 0
    within &= shapes_ok and counts_ok
    return {"frame_counts_equal": counts_ok, "shapes_equal": shapes_ok,
            "mean_abs_diff_worst_video": round(max(mads, default=float("nan")), 4),
            "max_abs_diff": max(maxes, default=None),
            "verdict": "bit-exact" if exact else ("within tolerance" if within else "DIFFERS")}


def neighbour_mad(fn: Decoder, paths: list[Path], key: list[int]) -> list[float]:
    """Mean |frame i - frame i+1| per video: how far a decoder off by one index would land."""
    out = []
    for v, p in enumerate(paths):
        pick = pick_for((*key, v))
        a = fn(p, pick)
        b = fn(p, lambda n, pick=pick: np.minimum(pick(n) + 1, n - 1))
        moved = [i for i in range(len(a)) if not np.array_equal(a[i], b[i])] or [0]
        out.append(float(np.abs(a[moved].astype(np.int16) - b[moved]).mean()))
    return out


def check_agreement(fmt: str, decoders: dict, worker: Worker | None, paths: list[Path],
                    tmp: Path) -> dict:
    key = [999]
    names = list(decoders) + (["decord2"] if worker else [])
    ref_name = names[0]
    results, arrays = {}, {}
    for name in names:
        out = str(tmp / f"{fmt}-{len(arrays)}.npz")
        try:
            counts = (worker.ask(op="frames", paths=[str(p) for p in paths], key=key, out=out)
                      if name == "decord2" else decode_all(decoders[name], paths, key, out))["counts"]
        except Exception as e:  # a decoder that cannot read the inputs is a result, not a crash
            results[name] = {"verdict": "FAILED", "error": f"{type(e).__name__}: {str(e)[:300]}"}
            continue
        with np.load(out) as z:
            arrays[name] = ({k: z[k] for k in z.files}, counts)
    neighbour = neighbour_mad(decoders[ref_name], paths, key)
    ref, ref_counts = arrays[ref_name]
    for name, (arr, counts) in arrays.items():
        results[name] = compare(ref, ref_counts, arr, counts, neighbour)
    return {"reference": ref_name,
            "tolerance": f"per video: mean |diff| <= min({TOL_MEAN_ABS}, neighbour-frame mean |diff| / 2)",
            "neighbour_frame_mean_abs_diff": {"min_video": round(min(neighbour), 3),
                                              "median_video": round(float(np.median(neighbour)), 3)},
            "decoders": results}


def failing_widths(fn: Decoder, paths: list[Path]) -> list[int]:
    """Widths (from ``<h>x<w>.webm`` names) whose frames do not come back as ``(2, h, w, 3)``."""
    bad = []
    for p in paths:
        h, w = map(int, p.stem.split("x"))
        try:
            ok = fn(p, lambda n: np.arange(n)).shape == (2, h, w, 3)
        except Exception:  # decord raises for these widths; any failure counts
            ok = False
        if not ok:
            bad.append(w)
    return bad


def width_sweep(worker: Worker | None) -> dict:
    from repro.data.video import decode

    paths = ensure_width_sweep()
    widths = [int(p.stem.split("x")[1]) for p in paths]
    found = {"decord 0.6.0": failing_widths(lambda p, pick: decode(p, pick, backend="decord"), paths),
             "pyav (backend)": failing_widths(lambda p, pick: decode(p, pick, backend="pyav"), paths)}
    if worker:
        found["decord2"] = worker.ask(op="widths", paths=[str(p) for p in paths])["failing"]
    return {"videos": f"2-frame VP9 webm, height {paths[0].stem.split('x')[0]}, "
                      f"widths {widths[0]}..{widths[-1]} step {widths[1] - widths[0]}",
            "failing_widths": found}


def measure(fmt: str, decoders: dict, worker: Worker | None, paths: list[Path], passes: int,
            usable: set[str]) -> dict:
    """Interleaved clip by clip: for each video every decoder in turn, the order rotated from
    one video to the next, so a burst of load from other processes hits all decoders alike."""
    names = [n for n in list(decoders) + ["decord2"] if n in usable]

    def clip(name: str, path: Path, key: tuple[int, ...]) -> tuple[float, float]:
        if name == "decord2":
            r = worker.ask(op="clip", path=str(path), key=list(key))
            return r["wall"], r["cpu"]
        return timed_clip(decoders[name], path, key)

    for v, path in enumerate(paths):  # warm-up: libraries loaded, files in the page cache
        for name in names:
            clip(name, path, (0, v))
    wall = {n: [0.0] * passes for n in names}
    cpu = {n: [0.0] * passes for n in names}
    for k in range(passes):
        for v, path in enumerate(paths):
            r = (k * len(paths) + v) % len(names)
            for name in names[r:] + names[:r]:
                w, c = clip(name, path, (k + 1, v))
                wall[name][k] += w
                cpu[name][k] += c
    return summarise(names, wall, cpu, len(paths))


def timed_clip(fn: Decoder, path: Path, key: tuple[int, ...]) -> tuple[float, float]:
    """(wall, CPU) seconds of one clip; CPU time counts every thread of this process."""
    pick = pick_for(key)
    w0, c0 = time.perf_counter(), time.process_time()
    fn(path, pick)
    return time.perf_counter() - w0, time.process_time() - c0


def summarise(names: list[str], wall: dict, cpu: dict, clips: int) -> dict:
    """Median clips/s over passes (wall and CPU time), ratios to the fastest, and the median of
    per-pass ratios to the first (reference) decoder, which pairs decoders within a pass."""
    rate = lambda secs: float(np.median([clips / s for s in secs]))  # noqa: E731
    walls, cpus = {n: rate(wall[n]) for n in names}, {n: rate(cpu[n]) for n in names}
    ref = names[0]
    out = {}
    for n in names:
        paired = np.median([wall[ref][k] / wall[n][k] for k in range(len(wall[n]))])
        out[n] = {"clips_per_s_median": round(walls[n], 2),
                  "ratio_to_fastest": round(walls[n] / max(walls.values()), 3),
                  "cpu_clips_per_s_median": round(cpus[n], 2),
                  "cpu_ratio_to_fastest": round(cpus[n] / max(cpus.values()), 3),
                  f"speed_vs_{ref.split()[0]}_paired_median": round(float(paired), 3),
                  "clips_per_s_per_pass": [round(clips / s, 2) for s in wall[n]]}
    return out


# --- report -----------------------------------------------------------------------------------

def versions(worker: Worker | None) -> dict:
    import decord
    import PIL
    import PIL.features
    import torch
    import torchvision

    return {"python": platform.python_version(), "numpy": np.__version__, "av": av.__version__,
            "pyav_ffmpeg": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()},
            "decord": decord.__version__,
            "decord2": worker.ask(op="version")["version"] if worker else dist_version("decord2"),
            "torchcodec": dist_version("torchcodec"), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "pillow": PIL.__version__,
            "pillow_libjpeg_turbo": PIL.features.version("libjpeg_turbo")}


def input_record(fmt: str) -> dict:
    p = properties(fmt)
    return {k: p[k] for k in ("summary", "encoder", "content", "generation_s", "gop_check", "videos")
            if k in p}


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, default=PASSES)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main()
    import torch

    torch.set_num_threads(1)
    inputs = {fmt: ensure_inputs(fmt) for fmt in FORMATS}
    installs = {pkg: install(pkg) for pkg in PKG_DIRS}
    installs["decord2"]["imports_as"] = "decord (clashes with decord 0.6.0): measured in a subprocess"
    installs["torchcodec"].update(torchcodec_probe(inputs["webm"][0]))
    worker = Worker(PKG_DIRS["decord2"]) if installs["decord2"]["installed"] else None
    record = {"command": "python bench/decoders.py" + (f" --passes {args.passes}" if args.passes != PASSES else ""),
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "cpu_count": os.cpu_count(),
              "torch_threads": torch.get_num_threads(), "passes": args.passes,
              "clip": f"{SEGMENTS} frames, tsn_indices(n, {SEGMENTS}, train=True), one clip per video per pass",
              "versions": versions(worker), "installs": installs,
              "pyav_threading": "'pyav sequential (backend)': thread_count=1; 'default threading': "
                                "PyAV's default (thread_type SLICE, thread_count 0 = FFmpeg's auto)",
              "inputs": {}, "agreement": {}, "clips_per_s": {}}
    try:
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            for fmt in FORMATS:
                decoders = in_process_decoders(fmt)
                w = worker if fmt != "jpeg" else None
                agree = check_agreement(fmt, decoders, w, inputs[fmt], Path(tmp))
                usable = {n for n, r in agree["decoders"].items() if r["verdict"] != "FAILED"}
                record["inputs"][fmt] = input_record(fmt)
                record["agreement"][fmt] = agree
                record["clips_per_s"][fmt] = measure(fmt, decoders, w, inputs[fmt], args.passes, usable)
                print(fmt, json.dumps(record["clips_per_s"][fmt]), file=sys.stderr, flush=True)
        record["narrow_width_check"] = width_sweep(worker)
    finally:
        if worker:
            worker.close()
    record["fastest_agreeing"] = {
        fmt: max((n for n, r in rates.items()
                  if record["agreement"][fmt]["decoders"][n]["verdict"] in ("bit-exact", "within tolerance")),
                 key=lambda n: rates[n]["clips_per_s_median"])
        for fmt, rates in record["clips_per_s"].items()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
