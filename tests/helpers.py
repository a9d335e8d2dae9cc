"""Helpers shared by tests: find a run's files whether they sit at the row's path or under variants/."""
from __future__ import annotations

import os
import time
from pathlib import Path


def find_file(base: Path, table: str, profile: str, name: str) -> Path:
    """``<base>/<table>/<profile>/[variants/<hash>/]<name>``: a ``--set`` run lives under variants/.

    Returns the row's own path when nothing exists yet (for polling and negative checks).
    """
    hits = sorted((Path(base) / table / profile).glob(f"**/{name}"))
    return hits[0] if hits else Path(base) / table / profile / name


# A row trained for two iterations on two videos per class: enough to write every file a run writes.
TINY_SETS = ["train.epochs=1", "train.max_iters=2", "data.train_per_class=2", "data.val_per_class=1",
             "train.batch_size=4"]
_TINY_HEAD = """\
id: {id}
title: {title}
paper: ssan
table: Table 2
dataset: ssv2
split: val
recipe: ssan_ss
defaults:
  model:
    backbone: {{depth: 50, width: 64, pretrained: imagenet}}
    frames: 8
rows:
"""


def tiny_spec(table_id: str, title: str, rows: str) -> str:
    """A spec of SSAN's Table 2 recipe at a small ResNet width, with ``rows`` (YAML list items)."""
    return _TINY_HEAD.format(id=table_id, title=title) + rows


def tiny_run(spec: Path, base: Path, cache: Path) -> tuple[dict, list[str]]:
    """Output folders under ``base`` and the ``run_all.py`` arguments that train ``spec``'s rows
    quickly on the dataset cached in ``cache`` (seeds left to the caller)."""
    dirs = {k: base / k for k in ("results", "reports", "runs")}
    args = ["--table", str(spec), "--results-dir", str(dirs["results"]), "--reports-dir", str(dirs["reports"]),
            "--runs-dir", str(dirs["runs"]), "--cache-dir", str(cache), "--no-progress",
            *[a for s in TINY_SETS for a in ("--set", s)]]
    return dirs, args


def tsm_layout(state: dict) -> dict:
    """A state dict of ours saved the way TSM's main.py saves its DataParallel model."""
    sd = {("module.new_fc." + k[3:]) if k.startswith("fc.") else "module.base_model." + k: v
          for k, v in state.items() if not k.endswith("num_batches_tracked")}
    return {"epoch": 1, "arch": "resnet50", "state_dict": sd, "best_prec1": 0.0}


# Imported by every Python process a test starts (sitecustomize: the run, its --jobs workers, its
# torchrun ranks): each training step takes half a second, and each process's second step leaves
# a marker file, so that a signal sent once the markers exist surely lands inside training.
_SLOW_STEPS = """\
import os, time
from pathlib import Path
import repro.engine.train as T
_real, _n = T.train_step, []
def _slow(*a, **k):
    _n.append(1)
    if len(_n) == 2:
        Path(os.environ["STEP_MARKS"], str(os.getpid())).touch()
    time.sleep(0.5)
    return _real(*a, **k)
T.train_step = _slow
"""


def slow_steps(tmp: Path, env: dict, repo: Path) -> tuple[dict, Path]:
    """``env`` for a run whose training steps are slow and marked (see above); the marker folder."""
    shim, marks = tmp / "shim", tmp / "marks"
    shim.mkdir(), marks.mkdir()
    (shim / "sitecustomize.py").write_text(_SLOW_STEPS)
    return {**env, "PYTHONPATH": f"{shim}{os.pathsep}{repo}", "STEP_MARKS": str(marks)}, marks


def wait_for_marks(marks: Path, n: int, proc, timeout: float = 180) -> None:
    """Until ``n`` processes are inside training (or ``proc`` ended, or ``timeout`` passed)."""
    deadline = time.time() + timeout
    while len(list(marks.iterdir())) < n and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert len(list(marks.iterdir())) == n, proc.communicate()


def step_processes(root: int) -> list[int]:
    """``root`` and every process below it: what SLURM signals in a job step (its cgroup). torchrun
    starts each rank in a session of its own, so a process group would miss them."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return found
