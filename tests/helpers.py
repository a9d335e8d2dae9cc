"""Helpers shared by tests: find a run's files whether they sit at the row's path or under variants/."""
from __future__ import annotations

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
