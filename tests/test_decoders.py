"""The video backends of repro.data.video: same frames and frame count from each, errors naming the file."""
from __future__ import annotations

from pathlib import Path

import av  # before decord (imported by the decord backend): see repro/data/video.py
import numpy as np
import pytest

from repro.data.video import BACKENDS, DEFAULT_BACKEND, DecodeError, decode

# The agreement bound of bench/decoders.py (mean |diff| in 0-255 units): colour-conversion
# rounding between the backends' FFmpeg builds passes, a neighbouring frame does not.
TOL_MEAN_ABS = 1.0
FRAMES, SIZE = 8, 32


@pytest.fixture(scope="module")
def tiny_webm(tmp_path_factory) -> Path:
    """An 8-frame 32x32 VP9 webm of a square sliding over a gradient, at the encoder's default
    GOP, so that all but the first frame are inter-coded."""
    path = tmp_path_factory.mktemp("video") / "tiny.webm"
    ramp = np.linspace(30, 200, SIZE, dtype=np.float32)
    with av.open(str(path), mode="w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=12)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "b": "0", "deadline": "realtime", "cpu-used": "8", "threads": "1"}
        for t in range(FRAMES):
            img = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (SIZE, 1)), np.full((SIZE, SIZE), 90)], -1)
            img[10:20, 2 + 3 * t : 12 + 3 * t] = (240, 40, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img.astype(np.uint8), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def test_fixture_is_inter_coded(tiny_webm):
    with av.open(str(tiny_webm)) as c:
        keys = [p.is_keyframe for p in c.demux(c.streams.video[0]) if p.size]
    assert len(keys) == FRAMES and sum(keys) < FRAMES


def test_every_backend_decodes_the_same_frames(tiny_webm):
    ref = decode(tiny_webm, backend="decord")
    assert ref.shape == (FRAMES, SIZE, SIZE, 3) and ref.dtype == np.uint8
    assert _mad(ref[1], ref[0]) > 2 * TOL_MEAN_ABS, "neighbouring frames must be told apart"
    idx = np.array([0, 3, 3, 7])  # repeats, as tsn_indices gives for short videos
    for backend in BACKENDS:
        seen: list[int] = []
        clip = decode(tiny_webm, lambda n: (seen.append(n), idx)[1], backend=backend)
        assert seen == [FRAMES], f"{backend} counts {seen} frames"
        assert clip.shape == (len(idx), SIZE, SIZE, 3) and clip.dtype == np.uint8, backend
        assert _mad(clip, ref[idx]) <= TOL_MEAN_ABS, backend
        whole = decode(tiny_webm, backend=backend)
        assert whole.shape == ref.shape and _mad(whole, ref) <= TOL_MEAN_ABS, backend


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_or_broken_file_raises_decode_error_naming_it(tmp_path, backend):
    with pytest.raises(DecodeError, match="nowhere.webm"):
        decode(tmp_path / "nowhere.webm", backend=backend)
    bad = tmp_path / "broken.webm"
    bad.write_bytes(b"\x1aE\xdf\xa3 this is not a video")
    with pytest.raises(DecodeError, match="broken.webm"):
        decode(bad, backend=backend)


def test_unknown_backend_names_the_valid_ones(tiny_webm):
    assert DEFAULT_BACKEND in BACKENDS
    with pytest.raises(ValueError, match="opencv") as err:
        decode(tiny_webm, backend="opencv")
    assert all(b in str(err.value) for b in BACKENDS)


def test_narrow_widths_decord_cannot_copy_are_read_by_pyav(tmp_path):
    """decord 0.6.0 fails on some widths (48 px here; dmlc/decord#336): the default backend
    falls back to PyAV, at the indices already drawn (pick is called once)."""
    path = tmp_path / "narrow.webm"
    with av.open(str(path), mode="w", format="webm") as out:
        stream = out.add_stream("libvpx-vp9", rate=12)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for t in range(FRAMES):
            img = np.full((32, 48, 3), 25 * t, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    calls: list[int] = []
    clip = decode(path, lambda n: (calls.append(n), np.array([1, 6]))[1])
    assert calls == [FRAMES] and clip.shape == (2, 32, 48, 3)
    assert np.array_equal(clip, decode(path, lambda n: np.array([1, 6]), backend="pyav"))


def test_jpeg_frames_read_as_pil_reads_them(tmp_path):
    """SSv1 folders go through torchvision's decoder for speed; the pixels must be PIL's."""
    from PIL import Image

    from repro.data.ssv1 import decode_frames

    rng = np.random.default_rng(0)
    ref = []
    for k in range(3):
        img = Image.fromarray(rng.integers(0, 256, (100, 132, 3), dtype=np.uint8))
        img.save(tmp_path / f"{k + 1:05d}.jpg", quality=90)
        with Image.open(tmp_path / f"{k + 1:05d}.jpg") as im:
            ref.append(np.asarray(im.convert("RGB")))
    Image.fromarray(ref[0][..., 0]).save(tmp_path / "00004.jpg")  # greyscale frame: made RGB
    with Image.open(tmp_path / "00004.jpg") as im:
        ref.append(np.asarray(im.convert("RGB")))
    assert np.array_equal(decode_frames(tmp_path), np.stack(ref))


def test_fingerprint_names_the_jpeg_decoder_for_frame_folders(tmp_path):
    from types import SimpleNamespace

    from repro.data import smoke, ssv1
    from repro.data.fingerprint import fingerprint

    root = smoke.ensure_layout("ssv1", tmp_path)
    ds = lambda split: SimpleNamespace(records=ssv1.read_split(root, split))  # noqa: E731
    fp = fingerprint(root, ds("train"), ds("val"))
    assert fp["decoder"].startswith("torchvision ") and "JPEG" in fp["decoder"]
    assert fp["sample"]["mean_height"] > 0
