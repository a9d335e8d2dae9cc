"""Stopping a ``--jobs 2`` run ends every worker it spawned, and leaves no temp file behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _children(pid: int) -> set[int]:
    """Live descendants of ``pid`` (zombies count as gone), from /proc."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(d.name)] = int(fields[1])
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out.update(kids)
        todo += kids
    return out


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_stopping_the_parent_ends_every_worker(tmp_path, tiny_root, sig):
    spec = yaml.safe_load((REPO / "experiments" / "ssa_table2.yaml").read_text())
    # Long enough that both workers are still training when the parent is stopped.
    spec["defaults"].update({"train": {"epochs": 400, "max_iters": 2, "batch_size": 4},
                             "data": {"train_per_class": 2, "val_per_class": 1}})
    path = tmp_path / "ssa_table2.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    cmd = [sys.executable, str(REPO / "run_all.py"), "--table", str(path), "--rows", "nl3d,ssa", "--seeds", "0",
           "--jobs", "2", "--no-progress", "--results-dir", str(tmp_path / "results"),
           "--reports-dir", str(tmp_path / "reports"), "--runs-dir", str(tmp_path / "runs"),
           "--cache-dir", str(tiny_root.parents[1])]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True)
    workers: set[int] = set()
    try:
        deadline = time.time() + 180
        while time.time() < deadline and p.poll() is None:
            if len(list((tmp_path / "runs").rglob("last.pt"))) >= 2:  # both workers are training
                break
            time.sleep(0.2)
        assert p.poll() is None, p.stderr.read().decode()[-2000:]
        workers = _children(p.pid)
        assert len(workers) >= 2, workers
        os.kill(p.pid, sig)
        rc = p.wait(timeout=60)
        if sig == signal.SIGTERM:
            assert rc == 143 and "stopped (SIGTERM)" in p.stderr.read().decode()
        deadline = time.time() + 30
        while time.time() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        assert not [w for w in workers if _alive(w)], "workers outlived the run"
        tmp = [f for f in tmp_path.rglob("*.tmp")]
        assert not tmp, tmp
    finally:
        for w in _children(p.pid) | workers | {p.pid}:  # orphans are no longer p's children
            try:
                os.kill(w, signal.SIGKILL)
            except OSError:
                pass
