"""Result files: ``results/<table>/<profile>/<row>.json``, written atomically, with provenance."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO / "results"


def result_path(results_dir: Path, table: str, profile: str, row: str) -> Path:
    return Path(results_dir) / table / profile / f"{row}.json"


def write_json_atomic(data: dict, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_result(path: Path) -> dict | None:
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"result file {path} is not valid JSON ({e}); delete it and re-run the row") from e


def read_results(results_dir: Path, table: str) -> list[dict]:
    """Every result of ``table``, all profiles, in a stable order."""
    base = Path(results_dir) / table
    return [r for p in sorted(base.glob("*/*.json")) if (r := read_result(p))]


def git_commit() -> str:
    """HEAD commit of the checkout, with ``+dirty`` when tracked code differs from it.

    ``results/`` and ``reports/`` are left out: they change during every run.
    """
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":!results", ":!reports"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
