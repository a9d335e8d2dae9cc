"""Start-up of the commands that train nothing: wall time, peak memory and whether torch loaded.

Runs each of ``run_all.py --list``, ``--help``, ``--table ssa_table2 --fidelity`` and
``--table ssa_table2 --report-only`` (into a temporary folder) 5 times after one warm-up and records
the median wall seconds and the largest peak RSS (MiB) in bench/results/cli_startup.json. Issue 21's
target: none of them imports torch (tests/test_light_commands.py checks that; this records what it
costs). Usage: .venv/bin/python bench/cli_startup.py
"""
from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _record import REPO, write_record  # bench/ is on sys.path when run as a script

OUT = REPO / "bench" / "results" / "cli_startup.json"
PROBE = ("import runpy, sys; sys.argv = ['run_all.py', *sys.argv[1:]]\n"
         "try:\n    runpy.run_path('run_all.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
         "print('torch' in sys.modules, file=sys.stderr)")


def _one(args: list[str]) -> tuple[float, float, bool]:
    """(wall s, peak MiB, torch imported) of one run in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return wall, peak, out.stderr.strip().splitlines()[-1] == "True"


def main() -> None:
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in (("--list", ["--list"]), ("--help", ["--help"]),
                           ("--fidelity", ["--table", "ssa_table2", "--fidelity"]),
                           ("--report-only", ["--table", "ssa_table2", "--report-only", "--reports-dir", tmp])):
            _one(args)  # warm-up: the file cache
            runs = [_one(args) for _ in range(5)]
            rows[name] = {"wall_s_median": round(statistics.median(r[0] for r in runs), 2),
                          "peak_mib_max": round(max(r[1] for r in runs), 1),
                          "imports_torch": any(r[2] for r in runs)}
    record = {"command": "python bench/cli_startup.py", "runs": 5, "commands": rows,
              "note": "peak RSS is the largest child so far (getrusage RUSAGE_CHILDREN), so it can only "
                      "grow down the list; wall time on a shared 2-core machine: read the medians"}
    print(json.dumps(write_record(OUT, record), indent=2))


if __name__ == "__main__":
    main()
