"""The SSv2 reader, decoding, sampling and transforms on generated files in the real format."""
from __future__ import annotations

import json

import numpy as np
import pytest

from repro.data.dataset import VideoClipDataset, collate_clips
from repro.data.sampling import tsn_indices
from repro.data.ssv2 import DatasetError, check_root, read_labels, read_split
from repro.data.synthetic import CLASSES, Difficulty, class_info, render
from repro.data.transforms import ClipTransform
from repro.data.video import DecodeError, decode


def test_reader_on_generated_files(tiny_root):
    check_root(tiny_root)
    labels = read_labels(tiny_root)
    assert len(labels) == len(CLASSES)
    train, val = read_split(tiny_root, "train"), read_split(tiny_root, "val")
    assert len(train) == 2 * len(CLASSES) and len(val) == len(CLASSES)
    entries = json.loads((tiny_root / "labels/something-something-v2-train.json").read_text())
    for e, rec in zip(entries, train):
        assert set(e) == {"id", "label", "template", "placeholders"}
        assert rec.label == labels[e["template"].replace("[", "").replace("]", "")]
        assert rec.path.suffix == ".webm" and rec.path.is_file()


def test_decoded_video_matches_render(tiny_root):
    """First train video = class 0, drawn from rng [seed, split, class, index] = [0, 0, 0, 0]."""
    rec = read_split(tiny_root, "train")[0]
    frames = decode(rec.path)
    expect, _ = render(CLASSES[0], np.random.default_rng([0, 0, 0, 0]), Difficulty())
    assert frames.shape == expect.shape == (24, 64, 64, 3)
    assert np.abs(frames.astype(int) - expect.astype(int)).mean() < 4  # VP9 + yuv420 loss


def test_reversal_partner_is_time_reversed():
    info = class_info()
    d = Difficulty()
    for a, b in info["reversal_pairs"]:
        fa, _ = render(CLASSES[a], np.random.default_rng(7), d)
        fb, _ = render(CLASSES[b], np.random.default_rng(7), d)
        assert np.array_equal(fa[::-1], fb)
        assert not np.array_equal(fa, fb)


def test_eval_sampling_of_synthetic_videos_is_reversal_symmetric():
    """A reversed video must be sampled like a forward one, or frame choice leaks the order."""
    n = Difficulty().frames
    idx = tsn_indices(n, 8, train=False)
    assert sorted((n - 1 - idx).tolist()) == sorted(idx.tolist())


def test_validation_partners_are_exact_reverses(tiny_root):
    info = class_info()
    val = read_split(tiny_root, "val")
    by_label = {r.label: r for r in val}  # one video per class in the tiny set
    for a, b in info["reversal_pairs"]:
        fa, fb = decode(by_label[a].path), decode(by_label[b].path)
        assert np.abs(fa[::-1].astype(int) - fb.astype(int)).mean() < 1.0


def test_tsn_sampling():
    idx = tsn_indices(16, 8, train=False)
    assert idx.tolist() == [1, 3, 5, 7, 9, 11, 13, 15]
    rng = np.random.default_rng(0)
    for _ in range(20):
        t = tsn_indices(16, 8, train=True, rng=rng)
        assert all(2 * k <= v < 2 * k + 2 for k, v in enumerate(t))
    assert tsn_indices(3, 8, train=False).max() <= 2


def test_flip_swaps_left_right_labels():
    frames = np.zeros((8, 32, 32, 3), np.uint8)
    frames[:, :, :8] = 255
    tf = ClipTransform(32, 32, train=True, flip_swap={0: 1, 1: 0}, flip_p=1.0)
    x, label = tf(frames, 0, np.random.default_rng(0))
    assert label == 1 and x.shape == (3, 8, 32, 32)
    assert x[0, 0, 0, -1] > x[0, 0, 0, 0], "the bright band moved to the right"
    no_flip = ClipTransform(32, 28, train=True, flip_swap=None)
    assert no_flip(frames, 0, np.random.default_rng(0))[1] == 0


def test_corrupt_video_is_skipped_with_a_warning(tiny_root, tmp_path):
    recs = read_split(tiny_root, "val")[:2]
    bad = tmp_path / "broken.webm"
    bad.write_bytes(b"\x1aE\xdf\xa3 this is not a video")
    with pytest.raises(DecodeError, match="broken.webm"):
        decode(bad)
    recs = [recs[0], type(recs[0])(bad, 0, "broken"), recs[1]]
    ds = VideoClipDataset(recs, 8, ClipTransform(32, 28, False), train=False)
    with pytest.warns(RuntimeWarning, match="broken.webm"):
        batch = collate_clips([ds[i] for i in range(3)])
    assert batch["bad"] == 1 and batch["video"].shape == (2, 3, 8, 28, 28)


def test_missing_root_says_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match="REPRO_SSV2_ROOT"):
        check_root(tmp_path / "nowhere")
    (tmp_path / "20bn-something-something-v2").mkdir()
    with pytest.raises(DatasetError, match="something-something-v2-labels.json"):
        check_root(tmp_path)


def test_generation_still_works_after_decoding_in_the_same_process(tiny_root, tmp_path):
    """decord loaded before PyAV breaks PyAV's VP9 encoder; decode() must import them in order."""
    import subprocess
    import sys

    video = read_split(tiny_root, "val")[0].path
    code = ("import numpy as np; from pathlib import Path;"
            "from repro.data.video import decode; from repro.data.synthetic import write_webm;"
            f"decode(Path({str(video)!r}));"
            f"write_webm(Path({str(tmp_path / 'x.webm')!r}), np.zeros((4, 32, 32, 3), np.uint8))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-1500:]
