"""Long runs survive failures: SIGKILL + resume gives the same metrics, unreadable videos are
skipped up to data.max_bad_fraction, a NaN loss stops with the step and an intact checkpoint,
and rows running at once never overwrite each other's results."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from repro.data.dataset import VideoClipDataset
from repro.data.ssv2 import DatasetError, VideoRecord, read_split
from repro.data.transforms import ClipTransform
from repro.engine.checkpoint import load_if_matching
from repro.engine.train import fit
from repro.errors import TrainingError
from repro.models.resnet import tsn_resnet
from helpers import find_file

REPO = Path(__file__).resolve().parents[1]
TABLE, PROFILE = "ssa_table2", "synthetic"
# Three epochs so that a run killed right after its first checkpoint is surely mid-training.
TINY = ["--set", "train.epochs=3", "--set", "train.max_iters=4", "--set", "data.train_per_class=2",
        "--set", "data.val_per_class=1", "--set", "train.batch_size=4", "--no-progress", "--seeds", "0"]


# One thread per process: the two concurrent rows then share the 2 cores without oversubscribing,
# and every run of this module uses the same reduction order (so metrics compare exactly).
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _dirs(base: Path, cache: Path) -> dict[str, Path]:
    return {"results": base / "results", "reports": base / "reports", "runs": base / "runs", "cache": cache}


def _cmd(d: dict[str, Path], rows: str) -> list[str]:
    return [sys.executable, str(REPO / "run_all.py"), "--table", TABLE, "--rows", rows,
            "--results-dir", str(d["results"]), "--reports-dir", str(d["reports"]),
            "--runs-dir", str(d["runs"]), "--cache-dir", str(d["cache"]), *TINY]


def _result(d: dict[str, Path], row: str) -> dict:
    return json.loads(find_file(d["results"], TABLE, PROFILE, f"{row}.seed0.json").read_text())


@pytest.fixture(scope="module")
def cache(tiny_root) -> Path:
    # tiny_root is <cache>/synthetic/<key> for the same SyntheticConfig as TINY's data settings:
    # generating it once up front keeps the subprocesses from generating it concurrently.
    return tiny_root.parents[1]


@pytest.fixture(scope="module")
def concurrent(tmp_path_factory, cache) -> dict[str, Path]:
    """Two rows trained at once, as two processes, into the same results/runs/reports dirs."""
    d = _dirs(tmp_path_factory.mktemp("concurrent"), cache)
    procs = {row: subprocess.Popen(_cmd(d, row), cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for row in ("nl3d", "ssa")}
    for row, p in procs.items():
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, f"{row}: {err[-2000:]}"
    return d


@pytest.mark.slow
def test_two_rows_at_once_write_complete_results(concurrent):
    d = concurrent
    for row in ("nl3d", "ssa"):
        res = _result(d, row)  # valid JSON, whole
        assert res["row"] == row and res["table"] == TABLE
        assert res["config"]["meta"]["row"] == row
        assert 0 <= res["metrics"]["top1"] <= 100 and math.isfinite(res["metrics"]["val_loss"])
        assert res["provenance"]["videos_skipped"] == 0
        ckpt = torch.load(find_file(d["runs"], TABLE, PROFILE, f"{row}.seed0/last.pt"), weights_only=False)
        assert ckpt["epoch"] == 3 and ckpt["config_hash"] == res["provenance"]["spec_hash"]
    leftovers = [p for p in d["results"].rglob("*") if p.name.endswith(".tmp")]
    leftovers += [p for p in d["runs"].rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers, leftovers


def _run_until_first_checkpoint(d: dict[str, Path], row: str) -> int:
    """Start the row and SIGKILL it as soon as its epoch-1 checkpoint exists; its epoch field."""
    ckpt = find_file(d["runs"], TABLE, PROFILE, f"{row}.seed0/last.pt")
    p = subprocess.Popen(_cmd(d, row), cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        # A --set run writes under variants/<hash>/: look again until its folder appears.
        while not (ckpt := find_file(d["runs"], TABLE, PROFILE, f"{row}.seed0/last.pt")).exists() \
                and p.poll() is None and time.time() < deadline:
            time.sleep(0.002)
        p.send_signal(signal.SIGKILL)
    finally:
        p.kill()
        _, err = p.communicate()
    assert ckpt.exists(), f"no checkpoint was written: {err.decode()[-2000:]}"
    return torch.load(ckpt, weights_only=False)["epoch"]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_metrics(tmp_path, concurrent, cache):
    row = "nl3d"
    for attempt in range(3):  # the kill races the run; a run that got to its end is retried
        d = _dirs(tmp_path / f"killed{attempt}", cache)
        epoch = _run_until_first_checkpoint(d, row)
        if epoch < 3:
            break
    assert 1 <= epoch < 3, "could not kill the run before it finished"
    assert not find_file(d["results"], TABLE, PROFILE, f"{row}.seed0.json").exists()  # really interrupted
    proc = subprocess.run(_cmd(d, row), cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"resuming from {find_file(d['runs'], TABLE, PROFILE, f'{row}.seed0/last.pt')} at epoch {epoch}" in proc.stdout
    resumed, whole = _result(d, row), _result(concurrent, row)
    assert resumed["provenance"]["spec_hash"] == whole["provenance"]["spec_hash"]
    for k in ("top1", "top5", "val_loss", "reversal_pairs"):
        assert resumed["metrics"][k] == pytest.approx(whole["metrics"][k], abs=1e-6), k
    assert resumed["metrics"]["family"] == pytest.approx(whole["metrics"]["family"], abs=1e-6)


# In-process runs of a tiny model on planted bad files.

def _cfg(epochs: int = 1, max_bad: float | None = None, lr: float = 0.01, **train) -> dict:
    from repro.config.loader import complete

    data = {"resize": 32, "crop": 28} if max_bad is None else {"max_bad_fraction": max_bad, "resize": 32, "crop": 28}
    return complete({"train": {"epochs": epochs, "batch_size": 4, "lr": lr, "seed": 0, "warmup_epochs": 0,
                               "schedule": "cosine", **train},
                     "data": data, "eval": {"batch_size": 16}})


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return tsn_resnet(15, layers=[1, 1, 1, 1], width=8, num_frames=8)


def _datasets(tiny_root: Path, tmp_path: Path):
    """Train: the 30 good videos + one truncated + one missing (2/32 = 6.25% bad);
    val: the 15 good + one missing (1/16 = 6.25% bad)."""
    train, val = read_split(tiny_root, "train"), read_split(tiny_root, "val")
    good = train[0].path.read_bytes()
    cut = tmp_path / "truncated.webm"
    cut.write_bytes(good[: len(good) // 2])
    train = train + [VideoRecord(cut, 0, "truncated"), VideoRecord(tmp_path / "missing.webm", 1, "missing")]
    val = val + [VideoRecord(tmp_path / "gone.webm", 2, "gone")]
    return (VideoClipDataset(train, 8, ClipTransform(32, 28, True), True),
            VideoClipDataset(val, 8, ClipTransform(32, 28, False), False))


def test_a_few_bad_videos_are_skipped_and_counted(tiny_root, tmp_path):
    tr, va = _datasets(tiny_root, tmp_path)
    with pytest.warns(RuntimeWarning, match="truncated.webm"):
        run = fit(_model(), _cfg(epochs=2, max_bad=0.1), tr, va, {}, tmp_path / "run", "h", progress=False)
    assert run["videos_skipped"] == 2 * 2 + 1  # both bad train videos each epoch, one in val
    assert run["val_videos"] == 15
    names = " ".join(run["bad_videos"])
    assert all(n in names for n in ("truncated.webm", "missing.webm", "gone.webm")), names


def test_too_many_bad_videos_stop_the_run_naming_them(tiny_root, tmp_path):
    tr, va = _datasets(tiny_root, tmp_path)
    with pytest.warns(RuntimeWarning), pytest.raises(DatasetError) as e:  # default threshold 5%
        fit(_model(), _cfg(), tr, va, {}, tmp_path / "run", "h", progress=False)
    msg = str(e.value)
    assert "training epoch 1" in msg and "2 of the 32 videos" in msg, msg
    assert "truncated.webm" in msg and "missing.webm" in msg and "data.max_bad_fraction" in msg, msg
    assert not (tmp_path / "run" / "last.pt").exists()  # the failed epoch saved nothing
    # The same limit holds for the validation after every epoch (and so for the final test).
    good_train = VideoClipDataset(tr.records[:30], 8, ClipTransform(32, 28, True), True)
    with pytest.raises(DatasetError, match=r"validation after epoch 1: 1 of the 16 videos.*gone\.webm"):
        fit(_model(), _cfg(epochs=1, max_iters=1, max_bad=0.05), good_train, va, {}, tmp_path / "run0", "h",
            progress=False)


def test_zero_training_steps_is_an_error(tiny_root, tmp_path):
    tr, va = _datasets(tiny_root, tmp_path)
    with pytest.raises(TrainingError, match="0 training steps"):
        fit(_model(), _cfg(epochs=1, batch_size=64), tr, va, {}, tmp_path / "run", "h", progress=False)


class NaNAfter(torch.nn.Module):
    """The wrapped model, whose training forward returns NaN from its ``k``-th call on."""

    def __init__(self, model: torch.nn.Module, k: int) -> None:
        super().__init__()
        self.model, self.k, self.calls = model, k, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.k:
                return out * float("nan")
        return out


def test_nan_loss_stops_with_step_and_intact_checkpoint(tiny_root, tmp_path):
    tr = VideoClipDataset(read_split(tiny_root, "train"), 8, ClipTransform(32, 28, True), True)
    va = VideoClipDataset(read_split(tiny_root, "val"), 8, ClipTransform(32, 28, False), False)
    run_dir = tmp_path / "run"
    # 2 steps per epoch: the 6th forward is epoch 3, step 2.
    with pytest.raises(TrainingError) as e:
        fit(NaNAfter(_model(), 6), _cfg(epochs=3, max_iters=2), tr, va, {}, run_dir, "h", progress=False)
    msg = str(e.value)
    assert "loss is nan at epoch 3 step 2/2" in msg, msg
    assert f"last good checkpoint: {run_dir / 'last.pt'} (end of epoch 2" in msg, msg
    ckpt = load_if_matching(run_dir / "last.pt", "h")
    assert ckpt is not None and ckpt["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    NaNAfter(_model(), 10**9).load_state_dict(ckpt["model"])  # it loads into the same architecture
    # A NaN in the first epoch has no checkpoint to point to, and says so.
    with pytest.raises(TrainingError, match=r"epoch 1 step 1/2.*last good checkpoint: none"):
        fit(NaNAfter(_model(), 1), _cfg(epochs=3, max_iters=2), tr, va, {}, tmp_path / "r1", "h",
            progress=False)


def test_diverged_weights_never_replace_the_checkpoint(tiny_root, tmp_path):
    """A finite loss whose step leaves inf weights: the epoch's checkpoint is not written."""
    tr = VideoClipDataset(read_split(tiny_root, "train"), 8, ClipTransform(32, 28, True), True)
    va = VideoClipDataset(read_split(tiny_root, "val"), 8, ClipTransform(32, 28, False), False)
    model = _model()
    # The loss of the step is finite, but its gradient (hence the update) is inf.
    model.fc.weight.register_hook(lambda g: g * float("inf"))
    with pytest.raises(TrainingError, match=r"NaN/inf during epoch 1.*last good checkpoint: none"):
        fit(model, _cfg(epochs=1, max_iters=1), tr, va, {}, tmp_path / "run", "h", progress=False)
    assert not (tmp_path / "run" / "last.pt").exists()
