"""Commands write only where they are told (issue 23): another results folder never rewrites the
committed reports."""
from __future__ import annotations

from pathlib import Path

from repro.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_cost_with_another_results_dir_leaves_the_committed_reports_alone(tmp_path):
    committed = {p: p.stat().st_mtime_ns for p in (REPO / "reports").glob("gta_fig14.*")}
    results = tmp_path / "results"
    assert main(["--table", "gta_fig14", "--cost", "--results-dir", str(results)]) == 0
    assert (tmp_path / "reports" / "gta_fig14.md").is_file()  # beside the results it read
    assert {p: p.stat().st_mtime_ns for p in committed} == committed


def test_a_ctrl_c_swallowed_by_a_destructor_still_stops_with_130(monkeypatch, capsys):
    """A KeyboardInterrupt raised inside __del__ is printed and ignored by Python; the run must
    still end as interrupted (decord's VideoReader.__del__ did this once in 9 tries)."""
    import os
    import signal

    from repro import cli

    class Reader:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C arrives during the cleanup

    def run_command(*a, **k):
        r = Reader()
        del r  # the KeyboardInterrupt is raised in __del__ and swallowed there
        return 0

    monkeypatch.setattr("repro.run.command.run_command", run_command)
    assert cli.main(["--table", "ssa_table2", "--report-only"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_weights_replaced_at_the_same_path_make_another_config(tmp_path):
    """--weights is keyed by content: a file replaced at the same path re-runs instead of being
    reported as 'result exists for its current config'."""
    import os

    from repro.config.loader import config_hash, load_spec, resolve
    from repro.run.unit import run_hash

    w = tmp_path / "k400.pth"
    w.write_bytes(b"first checkpoint")
    spec = load_spec("ssa_table2")
    over = {"model": {"weights": str(w)}}
    first = resolve(spec, "ssa", "synthetic", over)
    w.write_bytes(b"second checkpoint, same path")
    os.utime(w, ns=(1, 1))  # even with an old modification time
    second = resolve(spec, "ssa", "synthetic", over)
    assert first["meta"]["weights_sha256"] != second["meta"]["weights_sha256"]
    assert config_hash(first) != config_hash(second) and run_hash(first) != run_hash(second)
