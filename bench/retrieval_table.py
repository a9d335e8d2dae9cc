"""Wall time of SSAN Table 7 on the synthetic default (target: under 15 minutes on 2 cores).

Runs `run_all.py --table ssa_table7` as a fresh clone would: empty results, runs and cache
folders, so the synthetic dataset is generated, the three classifiers (ssa_table4's SSA, TSN and
TSM rows) are trained for 3 seeds each, their features extracted and the retrieval network
trained 9 times. Records the wall time and the rows' metrics in
bench/results/retrieval_table.json. Usage: .venv/bin/python bench/retrieval_table.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import REPO, write_record  # noqa: E402

OUT = REPO / "bench" / "results" / "retrieval_table.json"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "run_all.py", "--table", "ssa_table7", "--profile", "synthetic", "--no-progress",
               *[a for d in ("results", "reports", "runs", "cache") for a in (f"--{d}-dir", f"{tmp}/{d}")]]
        t0 = time.time()
        subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
        wall = time.time() - t0
        metrics = {}
        for p in sorted(Path(tmp, "results", "ssa_table7", "synthetic").glob("*.json")):
            m = json.loads(p.read_text())["metrics"]
            metrics[p.stem] = {k: round(m[k], 1) for k in ("r@1", "r@5", "order_only_r@1")}
    record = {"command": "python bench/retrieval_table.py", "table": "ssa_table7", "profile": "synthetic",
              "seeds": 3, "classifier_runs": 9, "retrieval_runs": len(metrics), "wall_s": round(wall, 1),
              "target_s": 900, "metrics": metrics}
    print(json.dumps(write_record(OUT, record), indent=2))


if __name__ == "__main__":
    main()
