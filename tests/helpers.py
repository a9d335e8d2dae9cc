"""Helpers shared by tests: find a run's files whether they sit at the row's path or under variants/."""
from __future__ import annotations

from pathlib import Path


def find_file(base: Path, table: str, profile: str, name: str) -> Path:
    """``<base>/<table>/<profile>/[variants/<hash>/]<name>``: a ``--set`` run lives under variants/.

    Returns the row's own path when nothing exists yet (for polling and negative checks).
    """
    hits = sorted((Path(base) / table / profile).glob(f"**/{name}"))
    return hits[0] if hits else Path(base) / table / profile / name
