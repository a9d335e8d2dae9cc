"""SSA's two readings of the temporal attention (repro/models/ssa.py), on the synthetic probe.

Trains the ssa_table2 SSA row under the synthetic profile with temporal_scope=pixel (default)
and =frame, for seeds 0 and 1, through run_all.py, and records top-1 and reversal-pair accuracy
in bench/results/ssa_temporal_scope.json. Usage: .venv/bin/python bench/ssa_temporal_scope.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "ssa_temporal_scope.json"


def main() -> None:
    record = {"command": "python bench/ssa_temporal_scope.py", "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for scope in ("pixel", "frame"):
            for seed in (0, 1):
                res = Path(tmp) / f"{scope}-{seed}"
                cmd = [sys.executable, "run_all.py", "--table", "ssa_table2", "--rows", "ssa",
                       "--set", f"model.insert.args.temporal_scope={scope}", "--seeds", str(seed),
                       "--results-dir", str(res), "--reports-dir", str(res / "reports"),
                       "--runs-dir", str(res / "runs"), "--no-progress"]
                subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
                # a --set run is a variant: results/<table>/<profile>/variants/<hash>/<row>.seed<k>.json
                r = json.loads(next((res / "ssa_table2" / "synthetic").rglob(f"ssa.seed{seed}.json")).read_text())
                m = r["metrics"]
                run = {"temporal_scope": scope, "seed": seed, "top1": round(m["top1"], 1),
                       "reversal_pairs": round(m["reversal_pairs"], 1),
                       "wall_time_s": r["provenance"]["wall_time_s"]}
                record["runs"].append(run)
                print(run, flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
