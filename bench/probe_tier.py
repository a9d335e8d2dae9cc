"""Wall time of the synthetic probe tier: every table, or the tables given (targets: one table
with 3 seeds <= 15 min, all of them <= 2 h on 2 cores).

Runs ``run_all.py --probe`` (or ``--table T --profile synthetic`` for each table given) as a
child process, passes its output through, notes when each table starts and ends, and records
per-table and total wall-clock minutes in bench/results/probe_tier.json. By default it writes
into the repository's results/ and reports/, so the committed probe reports are the ones this
timed run made; rows whose result already exists are skipped (and cost ~nothing), so time a
clean run with --results-dir pointing at an empty folder.

    nohup .venv/bin/python bench/probe_tier.py > probe.log 2>&1 &     # all tables, background
    .venv/bin/python bench/probe_tier.py --tables ssa_table2 --results-dir /tmp/r --reports-dir /tmp/p
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "probe_tier.json"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", nargs="*", help="tables to time (default: the whole tier via --probe)")
    p.add_argument("--results-dir", default=None)
    p.add_argument("--reports-dir", default=None)
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args()
    cmd = [sys.executable, "-u", "run_all.py", "--no-progress"]
    cmd += ([x for t in a.tables for x in ("--table", t)] + ["--profile", "synthetic"]) if a.tables else ["--probe"]
    cmd += ["--results-dir", a.results_dir] if a.results_dir else []
    cmd += ["--reports-dir", a.reports_dir] if a.reports_dir else []
    t0 = time.time()
    starts: dict[str, float] = {}
    trained: dict[str, int] = {}
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        m = re.match(r"\[(\w+)\] profile: ", line)
        if m:
            starts[m.group(1)] = time.time() - t0
        m = re.match(r"\[(\w+)\] \S+: top1 ", line)
        if m:
            trained[m.group(1)] = trained.get(m.group(1), 0) + 1
    rc = proc.wait()
    total = time.time() - t0
    names = list(starts)
    tables = {}
    for i, t in enumerate(names):
        end = starts[names[i + 1]] if i + 1 < len(names) else total
        tables[t] = {"minutes": round((end - starts[t]) / 60, 1), "runs_trained": trained.get(t, 0)}
    record = {"command": " ".join(["python bench/probe_tier.py", *sys.argv[1:]]), "exit_code": rc,
              "total_minutes": round(total / 60, 1), "tables": tables,
              "targets": {"one_table_3_seeds_minutes": 15, "all_tables_minutes": 120},
              "note": "wall clock on this machine; a table's minutes include generating a missing "
                      "dataset; runs copied from an identical config of an earlier table take ~0 s"}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    sys.exit(rc)


if __name__ == "__main__":
    main()
