"""Writing a benchmark's result file: the commit and CPU it ran on, and the earlier records kept.

A speed-up is read against an earlier timing, so a re-run does not erase it: the file's previous
record moves into ``previous`` (newest first). Timings from another machine are not comparable;
the ``cpu`` field says which machine each one came from.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def write_record(path: Path, record: dict) -> dict:
    """Add ``commit`` and ``cpu`` to ``record``, keep what ``path`` held under ``previous``, write."""
    from repro.run.provenance import cpu_name

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "repro", "experiments"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    record = {**record, "commit": commit + ("+uncommitted" if dirty else ""), "cpu": cpu_name()}
    if path.exists():
        old = json.loads(path.read_text())
        record["previous"] = [{k: v for k, v in old.items() if k != "previous"}, *old.get("previous", [])]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record
