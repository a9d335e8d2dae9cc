"""Wall time of one table's smoke profile (target: <= 3 minutes on 2 cores).

Runs `run_all.py --table ssa_table2 --profile smoke` (5 rows; ResNet-50, 224 crops, the paper
recipe's transforms and optimiser, 2 iterations and evaluation per row, on tiny generated data
in the SSv2 layout) into a temporary folder and records the wall time in
bench/results/smoke_table.json. Usage: .venv/bin/python bench/smoke_table.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "smoke_table.json"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "run_all.py", "--table", "ssa_table2", "--profile", "smoke", "--no-progress",
               "--results-dir", f"{tmp}/results", "--reports-dir", f"{tmp}/reports", "--runs-dir", f"{tmp}/runs"]
        t0 = time.time()
        subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
        wall = time.time() - t0
    record = {"command": "python bench/smoke_table.py", "table": "ssa_table2", "rows": 5,
              "wall_s": round(wall, 1), "target_s": 180}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
