"""Where one synthetic probe run spends its time (issue 12, part 7): cProfile of one row.

Runs ``run_all.py --table probe_modules --rows ROW --profile synthetic --seeds 0 --force`` in
this process under cProfile (into temporary result/run folders) and groups the cumulative time
of a few entry points: decoding, clip transforms, the model's forward, backward, the optimiser
step and evaluation. Writes bench/results/synthetic_profile.json.

Usage: .venv/bin/python bench/synthetic_profile.py [--row gta]
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import tempfile
import time
from pathlib import Path

from _record import write_record  # bench/ is on sys.path when run as a script

OUT = Path(__file__).resolve().parent / "results" / "synthetic_profile.json"
# (label, file suffix, function name): cumulative time of these calls, as cProfile counts them.
PARTS = [("decode", "repro/data/video.py", "decode"),
         ("clip transform", "repro/data/transforms.py", "__call__"),
         ("dataset item", "repro/data/dataset.py", "__getitem__"),
         ("forward", "torch/nn/modules/module.py", "_call_impl"),
         ("backward", "torch/_tensor.py", "backward"),
         ("optimizer step", "torch/optim/optimizer.py", "wrapper"),
         ("evaluation", "repro/engine/evaluate.py", "evaluate"),
         ("fit (all)", "repro/engine/train.py", "fit")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--row", default="gta")
    a = ap.parse_args()
    from repro.cli import main as run_all

    with tempfile.TemporaryDirectory() as tmp:
        args = ["--table", "probe_modules", "--rows", a.row, "--profile", "synthetic", "--seeds", "0",
                "--force", "--no-progress", "--jobs", "1", "--results-dir", f"{tmp}/r",
                "--reports-dir", f"{tmp}/p", "--runs-dir", f"{tmp}/x"]
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        code = run_all(args)
        prof.disable()
        wall = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"the run failed (exit {code})")
    stats = pstats.Stats(prof).stats
    parts = {}
    for label, suffix, name in PARTS:
        cum = [v[3] for (f, _, fn), v in stats.items() if f.endswith(suffix) and fn == name]
        # a recursive entry point (module __call__) counts its outermost calls once in cumtime
        parts[label] = round(max(cum), 2) if cum else None
    out = {"command": f"python bench/synthetic_profile.py --row {a.row}", "row": a.row, "wall_s": round(wall, 1),
           "threads": 1, "cumulative_s": parts,
           "note": "cProfile cumulative seconds of each entry point (they nest: a dataset item includes "
                   "its decode and transform; fit includes everything trained and evaluated); the data "
                   "loader runs in this process (num_workers 0 in the synthetic recipe)"}
    write_record(OUT, out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
