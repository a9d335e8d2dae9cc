"""``python -m repro.prepare``: SSv2 webm -> JPEG frame folders at height 256 (TSM's extraction),
resumable after a kill, a corrupt video named and skipped, and read back with data.prepared."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from repro.data import smoke
from repro.data.frames import decode_frames
from repro.data.prepare import extract_frames
from repro.data.ssv2 import FRAMES_DIR, VIDEO_DIR, prepare_jobs
from repro.data.video import decode
from repro.prepare import FAILURES, main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def root(tmp_path) -> Path:
    """A copy of the smoke SSv2 root with its webm videos only (the prepared frames left out)."""
    src = smoke.ensure_layout("ssv2", REPO / ".cache")
    dst = tmp_path / "ssv2"
    shutil.copytree(src / "labels", dst / "labels")
    shutil.copytree(src / VIDEO_DIR, dst / VIDEO_DIR)
    return dst


def test_frames_are_every_decoded_frame_at_height_256(tmp_path, root):
    video = sorted((root / VIDEO_DIR).glob("*.webm"))[0]
    done = extract_frames(video, tmp_path / "f")
    frames, source = decode_frames(tmp_path / "f"), decode(video)
    assert done.frames == len(frames) == len(source) and not done.error
    assert frames.shape[1] == 256 and frames.shape[2] == round(source.shape[2] * 256 / source.shape[1])
    assert sorted(p.name for p in (tmp_path / "f").iterdir())[:2] == ["000001.jpg", "000002.jpg"]
    # Upscaled 4x and JPEG-coded at the finest quantiser, the frames still look like the video.
    small = frames[:, ::4, ::4].astype(float)
    assert np.abs(small - source.astype(float)).mean() < 12


def test_prepare_writes_every_folder_resumes_and_names_a_corrupt_video(root, capsys):
    pairs = prepare_jobs(root)
    bad = pairs[3][0]
    bad.write_bytes(b"not a video" * 10)
    assert main(["ssv2", "--root", str(root), "--jobs", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"prepared {len(pairs) - 1} videos" in out and "1 failed" in out and bad.name in out
    assert (root / FAILURES).read_text().startswith(bad.name)
    assert sorted(p.name for p in (root / FRAMES_DIR).iterdir()) == sorted(f.name for v, f, _ in pairs if v != bad)
    # A stopped run: one folder half-written under its temporary name, two never started.
    shutil.rmtree(pairs[0][1]), shutil.rmtree(pairs[1][1])
    half = pairs[0][1].with_name(pairs[0][1].name + ".tmp999")
    half.mkdir()
    (half / "000001.jpg").write_bytes(b"\xff\xd8")
    assert main(["ssv2", "--root", str(root), "--jobs", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "removed 1 unfinished folder" in out and "3 to go" in out and "prepared 2 videos" in out
    assert not half.exists() and pairs[0][1].is_dir() and pairs[1][1].is_dir()


def test_prepare_refuses_a_dataset_without_a_prepared_form(capsys, root):
    assert main(["ssv1", "--root", str(root)]) == 2
    assert "no prepared form" in capsys.readouterr().err


@pytest.mark.slow
def test_a_killed_prepare_resumes_and_completes(root):
    """SIGKILL mid-way: no folder that looks finished is incomplete, and a re-run completes."""
    import signal
    import subprocess
    import sys
    import time

    pairs = prepare_jobs(root)
    cmd = [sys.executable, "-m", "repro.prepare", "ssv2", "--root", str(root), "--jobs", "1", "--no-progress"]
    p = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    frames = root / FRAMES_DIR
    deadline = time.time() + 120
    done = lambda: [f for f in frames.glob("*") if ".tmp" not in f.name] if frames.is_dir() else []  # noqa: E731
    while time.time() < deadline and p.poll() is None and len(done()) < 10:
        time.sleep(0.05)
    import os
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    finished = [f for _, f, _ in pairs if f.is_dir()]
    assert 10 <= len(finished) < len(pairs), len(finished)
    for f in finished:  # every folder under its final name is complete
        assert len(decode_frames(f)) == len(decode(dict((b, a) for a, b, _ in pairs)[f]))
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and f"prepared {len(pairs) - len(finished)} videos" in r.stdout, r.stdout + r.stderr
    assert all(f.is_dir() for _, f, _ in pairs) and not list(frames.glob("*.tmp*"))


def test_a_run_reads_the_prepared_frames_and_its_fingerprint_says_so(root):
    from repro.config.loader import load_spec, resolve
    from repro.data.fingerprint import decoder_name
    from repro.data.registry import read_records
    from repro.errors import DatasetError

    cfg = resolve(load_spec("gta_table1"), "tsm_8f", "paper", {"data": {"prepared": True}})
    with pytest.raises(DatasetError, match="python -m repro.prepare ssv2"):
        read_records(cfg, root, "val")  # not prepared yet: says how
    assert main(["ssv2", "--root", str(root), "--jobs", "1", "--no-progress"]) == 0
    recs = read_records(cfg, root, "val")
    assert all(r.path.parent.name == FRAMES_DIR and r.path.is_dir() for r in recs)
    assert "JPEG frames" in decoder_name("ssv2", recs)
    webm = read_records({**cfg, "data": {**cfg["data"], "prepared": False}}, root, "val")
    assert [r.video_id for r in webm] == [r.video_id for r in recs] and "JPEG" not in decoder_name("ssv2", webm)
    shutil.rmtree(root / VIDEO_DIR)  # only the frames left: reading videos says what to set
    with pytest.raises(DatasetError, match="data.prepared=true"):
        read_records({**cfg, "data": {**cfg["data"], "prepared": False}}, root, "val")


def test_kinetics_clips_prepare_at_height_331_and_read_back(tmp_path):
    from repro.config.loader import load_spec, resolve
    from repro.data.kinetics import FRAMES_DIR as K_FRAMES, PREPARED_HEIGHT
    from repro.data.registry import read_records

    src = smoke.ensure_layout("k400", REPO / ".cache")
    root = tmp_path / "k400"
    for d in ("annotations", "train", "val"):
        shutil.copytree(src / d, root / d)
    assert main(["k400", "--root", str(root), "--jobs", "1", "--no-progress"]) == 0
    cfg = resolve(load_spec("gta_fig4"), "r2d_gta", "paper", {"data": {"prepared": True}})
    for split in ("train", "val"):
        recs = read_records(cfg, root, split)
        assert recs and all(r.path.parent == root / K_FRAMES / split for r in recs)
        frames, video = decode_frames(recs[0].path), decode(root / split / f"{recs[0].video_id}.mp4")
        assert frames.shape[1] == PREPARED_HEIGHT and len(frames) == len(video)


def test_a_root_whose_videos_all_fail_is_an_error(root, capsys):
    for v, _, _ in prepare_jobs(root):
        v.write_bytes(b"junk")
    assert main(["ssv2", "--root", str(root), "--jobs", "1", "--no-progress"]) == 1
    assert "none of the" in capsys.readouterr().err
