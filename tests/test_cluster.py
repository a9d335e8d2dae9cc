"""Cluster faults under torchrun on CPU (gloo): the cluster's warning signal sent to every process
of the job step, as SLURM sends it, and two "nodes" on localhost meeting through c10d rendezvous."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import find_file, slow_steps, step_processes, wait_for_marks
from repro.results.scores import load_scores

REPO = Path(__file__).resolve().parents[1]
TABLE, ROW = "ssa_table2", "ssa"
# As tests/test_distributed.py: dropout 0 (its masks are drawn per rank) and the default layout.
TINY = ["--table", TABLE, "--rows", ROW, "--no-progress", "--seeds", "0", "--jobs", "1",
        "--set", "train.epochs=2", "--set", "train.max_iters=4", "--set", "data.train_per_class=2",
        "--set", "data.val_per_class=1", "--set", "train.batch_size=4", "--set", "model.dropout=0",
        "--set", "train.channels_last=false"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

def _args(base: Path, cache: Path, short: bool = False) -> list[str]:
    """The run; ``short``: tests/test_distributed.py's 2 steps, whose tolerance the 2-node test uses
    (more steps amplify float32 reduction-order differences between process counts)."""
    sets = [*TINY, "--set", "train.epochs=1", "--set", "train.max_iters=2"] if short else TINY
    return ["run_all.py", *sets, "--results-dir", str(base / "results"), "--reports-dir", str(base / "reports"),
            "--runs-dir", str(base / "runs"), "--cache-dir", str(cache)]


def _torchrun(*opts: str) -> list[str]:
    return [sys.executable, "-m", "repro.torchrun", *opts]


def _result(base: Path) -> dict:
    return json.loads(find_file(base / "results", TABLE, "synthetic", f"{ROW}.seed0.json").read_text())


def _scores(res: dict) -> torch.Tensor:
    return load_scores(Path(res["provenance"]["scores_file"]))["scores"].float()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_sigusr1_to_every_process_of_a_torchrun_job_stops_at_a_step_and_resumes_exactly(tmp_path, tiny_root):
    """SLURM signals the whole job step: torchrun's agent and its ranks. The agent (repro.torchrun)
    survives it, the ranks agree on the step, rank 0 writes one step checkpoint with both ranks'
    RNG states, and the resumed 2-process run ends with the numbers of one never stopped."""
    cache = tiny_root.parents[1]
    two = ["--standalone", "--nproc_per_node=2"]
    whole = subprocess.run([*_torchrun(*two), *_args(tmp_path / "whole", cache)], cwd=REPO, env=ENV,
                           capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-3000:]
    env, marks = slow_steps(tmp_path, ENV, REPO)
    p = subprocess.Popen([*_torchrun(*two), *_args(tmp_path / "cut", cache)], cwd=REPO, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_marks(marks, 2, p)
    for pid in step_processes(p.pid):  # every process of the "job step", the agent included
        os.kill(pid, signal.SIGUSR1)
    out, err = p.communicate(timeout=180)
    assert p.returncode == 1, (p.returncode, err[-3000:])  # the agent lived to report its ranks' exit
    assert "stopped on the cluster's warning signal (SIGUSR1) at epoch 1, step " in err, err[-3000:]
    ckpt = torch.load(find_file(tmp_path / "cut" / "runs", TABLE, "synthetic", f"{ROW}.seed0/last.pt"),
                      weights_only=False)
    assert 2 <= ckpt["step"] < 4 and ckpt["epoch"] == 0 and len(ckpt["rng_ranks"]) == 2
    again = subprocess.run([*_torchrun(*two), *_args(tmp_path / "cut", cache)], cwd=REPO, env=ENV,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"at epoch 1, step {ckpt['step']} of 4" in again.stdout + again.stderr
    cut, full = _result(tmp_path / "cut"), _result(tmp_path / "whole")
    assert cut["metrics"] == full["metrics"] and cut["history"] == full["history"]
    assert torch.equal(_scores(cut), _scores(full))


@pytest.mark.slow
def test_two_nodes_on_localhost_match_one_process(tmp_path, tiny_root):
    """``--nnodes 2``: two launches meet through c10d rendezvous, one process each, and give the
    per-video scores of one process (the tolerance of tests/test_distributed.py)."""
    cache = tiny_root.parents[1]
    one = subprocess.run([sys.executable, *_args(tmp_path / "one", cache, short=True)], cwd=REPO, env=ENV,
                         capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    port = _free_port()
    node = _torchrun("--nnodes=2", "--nproc_per_node=1", "--rdzv_backend=c10d",
                     f"--rdzv_endpoint=127.0.0.1:{port}", "--rdzv_id=test-two-nodes")
    nodes = [subprocess.Popen([*node, *_args(tmp_path / "two", cache, short=True)], cwd=REPO, env=ENV, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [n.communicate(timeout=300) for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], [e[-3000:] for _, e in outs]
    a, b = _result(tmp_path / "one"), _result(tmp_path / "two")
    assert b["provenance"]["world_size"] == 2 and a["provenance"]["spec_hash"] == b["provenance"]["spec_hash"]
    d = (_scores(a) - _scores(b)).abs().max()
    assert _scores(a).shape == _scores(b).shape and d <= 2e-4, d
    assert a["metrics"]["val_loss"] == pytest.approx(b["metrics"]["val_loss"], abs=1e-4)
