"""Commands write only where they are told (issue 23): another results folder never rewrites the
committed reports."""
from __future__ import annotations

from pathlib import Path

from repro.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_cost_with_another_results_dir_leaves_the_committed_reports_alone(tmp_path):
    committed = {p: p.stat().st_mtime_ns for p in (REPO / "reports").glob("gta_fig14.*")}
    results = tmp_path / "results"
    assert main(["--table", "gta_fig14", "--cost", "--results-dir", str(results)]) == 0
    assert (tmp_path / "reports" / "gta_fig14.md").is_file()  # beside the results it read
    assert {p: p.stat().st_mtime_ns for p in committed} == committed


def test_a_ctrl_c_swallowed_by_a_destructor_still_stops_with_130(monkeypatch, capsys):
    """A KeyboardInterrupt raised inside __del__ is printed and ignored by Python; the run must
    still end as interrupted (decord's VideoReader.__del__ did this once in 9 tries)."""
    import os
    import signal

    from repro import cli

    class Reader:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives during the cleanup

    def run_command(*a, **k):
        r = Reader()
        del r  # the KeyboardInterrupt is raised in __del__ and swallowed there
        return 0

    monkeypatch.setattr("repro.run.command.run_command", run_command)
    assert cli.main(["--table", "ssa_table2", "--report-only"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_weights_replaced_at_the_same_path_make_another_config(tmp_path):
    """--weights is keyed by content: a file replaced at the same path re-runs instead of being
    reported as 'result exists for its current config'."""
    import os

    from repro.config.loader import config_hash, load_spec, resolve
    from repro.run.unit import run_hash

    w = tmp_path / "k400.pth"
    w.write_bytes(b"first checkpoint")
    spec = load_spec("ssa_table2")
    over = {"model": {"weights": str(w)}}
    first = resolve(spec, "ssa", "synthetic", over)
    w.write_bytes(b"second checkpoint, same path")
    os.utime(w, ns=(1, 1))  # even with an old modification time
    second = resolve(spec, "ssa", "synthetic", over)
    assert first["meta"]["weights_sha256"] != second["meta"]["weights_sha256"]
    assert config_hash(first) != config_hash(second) and run_hash(first) != run_hash(second)


def _feature_run(folder, calls):
    """A tiny extraction: 6 clips of a probe backbone, in batches of 2; counts forward passes."""
    import torch

    import repro
    from repro.retrieval.features import extract

    torch.manual_seed(0)
    model = repro.build_model("probe_modules", "tsn", "synthetic").eval()
    model.fc.register_forward_hook(lambda m, i, o: calls.append(1))
    clips = torch.randint(0, 256, (6, 3, 8, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    batches = ({"video": clips[s:s + 2], "index": torch.arange(s, s + 2), "bad": 0, "bad_videos": []}
               for s in range(0, 6, 2))
    return extract(model, batches, 6, folder, progress=False)


def test_a_damaged_feature_cache_is_named_deleted_and_rebuilt(tmp_path, capsys):
    """A truncated features.npy used to be zero-filled by numpy's r+ memmap and used as final;
    a garbled progress.json was a traceback. Both are now named, removed and extracted again."""
    import numpy as np

    calls: list[int] = []
    good, _ = _feature_run(tmp_path / "f", calls)
    good = np.array(good)
    path = tmp_path / "f" / "features.npy"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncated
    again, _ = _feature_run(tmp_path / "f", calls)
    assert "damaged" in capsys.readouterr().err and len(calls) == 6  # all 3 batches ran again
    assert np.array_equal(np.array(again), good)
    (tmp_path / "f" / "progress.json").write_text("{not json")
    _feature_run(tmp_path / "f", calls)
    assert "progress.json is not valid" in capsys.readouterr().err and len(calls) == 9
    arr = np.lib.format.open_memmap(path, mode="r+")
    arr[0, 0] += 1  # same size and shape, other content: the checksum tells
    arr.flush()
    del arr
    again, _ = _feature_run(tmp_path / "f", calls)
    assert "checksum" in capsys.readouterr().err and np.array_equal(np.array(again), good)
    np.save(path, np.zeros((good.shape[0], good.shape[1] + 1), np.float16))  # another shape: a traceback once
    again, _ = _feature_run(tmp_path / "f", calls)
    err = capsys.readouterr().err
    assert "features.npy" in err and "damaged" in err and np.array_equal(np.array(again), good), err


def test_a_frame_folder_missing_a_middle_frame_is_a_bad_video(tmp_path):
    """SSv1's JPEG folders: a lost frame was read past silently, shifting every later frame; it is
    now a DecodeError, which datasets count as an unreadable video."""
    import numpy as np
    import pytest
    from PIL import Image

    from repro.data.frames import decode_frames
    from repro.errors import DecodeError

    for k in (1, 2, 4, 5):  # 00003.jpg is missing
        Image.fromarray(np.full((8, 8, 3), 10 * k, np.uint8)).save(tmp_path / f"{k:05d}.jpg")
    with pytest.raises(DecodeError, match="misses frame 3"):
        decode_frames(tmp_path)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "00003.jpg")
    assert decode_frames(tmp_path).shape == (5, 8, 8, 3)


def test_a_truncated_weights_file_is_one_line_naming_it(tmp_path):
    """A half-downloaded checkpoint was a raw zip-reader traceback; now one CheckpointError names
    the file and says what was expected."""
    import pytest
    import torch

    from repro.convert import read_checkpoint
    from repro.errors import CheckpointError

    torch.save({"state_dict": {"w": torch.zeros(300, 100)}}, tmp_path / "whole.pth")
    data = (tmp_path / "whole.pth").read_bytes()
    (tmp_path / "half.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"half\.pth is not a readable checkpoint .*download it again"):
        read_checkpoint(tmp_path / "half.pth")
    assert read_checkpoint(tmp_path / "whole.pth")["state_dict"]["w"].shape == (300, 100)
