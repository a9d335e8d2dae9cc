"""Result files, keyed by what ran: (table, profile, row, seed, resolved-config hash).

A run of the spec's own config (no ``--set``) writes ``results/<table>/<profile>/<row>[.seed<k>].json``;
a run whose config differs from it writes ``results/<table>/<profile>/variants/<hash>/<row>[.seed<k>].json``,
so that it never overwrites the row's result nor is averaged with it. ``<table>`` is the spec's
id, or ``<id>@<path hash>`` for a spec outside ``experiments/`` (:attr:`repro.config.loader.Spec.key`).
Writes are atomic. A file that cannot be read is named once and skipped.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from repro.files import write_atomic

PACKAGE = Path(__file__).resolve().parents[1]
# A checkout (pyproject.toml beside the package) keeps results/ and reports/ in it; an installed
# package keeps them in the folder it is run from.
REPO = PACKAGE.parent if (PACKAGE.parent / "pyproject.toml").is_file() else Path.cwd()
RESULTS_DIR = REPO / "results"
VARIANTS = "variants"
# Results of published checkpoints evaluated here (run_all.py --eval-only), apart from trained ones.
CHECKPOINTS = "checkpoints"


def short_path(path: Path | str) -> str:
    """``path`` as a message shows it: relative to the working folder when it lies inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def keyed_dir(root: Path, table: str, profile: str, variant: str | None = None) -> Path:
    """``<root>/<table>/<profile>[/variants/<hash>]``: results and run folders are keyed alike."""
    base = Path(root) / table / profile
    return base / VARIANTS / variant if variant else base


def result_path(results_dir: Path, table: str, profile: str, key: str, variant: str | None = None) -> Path:
    """Where the result of ``key`` (``row`` or ``row.seed<k>``) lives; ``variant``: its config hash
    when that config is not the spec's own."""
    return keyed_dir(results_dir, table, profile, variant) / f"{key}.json"


def checkpoint_result_path(results_dir: Path, table: str, profile: str, row: str, digest: str) -> Path:
    """``<results>/<table>/<profile>/checkpoints/<row>.<sha256[:12]>.json``: one evaluated file."""
    return keyed_dir(results_dir, table, profile) / CHECKPOINTS / f"{row}.{digest[:12]}.json"


def write_json_atomic(data: dict, path: Path) -> None:
    data = {k: v for k, v in data.items() if k != "_path"}  # where it was read from, not content
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", fsync=False)


def read_result(path: Path) -> dict | None:
    """The result at ``path``; None when absent; ValueError naming the file when unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as e:
        raise ValueError(f"result file {path} cannot be read ({e}); delete it and re-run the row") from e
    if not isinstance(data, dict) or not isinstance(data.get("provenance"), dict) \
            or not isinstance(data.get("metrics"), dict) or "row" not in data:
        raise ValueError(f"result file {path} is not a result (no row, metrics or provenance); "
                         "delete it and re-run the row")
    return data


_WARNED: set[str] = set()


def read_results(results_dir: Path, table: str) -> list[dict]:
    """Every readable result of ``table`` (all profiles, variants included), in a stable order.

    Each carries its file as ``_path`` (not saved). An unreadable file is named once on stderr
    and skipped: it breaks nothing else.
    """
    base = Path(results_dir) / table
    return read_files([*base.glob("*/*.json"), *base.glob(f"*/{VARIANTS}/*/*.json")])


def read_checkpoint_results(results_dir: Path, table: str) -> list[dict]:
    """Every evaluated-checkpoint result of ``table`` (all profiles), each with its ``_path``."""
    return read_files((Path(results_dir) / table).glob(f"*/{CHECKPOINTS}/*.json"))


def read_files(paths) -> list[dict]:
    """The readable results among ``paths``, sorted by path, each with its ``_path``; an
    unreadable file is named once on stderr and skipped."""
    out = []
    for p in sorted(paths):
        try:
            r = read_result(p)
        except ValueError as e:
            if str(p) not in _WARNED:
                _WARNED.add(str(p))
                print(f"warning: {e}; skipped", file=sys.stderr)
            continue
        if r:
            out.append({**r, "_path": str(p)})
    return out


# Where the source diff of a run from a dirty tree is kept, inside the results root, named by
# its sha256: every result from the same uncommitted tree points at one file.
PATCHES = "_patches"
_STATE: dict[str, tuple[str, str | None, str | None]] = {}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=PACKAGE.parent, capture_output=True, text=True,
                          check=True).stdout


def git_state() -> tuple[str, str | None, str | None]:
    """``(commit, patch, sha256 of the patch)``: HEAD, with ``+dirty`` when the code differs from
    it, and the patch that turns HEAD into the code that runs (None when clean): tracked changes
    plus untracked, unignored files. ``results/`` and ``reports/`` are left out: they change
    during every run. Computed once per process."""
    if "state" in _STATE:
        return _STATE["state"]
    try:
        head = _git("rev-parse", "HEAD").strip()
        scope = ["--", ".", ":!results", ":!reports"]
        patch = _git("diff", "HEAD", "--binary", *scope)
        for f in _git("ls-files", "--others", "--exclude-standard", *scope).splitlines():
            # --no-index exits 1 when the files differ, which they always do here.
            patch += subprocess.run(["git", "diff", "--no-index", "--binary", "/dev/null", f],
                                    cwd=PACKAGE.parent, capture_output=True, text=True).stdout
        digest = hashlib.sha256(patch.encode()).hexdigest() if patch else None
        state = (head + ("+dirty" if patch else ""), patch or None, digest)
    except (OSError, subprocess.CalledProcessError):
        state = ("unknown", None, None)
    _STATE["state"] = state
    return state


def git_commit() -> str:
    """HEAD commit of the checkout, with ``+dirty`` when the code differs from it (:func:`git_state`)."""
    return git_state()[0]


def diff_sha256() -> str | None:
    """sha256 of the patch of a dirty tree (:func:`git_state`); None when clean."""
    return git_state()[2]


def write_result(result: dict, path: Path, results_dir: Path) -> None:
    """Write a result file; a result from a dirty tree gets its patch saved once under
    ``<results_dir>/_patches/<sha256>.patch`` and named in its provenance (``diff_file``), so
    that the code that produced it can be rebuilt: ``git checkout <commit> && git apply <patch>``."""
    prov = result.get("provenance") or {}
    digest = prov.get("diff_sha256")
    if digest:
        patch_file = Path(results_dir) / PATCHES / f"{digest}.patch"
        _, patch, mine = git_state()
        if not patch_file.is_file() and patch is not None and digest == mine:
            write_atomic(patch_file, patch, fsync=False)  # --jobs workers may write it at once
        result = {**result, "provenance": {**prov, "diff_file": f"{PATCHES}/{patch_file.name}"}}
    write_json_atomic(result, path)
