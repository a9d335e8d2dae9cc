"""Preemption (issue 23): SIGUSR1 mid-epoch stops the run at a step checkpoint, the next start
resumes at that step, and the run ends with the numbers of one never stopped."""
from __future__ import annotations

import json
import os
import signal

import pytest

from helpers import find_file
from repro.cli import main

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
    assert _run(tmp_path / "whole", cache) == 0
    whole = _result(tmp_path / "whole")

    steps, real = [], T.train_step

    def step(*a, **k):  # the cluster's warning arrives during the 6th step: epoch 2, step 2 of 4
        steps.append(1)
        if len(steps) == 6:
            os.kill(os.getpid(), signal.SIGUSR1)
        return real(*a, **k)

    monkeypatch.setattr(T, "train_step", step)
    assert _run(tmp_path / "cut", cache) == 143
    err = capsys.readouterr().err
    assert "epoch 2, step 2 of 4" in err and "Run the same command to resume" in err
    after = []
    monkeypatch.setattr(T, "train_step", lambda *a, **k: after.append(1) or real(*a, **k))
    assert _run(tmp_path / "cut", cache) == 0
    assert len(after) == 2  # only the epoch's last two steps: it resumed inside the epoch
    log = next((tmp_path / "cut" / "runs").rglob("log.txt")).read_text()
    assert "resumed from" in log and "at epoch 2, step 2 of 4" in log
    cut = _result(tmp_path / "cut")
    assert cut["metrics"] == whole["metrics"] and cut["history"] == whole["history"]
