"""Preemption (issue 23): SIGUSR1 mid-epoch stops the run at a step checkpoint, the next start
resumes at that step, and the run ends with the numbers of one never stopped."""
from __future__ import annotations

import json
import os
import signal

import pytest

from helpers import find_file, slow_steps, wait_for_marks
from repro.cli import main
from repro.config.loader import config_hash, load_spec, resolve
from repro.data.dataset import VideoClipDataset

TINY = ["--table", "ssa_table2", "--rows", "nl1d", "--seeds", "0", "--no-progress", "--jobs", "1",
        "--set", "train.epochs=2", "--set", "train.max_iters=4", "--set", "data.train_per_class=2",
        "--set", "data.val_per_class=1", "--set", "train.batch_size=4", "--set", "train.threads=1"]


def _run(base, cache) -> int:
    return main([*TINY, "--results-dir", str(base / "results"), "--reports-dir", str(base / "reports"),
                 "--runs-dir", str(base / "runs"), "--cache-dir", str(cache)])


def _result(base) -> dict:
    return json.loads(find_file(base / "results", "ssa_table2", "synthetic", "nl1d.seed0.json").read_text())


@pytest.mark.slow
def test_sigusr1_mid_epoch_resumes_at_the_step_with_identical_metrics(tmp_path, tiny_root, monkeypatch, capsys):
    from repro.engine import train as T

    cache = tiny_root.parents[1]
    loaded, real_item = [], VideoClipDataset.__getitem__
    monkeypatch.setattr(VideoClipDataset, "__getitem__", lambda self, i: (loaded.append(i) if self.train else None)
                        or real_item(self, i))
    assert _run(tmp_path / "whole", cache) == 0
    whole, per_epoch = _result(tmp_path / "whole"), len(loaded) // 2  # 4 batches of 4 (+ precise BN's)
    loaded.clear()

    steps, real = [], T.train_step

    def step(*a, **k):  # the cluster's warning arrives during the 6th step: epoch 2, step 2 of 4
        steps.append(1)
        if len(steps) == 6:
            os.kill(os.getpid(), signal.SIGUSR1)
        return real(*a, **k)

    monkeypatch.setattr(T, "train_step", step)
    assert _run(tmp_path / "cut", cache) == 143
    err = capsys.readouterr().err
    assert "SIGUSR1" in err and "epoch 2, step 2 of 4" in err and "Run the same command to resume" in err
    after = []
    monkeypatch.setattr(T, "train_step", lambda *a, **k: after.append(1) or real(*a, **k))
    loaded.clear()
    assert _run(tmp_path / "cut", cache) == 0
    assert len(after) == 2  # only the epoch's last two steps: it resumed inside the epoch
    assert len(loaded) == per_epoch - 2 * 4  # and the sampler started there: the 2 batches before were not read
    log = next((tmp_path / "cut" / "runs").rglob("log.txt")).read_text()
    assert "resumed from" in log and "at epoch 2, step 2 of 4" in log
    cut = _result(tmp_path / "cut")
    assert cut["metrics"] == whole["metrics"] and cut["history"] == whole["history"]


@pytest.mark.slow
def test_a_hard_kill_loses_at_most_the_steps_since_the_periodic_step_checkpoint(tmp_path, tiny_root, monkeypatch):
    """train.checkpoint_every_minutes: a run killed without warning (no signal handler runs)
    resumes from the last periodic step checkpoint, and still ends with the uninterrupted numbers."""
    from repro.engine import train as T

    cache = tiny_root.parents[1]
    assert _run(tmp_path / "whole", cache) == 0
    every_step = ["--set", "train.checkpoint_every_minutes=1e-9"]
    steps, real = [], T.train_step

    class Killed(BaseException):
        """Stands in for SIGKILL: nothing of the run's own handling sees it."""

    def step(*a, **k):
        steps.append(1)
        if len(steps) == 7:  # epoch 2, step 3: steps 1 and 2 of epoch 2 are in a step checkpoint
            raise Killed
        return real(*a, **k)

    monkeypatch.setattr(T, "train_step", step)
    with pytest.raises(Killed):
        main([*TINY, *every_step, "--results-dir", str(tmp_path / "cut" / "results"), "--reports-dir",
              str(tmp_path / "cut" / "reports"), "--runs-dir", str(tmp_path / "cut" / "runs"),
              "--cache-dir", str(cache)])
    after = []
    monkeypatch.setattr(T, "train_step", lambda *a, **k: after.append(1) or real(*a, **k))
    assert _run(tmp_path / "cut", cache) == 0  # the same config hash: the step checkpoint is used
    assert len(after) == 2
    assert _result(tmp_path / "cut")["metrics"] == _result(tmp_path / "whole")["metrics"]


@pytest.mark.slow
def test_sigterm_during_training_finishes_the_step_and_writes_a_step_checkpoint(tmp_path, tiny_root, monkeypatch,
                                                                                 capsys):
    from repro.engine import train as T

    cache = tiny_root.parents[1]
    steps, real = [], T.train_step

    def step(*a, **k):
        steps.append(1)
        if len(steps) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*a, **k)

    monkeypatch.setattr(T, "train_step", step)
    assert _run(tmp_path, cache) == 143
    assert "stopped on SIGTERM at epoch 1, step 2 of 4" in capsys.readouterr().err
    assert len(steps) == 2  # the step it was in was finished, and no other began


def test_how_often_step_checkpoints_are_written_is_not_part_of_the_config_hash():
    spec = load_spec("ssa_table2")
    one = resolve(spec, "nl1d", "paper", {"train": {"checkpoint_every_minutes": 5}})
    other = resolve(spec, "nl1d", "paper", {"train": {"checkpoint_every_minutes": 0}})
    assert one["train"]["checkpoint_every_minutes"] == 5 and config_hash(one) == config_hash(other)
    assert config_hash(one) != config_hash(resolve(spec, "nl1d", "paper", {"train": {"epochs": 3}}))


def test_set_reads_exponent_numbers_as_numbers():
    """YAML 1.1 reads 1e-6 as a string; --set train.checkpoint_every_minutes=1e-6 means the number."""
    from repro.config.loader import parse_set

    assert parse_set(["train.checkpoint_every_minutes=1e-6", "train.lr=2.5E+1"])["train"] == {
        "checkpoint_every_minutes": 1e-6, "lr": 25.0}


@pytest.mark.slow
def test_the_warning_to_a_jobs_run_reaches_its_workers_and_they_resume_exactly(tmp_path, tiny_root):
    """``--jobs 2``: SIGUSR1 to the parent only (as ``kill -USR1 PID`` sends it) is passed on to the
    workers; both write step checkpoints, the run exits 143, and the re-run ends with the numbers
    of one never stopped."""
    import subprocess
    import sys
    from pathlib import Path

    cache = tiny_root.parents[1]
    repo = Path(__file__).resolve().parents[1]
    two = [a if a != "0" else "0,1" for a in TINY]
    two[two.index("1", two.index("--jobs"))] = "2"

    def cmd(base):
        return [sys.executable, str(repo / "run_all.py"), *two, "--results-dir", str(base / "results"),
                "--reports-dir", str(base / "reports"), "--runs-dir", str(base / "runs"), "--cache-dir", str(cache)]

    assert subprocess.run(cmd(tmp_path / "whole"), capture_output=True, cwd=repo).returncode == 0
    env, marks = slow_steps(tmp_path, dict(os.environ), repo)
    p = subprocess.Popen(cmd(tmp_path / "cut"), cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    wait_for_marks(marks, 2, p)
    p.send_signal(signal.SIGUSR1)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 143, err
    assert "2 run(s) wrote a step checkpoint" in err
    import torch
    steps = [torch.load(f, weights_only=False).get("step") for f in (tmp_path / "cut" / "runs").rglob("last.pt")]
    assert len(steps) == 2 and all(s is not None for s in steps), steps
    assert subprocess.run(cmd(tmp_path / "cut"), capture_output=True, cwd=repo).returncode == 0
    for seed in (0, 1):
        name = f"nl1d.seed{seed}.json"
        cut, whole = (json.loads(find_file(b / "results", "ssa_table2", "synthetic", name).read_text())
                      for b in (tmp_path / "cut", tmp_path / "whole"))
        assert cut["metrics"] == whole["metrics"] and cut["history"] == whole["history"]
