"""Every result can be traced to the code that produced it: a committed result names a commit,
and one made from a dirty tree carries the sha256 of its source patch, saved beside it."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from repro.results import store

REPO = Path(__file__).resolve().parents[1]


def _committed_results() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "results"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.split()
    return [REPO / p for p in out if p.endswith(".json")]


def test_no_committed_result_is_dirty_without_its_patch():
    bad = []
    for p in _committed_results():
        prov = json.loads(p.read_text()).get("provenance") or {}
        if not str(prov.get("commit", "")).endswith("+dirty"):
            continue
        patch = REPO / "results" / str(prov.get("diff_file", ""))
        if not prov.get("diff_sha256") or not patch.is_file() \
                or hashlib.sha256(patch.read_bytes()).hexdigest() != prov["diff_sha256"]:
            bad.append(str(p.relative_to(REPO)))
    assert not bad, f"{len(bad)} committed result(s) from a dirty tree without their patch: {bad[:10]}"


def test_a_dirty_tree_saves_its_patch_once(tmp_path, monkeypatch):
    patch = "diff --git a/x b/x\n+change\n"
    digest = hashlib.sha256(patch.encode()).hexdigest()
    monkeypatch.setitem(store._STATE, "state", ("abc+dirty", patch, digest))
    results = tmp_path / "results"
    for row in ("a", "b"):
        result = {"table": "t", "row": row, "metrics": {}, "provenance": {"commit": store.git_commit(),
                                                                         "diff_sha256": store.diff_sha256()}}
        store.write_result(result, results / "t" / "synthetic" / f"{row}.json", results)
    saved = list((results / store.PATCHES).iterdir())
    assert [p.name for p in saved] == [f"{digest}.patch"] and saved[0].read_text() == patch
    prov = json.loads((results / "t" / "synthetic" / "a.json").read_text())["provenance"]
    assert prov["diff_sha256"] == digest and prov["diff_file"] == f"{store.PATCHES}/{digest}.patch"


def test_a_clean_tree_records_no_patch(tmp_path, monkeypatch):
    monkeypatch.setitem(store._STATE, "state", ("abc", None, None))
    assert store.diff_sha256() is None
    results = tmp_path / "results"
    store.write_result({"table": "t", "row": "a", "metrics": {}, "provenance": {"commit": "abc",
                                                                               "diff_sha256": None}},
                       results / "t" / "synthetic" / "a.json", results)
    assert not (results / store.PATCHES).exists()
