"""Generated benchmark inputs in the three on-disk formats the harness reads, for bench/decoders.py.

- ``webm``: Something-Something-V2-like VP9 ``.webm``, height 240, width 320-427, 12 fps, 2-6 s;
- ``jpeg``: Something-Something-V1-like folders of ``00001.jpg ...`` frames, height 100,
  width 132-176, 12 fps, 2-6 s, PIL quality 90;
- ``mp4``: Kinetics-like H.264 ``.mp4``, short side 256-320, 16:9 or 4:3, 10 s at 25 or 30 fps.

Content comes from the synthetic renderer (moving objects over distractors) with what real
footage adds for a codec: a static fine texture, a slow camera pan (so inter-frame prediction
has motion to track) and a little sensor noise per frame. Both video codecs keep their default
GOP and frame-type decisions (no keyframe interval is set, unlike ``synthetic.write_webm`` which
is intra-only on purpose); only speed knobs are set, to keep generation short.

Files live under ``<repo>/.cache/bench/inputs-v<N>/<fmt>/`` (git-ignored), are generated once,
and are reused while that folder holds its ``DONE`` marker; ``props.json`` beside it records
what was actually written (sizes, fps, frame counts, the frame types of one file).
Usage: .venv/bin/python bench/inputs.py [webm|jpeg|mp4 ...]
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Iterator

# PyAV before decord (anything that may import it later in this process): once decord's FFmpeg
# is loaded, PyAV can no longer open libvpx-vp9 for encoding (see repro/data/video.py).
import av
import numpy as np

from repro.data.synthetic import CLASSES, Difficulty, render

FORMATS = ("webm", "jpeg", "mp4")
N_VIDEOS = 24
VERSION = 1  # bump when the generator or its settings change: a new folder is generated
ROOT = Path(__file__).resolve().parents[1] / ".cache" / "bench" / f"inputs-v{VERSION}"
TEXTURE_STD, NOISE_STD = 8.0, 2.0  # 0-255 units
# Only speed knobs; GOP length, B-frames and reference frames stay at the encoders' defaults.
VP9_OPTIONS = {"crf": "32", "b": "0", "deadline": "good", "cpu-used": "4", "row-mt": "0",
               "threads": "1"}
X264_OPTIONS = {"preset": "veryfast", "threads": "1"}  # crf: x264's default (23)
JPEG_QUALITY = 90


def _geometry(fmt: str, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(height, width, fps, frames) of one video, drawn like the dataset it imitates."""
    even = lambda x: int(round(x / 2)) * 2  # noqa: E731 - yuv420p needs even sizes
    if fmt == "webm":
        return 240, even(rng.uniform(320, 427)), 12, int(round(rng.uniform(2, 6) * 12))
    if fmt == "jpeg":
        return 100, int(rng.integers(132, 177)), 12, int(round(rng.uniform(2, 6) * 12))
    short = even(rng.uniform(256, 320))
    aspect = float(rng.choice([16 / 9, 4 / 3]))
    fps = int(rng.choice([25, 30]))
    return short, even(short * aspect), fps, 10 * fps


def _frames(i: int, h: int, w: int, n: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """``n`` frames ``(h, w, 3)`` uint8: a rendered scene seen through a panning camera.

    The renderer draws squares, so the scene is rendered at height + pan margin and mirrored
    out to the width; the camera window then slides across the margin over the clip.
    """
    pan = max(8, h // 10)
    s, wp = h + pan, w + pan
    scene, _ = render(CLASSES[i % len(CLASSES)], rng, Difficulty(size=s, frames=n))
    texture = rng.normal(0.0, TEXTURE_STD, (s + 1, wp + 1))
    texture = (texture[1:, 1:] + texture[:-1, 1:] + texture[1:, :-1] + texture[:-1, :-1]) / 2
    texture = np.rint(texture).astype(np.int16)[..., None]
    left = (wp - s) // 2
    # Fresh Gaussian noise for every frame costs more than rendering and encoding together at
    # Kinetics sizes; random windows into a few larger noise planes differ from frame to frame
    # just as well.
    bank = np.rint(rng.standard_normal((4, h + 16, w + 16, 3)) * NOISE_STD).astype(np.int16)
    for t in range(n):
        u = t / max(1, n - 1)
        x0, y0 = int(round(pan * u)), int(round(pan * 0.5 * (1 - np.cos(np.pi * u))))
        frame = scene[t]
        if wp > s:
            frame = np.pad(frame, ((0, 0), (left, wp - s - left), (0, 0)), mode="reflect")
        k, dy, dx = rng.integers(0, [4, 17, 17])
        img = frame[y0 : y0 + h, x0 : x0 + w].astype(np.int16) + texture[y0 : y0 + h, x0 : x0 + w]
        yield np.clip(img + bank[k, dy : dy + h, dx : dx + w], 0, 255).astype(np.uint8)


def _encode(path: Path, frames: Iterator[np.ndarray], h: int, w: int, fps: int, fmt: str) -> None:
    container, codec, options = (("webm", "libvpx-vp9", VP9_OPTIONS) if fmt == "webm"
                                 else ("mp4", "libx264", X264_OPTIONS))
    with av.open(str(path), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuv420p"
        stream.options = dict(options)
        for arr in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _write_jpegs(folder: Path, frames: Iterator[np.ndarray]) -> None:
    from PIL import Image

    folder.mkdir()
    for t, arr in enumerate(frames, 1):
        Image.fromarray(arr).save(folder / f"{t:05d}.jpg", quality=JPEG_QUALITY)


def _count_type(types: dict, frame) -> None:
    name = av.video.frame.PictureType(frame.pict_type).name  # PyAV 18 reports a plain int
    types[name] = types.get(name, 0) + 1


def frame_types(path: Path) -> dict:
    """Packet and decoded-frame statistics of one video: keyframes, I/P/B counts, stream.frames."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        meta = int(s.frames)
        keys, packets, types = 0, 0, {}
        for packet in c.demux(s):
            if packet.size == 0:
                continue  # the demuxer's final flush packet
            packets += 1
            keys += bool(packet.is_keyframe)
            for frame in packet.decode():
                _count_type(types, frame)
        for frame in s.decode(None):
            _count_type(types, frame)
    return {"file": path.name, "packets": packets, "keyframe_packets": keys,
            "decoded_frame_types": types, "decoded_frames": sum(types.values()),
            "stream_frames_metadata": meta}


def _generate(fmt: str, folder: Path) -> dict:
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    videos = []
    for i in range(N_VIDEOS):
        rng = np.random.default_rng([VERSION, FORMATS.index(fmt), i])
        h, w, fps, n = _geometry(fmt, rng)
        frames = _frames(i, h, w, n, rng)
        name = f"{i:03d}" if fmt == "jpeg" else f"{i:03d}.{fmt}"
        if fmt == "jpeg":
            _write_jpegs(tmp / name, frames)
            size = sum(f.stat().st_size for f in (tmp / name).iterdir())
        else:
            _encode(tmp / name, frames, h, w, fps, fmt)
            size = (tmp / name).stat().st_size
        videos.append({"name": name, "height": h, "width": w, "fps": fps, "frames": n, "bytes": size})
    props = {"format": fmt, "videos": videos, "generation_s": round(time.perf_counter() - t0, 1),
             "content": f"synthetic renderer + static texture (std {TEXTURE_STD}), camera pan, "
                        f"per-frame noise (std {NOISE_STD})",
             "encoder": _encoder_record(fmt)}
    if fmt != "jpeg":
        props["gop_check"] = frame_types(tmp / videos[0]["name"])
    (tmp / "props.json").write_text(json.dumps(props, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    (folder / "DONE").write_text("")
    return props


def _encoder_record(fmt: str) -> dict:
    if fmt == "jpeg":
        from PIL import __version__ as pil

        return {"writer": f"PIL {pil}", "quality": JPEG_QUALITY}
    codec, options = ("libvpx-vp9", VP9_OPTIONS) if fmt == "webm" else ("libx264", X264_OPTIONS)
    return {"codec": codec, "pyav": av.__version__, "pix_fmt": "yuv420p", "options": options,
            "gop": "encoder default (no keyframe interval set)"}


def ensure_width_sweep(height: int = 32, widths: range = range(16, 202, 2)) -> list[Path]:
    """Two-frame black VP9 webm files, one per frame width: decord builds mishandle some narrow
    widths (dmlc/decord#336), which this sweep locates. Generated once, like the inputs."""
    folder = ROOT / f"widths-{height}"
    paths = [folder / f"{height}x{w}.webm" for w in widths]
    if (folder / "DONE").exists() and all(p.exists() for p in paths):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    for p, w in zip(paths, widths):
        _encode(p, iter(np.zeros((2, height, w, 3), np.uint8)), height, w, 12, "webm")
    (folder / "DONE").write_text("")
    return paths


def ensure_inputs(fmt: str) -> list[Path]:
    """The benchmark inputs of ``fmt`` (``webm`` | ``jpeg`` | ``mp4``), generating them if absent."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r}; use one of {', '.join(FORMATS)}")
    folder = ROOT / fmt
    if not (folder / "DONE").exists():
        _generate(fmt, folder)
    return [folder / v["name"] for v in properties(fmt)["videos"]]


def properties(fmt: str) -> dict:
    """What :func:`ensure_inputs` wrote for ``fmt`` (its ``props.json``), plus a summary."""
    props = json.loads((ROOT / fmt / "props.json").read_text())
    vids = props["videos"]
    span = lambda k: [min(v[k] for v in vids), max(v[k] for v in vids)]  # noqa: E731
    props["summary"] = {"videos": len(vids), "height": span("height"), "width": span("width"),
                        "fps": sorted({v["fps"] for v in vids}), "frames": span("frames"),
                        "total_bytes": sum(v["bytes"] for v in vids)}
    return props


def main(argv: list[str]) -> None:
    for fmt in argv or FORMATS:
        ensure_inputs(fmt)
        p = properties(fmt)
        print(json.dumps({"format": fmt, "root": str(ROOT / fmt), "generation_s": p["generation_s"],
                          **p["summary"], "gop_check": p.get("gop_check")}))


if __name__ == "__main__":
    main(sys.argv[1:])
