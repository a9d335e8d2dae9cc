"""Measure the ssa_table2 slice's targets on this machine and record them.

Runs, each as its own subprocess, timed by wall clock:
  1. the README's main job from scratch (fresh dataset cache, results and checkpoints in a temp
     dir): python run_all.py --table ssa_table2   (target <= 600 s on 2 cores, set-up excluded)
  2. python run_all.py --table ssa_table2 --report-only                  (target <= 5 s)
  3. python -m pytest                                                    (target <= 300 s)
and writes bench/results/slice_targets.json. Usage: .venv/bin/python bench/slice_targets.py
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "slice_targets.json"


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    t0 = time.time()
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    dt = time.time() - t0
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return dt, p.stdout


def main() -> None:
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        dirs = ["--results-dir", str(t / "results"), "--reports-dir", str(t / "reports"),
                "--runs-dir", str(t / "runs"), "--cache-dir", str(t / "cache"), "--no-progress"]
        main_s, log = timed([py, "run_all.py", "--table", "ssa_table2", *dirs])
        report_s, _ = timed([py, "run_all.py", "--table", "ssa_table2", "--report-only", *dirs])
        rows = {}
        for p in sorted((t / "results" / "ssa_table2" / "synthetic").glob("*.json")):
            r = json.loads(p.read_text())
            rows[r["row"]] = {"top1": round(r["metrics"]["top1"], 1),
                              "reversal_pairs": round(r["metrics"]["reversal_pairs"], 1),
                              "wall_time_s": r["provenance"]["wall_time_s"]}
    tests_s, test_out = timed([py, "-m", "pytest", "-q"])
    record = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "main_job_s": round(main_s, 1), "main_job_target_s": 600,
        "report_only_s": round(report_s, 2), "report_only_target_s": 5,
        "test_suite_s": round(tests_s, 1), "test_suite_target_s": 300,
        "test_summary": test_out.strip().splitlines()[-1],
        "rows": rows,
        "command": "python bench/slice_targets.py",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
