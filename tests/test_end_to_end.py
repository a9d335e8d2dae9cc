"""run_all.py end to end on a tiny generated dataset (2 iterations), then report regeneration."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from repro.cli import main
from repro.report.build import build_report
from repro.config.loader import load_spec

REPO = Path(__file__).resolve().parents[1]
# The tiny settings live in a copy of the spec (not in --set): its runs are then the spec's own
# config, reported as such, and kept apart from the real table's results (key ssa_table2@<hash>).
TINY = {"train": {"epochs": 1, "max_iters": 2, "batch_size": 4}, "data": {"train_per_class": 2, "val_per_class": 1}}
FLAGS = ["--no-progress", "--seeds", "0"]


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    import yaml

    base = tmp_path_factory.mktemp("e2e")
    spec = yaml.safe_load((REPO / "experiments" / "ssa_table2.yaml").read_text())
    spec["defaults"].update(TINY)
    path = base / "specs" / "ssa_table2.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    dirs = {k: base / k for k in ("results", "reports", "runs", "cache")}
    return {**dirs, "spec": path, "key": load_spec(str(path)).key}


def _args(d, *extra):
    return ["--table", str(d["spec"]), "--results-dir", str(d["results"]), "--reports-dir",
            str(d["reports"]), "--runs-dir", str(d["runs"]), "--cache-dir", str(d["cache"]), *FLAGS, *extra]


@pytest.mark.slow
def test_run_all_subprocess_end_to_end(run_dirs):
    proc = subprocess.run([sys.executable, str(REPO / "run_all.py"), *_args(run_dirs, "--rows", "nl3d,ssa")],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "profile: synthetic" in proc.stdout
    for row in ("nl3d", "ssa"):
        res = json.loads((run_dirs["results"] / run_dirs["key"] / "synthetic" / f"{row}.seed0.json").read_text())
        prov = res["provenance"]
        for key in ("commit", "spec_hash", "profile", "dataset", "frames", "views", "epochs", "seed",
                    "device", "wall_time_s"):
            assert key in prov, key
        assert prov["profile"] == "synthetic" and prov["frames"] == 8 and prov["views"] == "1x1"
        assert 0 <= res["metrics"]["top1"] <= 100
        assert res["metrics"]["reversal_pairs"] is not None
        if row == "nl3d":  # order-blind on matched forward/reversed validation pairs: exactly half
            assert res["metrics"]["reversal_pairs"] == 50.0
        assert (run_dirs["runs"] / run_dirs["key"] / "synthetic" / f"{row}.seed0" / "last.pt").is_file()
    for ext in ("md", "csv", "png"):
        assert (run_dirs["reports"] / f"{run_dirs['key']}.{ext}").is_file()


@pytest.mark.slow
def test_existing_result_is_skipped_unless_forced(run_dirs, capsys):
    assert main(_args(run_dirs, "--rows", "nl3d")) == 0
    assert "skipped" in capsys.readouterr().out
    assert main(_args(run_dirs, "--rows", "nl3d", "--force")) == 0
    assert "top1" in capsys.readouterr().out


@pytest.mark.slow
def test_report_only_regenerates_identically(run_dirs):
    key = run_dirs["key"]
    md = run_dirs["reports"] / f"{key}.md"
    before = {ext: (run_dirs["reports"] / f"{key}.{ext}").read_bytes() for ext in ("md", "csv", "png")}
    assert main(["--table", str(run_dirs["spec"]), "--results-dir", str(run_dirs["results"]),
                 "--reports-dir", str(run_dirs["reports"]), "--report-only"]) == 0
    after = {ext: (run_dirs["reports"] / f"{key}.{ext}").read_bytes() for ext in ("md", "csv", "png")}
    assert before == after
    text = md.read_text()
    assert "not comparable" in text and "Reversal pairs" in text
    assert "| 2D+1D NL" in text and "not run" in text  # rows without results are listed as such


def test_paper_profile_without_data_stops_with_instructions(run_dirs, capsys, monkeypatch):
    monkeypatch.delenv("REPRO_SSV2_ROOT", raising=False)
    assert main(_args(run_dirs, "--profile", "paper", "--rows", "ssa")) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "REPRO_SSV2_ROOT" in err and "--data-root" in err


def test_committed_report_matches_committed_results(tmp_path):
    """reports/ssa_table2.{md,csv} are exactly what --report-only makes from results/."""
    committed = REPO / "reports" / "ssa_table2.md"
    if not (REPO / "results" / "ssa_table2").is_dir():
        pytest.fail("results/ssa_table2 is missing: run ./run.sh --table ssa_table2 and commit it")
    build_report("ssa_table2", REPO / "results", tmp_path)
    for ext in ("md", "csv"):
        assert (tmp_path / f"ssa_table2.{ext}").read_bytes() == (REPO / "reports" / f"ssa_table2.{ext}").read_bytes()
    assert committed.is_file() and (REPO / "reports" / "ssa_table2.png").is_file()
