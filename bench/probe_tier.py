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
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from _record import write_record  # noqa: E402  (bench/ is on sys.path when run as a script)
OUT = REPO / "bench" / "results" / "probe_tier.json"


def timings(results_dir: Path, since: float) -> dict:
    """Per table: when (minutes after ``since``) its last synthetic result was written, and how
    many of its runs were trained vs copied from an identical config. Read from the result
    files, so it holds for tables whose runs shared one pool and overlapped in time."""
    out = {}
    for table_dir in sorted(Path(results_dir).glob("*/synthetic")):
        files = [f for f in table_dir.glob("*.json") if f.stat().st_mtime >= since]
        if not files:
            continue
        copied = sum('"reused_from"' in f.read_text() for f in files)
        out[table_dir.parent.name] = {
            "finished_after_minutes": round((max(f.stat().st_mtime for f in files) - since) / 60, 1),
            "runs_trained": len(files) - copied, "runs_copied": copied}
    return dict(sorted(out.items(), key=lambda kv: kv[1]["finished_after_minutes"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", nargs="*", help="tables to time (default: the whole tier via --probe)")
    p.add_argument("--results-dir", default=None)
    p.add_argument("--reports-dir", default=None)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--force", action="store_true", help="re-run rows whose results exist")
    p.add_argument("--record-since", type=float, default=None, metavar="EPOCH",
                   help="do not run: record the timings of a run that started at this Unix time "
                        "(from the result files' times), e.g. after a run started without this script")
    a = p.parse_args()
    results_dir = Path(a.results_dir) if a.results_dir else REPO / "results"
    if a.record_since is not None:
        files = [f for f in results_dir.glob("*/synthetic/*.json") if f.stat().st_mtime >= a.record_since]
        end = max((f.stat().st_mtime for f in files), default=a.record_since)
        _write(a, 0, end - a.record_since, timings(results_dir, a.record_since))
        return
    cmd = [sys.executable, "-u", "run_all.py", "--no-progress"]
    cmd += ([x for t in a.tables for x in ("--table", t)] + ["--profile", "synthetic"]) if a.tables else ["--probe"]
    cmd += ["--results-dir", a.results_dir] if a.results_dir else []
    cmd += ["--reports-dir", a.reports_dir] if a.reports_dir else []
    cmd += ["--force"] if a.force else []
    t0 = time.time()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
    rc = proc.wait()
    _write(a, rc, time.time() - t0, timings(results_dir, t0))
    sys.exit(rc)


def _write(a: argparse.Namespace, rc: int, total_s: float, tables: dict) -> None:
    record = {"command": " ".join(["python bench/probe_tier.py", *sys.argv[1:]]), "exit_code": rc,
              "total_minutes": round(total_s / 60, 1), "tables": tables,
              "targets": {"one_table_3_seeds_minutes": 15, "all_tables_minutes": 120},
              "note": "wall clock on this machine (2 cores, --jobs 2). With --probe every table's "
                      "runs share one pool, so a table's finished_after_minutes is when its last "
                      "run ended, not its own cost; runs copied from an identical config of "
                      "another table cost ~0 s"}
    record = write_record(a.out, record)
    print(json.dumps({k: v for k, v in record.items() if k != "previous"}, indent=2))


if __name__ == "__main__":
    main()
