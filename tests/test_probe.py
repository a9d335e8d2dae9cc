"""The synthetic probe: seeds reduced to mean ± std, claims judged against the seed spread,
the probe tier of the specs, reports/probe.md, and the probe CLI on a module from outside."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from repro.report.claims import check_claims
from repro.report.probe import probe_tables, write_probe_report
from repro.report.seeds import aggregate, order_sensitivity
from repro.report.stats import ALPHA, welch
from repro.report.tables import long_table, markdown
from repro.config.loader import load_spec
from helpers import find_file

REPO = Path(__file__).resolve().parents[1]


def _hash(table, row, seed, profile):
    """The real spec hash of a built row of a committed table (a report uses only those), else a dummy."""
    from repro.config.loader import config_hash, list_tables, resolve, seed_override

    if table not in list_tables():
        return f"h{seed}"
    return config_hash(resolve(load_spec(table), row, profile, seed_override(seed)))


def _result(table, row, seed, top1, rev=None, fams=None, profile="synthetic"):
    m = {"top1": top1, "top5": min(100.0, top1 + 20)}
    if rev is not None:
        m["reversal_pairs"] = rev
    if fams:
        m["family"] = fams
    return {"table": table, "row": row, "seed": seed, "metrics": m,
            "provenance": {"profile": profile, "dataset": "synthetic (k)", "frames": 8, "views": "1x1",
                           "epochs": 12, "seed": seed, "commit": "c" * 40, "code": {}, "spec_hash": _hash(table, row, seed, profile),
                           "device": "cpu", "wall_time_s": 60.0, "places": ""}}


def test_aggregate_gives_mean_and_sample_std_per_metric():
    runs = [_result("t", "a", s, v, rev=r, fams={"appearance": 100.0, "relation": f})
            for s, (v, r, f) in enumerate([(60.0, 70.0, 50.0), (62.0, 80.0, 60.0), (64.0, 90.0, 70.0)])]
    (agg,) = aggregate(runs)
    assert agg["n"] == 3 and agg["mean"]["top1"] == pytest.approx(62.0)
    assert agg["std"]["top1"] == pytest.approx(2.0) and agg["std"]["reversal_pairs"] == pytest.approx(10.0)
    assert agg["mean"]["family:relation"] == pytest.approx(60.0) and agg["std"]["family:appearance"] == 0.0
    assert agg["provenance"]["seed"] == "0,1,2"


@pytest.mark.parametrize("a, b, sign", [
    ((60.0, 1.0, 3), (50.0, 1.0, 3), 1),      # far apart for the spread
    ((51.0, 3.0, 3), (50.0, 3.0, 3), 0),      # inside it: cannot tell
    ((40.0, 1.0, 3), (50.0, 0.0, 3), -1),
    ((50.0, 0.0, 3), (50.0, 0.0, 3), 0),      # identical and spread-free: a tie, not a win
    ((59.0, 16.9, 3), (81.7, 2.0, 3), 0),     # gta_fig11 at f1c8093: 2 standard errors, not Welch
])
def test_welch_decides_against_the_seed_spread(a, b, sign):
    t = welch(a, b)
    assert ((t.p < ALPHA) * (1 if t.diff > 0 else -1)) == sign


def test_order_sensitivity_bands():
    assert order_sensitivity(50.0, 0.0) == "blind" and order_sensitivity(53.0, 1.0) == "blind"
    assert order_sensitivity(90.0, 5.0) == "aware"
    assert order_sensitivity(62.0, 5.0) == "unclear"  # 12 points up, but within 3 std


SPEC = """
id: toy
title: toy
paper: gta
table: Figure 7
dataset: ssv1
split: val
recipe: ssan_ss
defaults: {model: {backbone: {depth: 50}, insert: {stages: {layer2: [1]}, position: after_block}}}
probe: {}
rows:
  - {id: base, reported: {top1: 17.0}}
  - {id: ta, model: {insert: {module: gta_ta}}, reported: {top1: 20.0}}
  - {id: tape, model: {insert: {module: gta_ta, args: {pe: true}}}, reported: {top1: 21.0}}
claims:
  - {id: c1, text: "TAPE > TA", kind: greater, rows: [tape, ta]}
  - {id: c2, text: "TA > base", kind: greater, rows: [ta, base]}
  - {id: c3, text: "TAPE best", kind: best, rows: [tape]}
"""


def _toy(tmp_path):
    p = tmp_path / "toy.yaml"
    p.write_text(textwrap.dedent(SPEC))
    return load_spec(p)


def test_claims_are_judged_against_the_seed_spread(tmp_path):
    spec = _toy(tmp_path)
    res = []
    for s in range(3):
        res += [_result("toy", "base", s, 50.0 + s), _result("toy", "ta", s, 51.0 + s * 2),
                _result("toy", "tape", s, 70.0 + s)]
    df = long_table(spec, res)
    got = {c["claim"]: c for c in check_claims(spec.claims, df, "ssv1")}
    assert got["c1"]["paper"] == "upheld" and got["c1"]["synthetic"].startswith("upheld (")
    assert got["c2"]["synthetic"].startswith("cannot tell (")
    assert got["c3"]["synthetic"].startswith("upheld")
    res += [_result("toy", "base", 3, 90.0)]  # a fourth seed of base far above everything
    got = {c["claim"]: c for c in check_claims(spec.claims, long_table(spec, res), "ssv1")}
    assert got["c3"]["synthetic"].startswith("cannot tell (")


def test_report_shows_mean_std_seeds_and_order_column(tmp_path):
    spec = _toy(tmp_path)
    res = [_result("toy", r, s, 60.0 + s, rev=50.0 if r != "tape" else 95.0 + s,
                   fams={"direction": 50.0, "appearance": 100.0})
           for r in ("base", "ta", "tape") for s in range(3)]
    df = long_table(spec, res)
    text = markdown(spec, df, res, None)
    assert "61.0 ± 1.0" in text and "96.0 ± 1.0" in text
    assert "| aware" in text and "| blind" in text
    line = df[(df.row == "ta") & (df.metric == "top1")].iloc[0]
    assert line.seeds == 3 and line.reproduced_std == pytest.approx(1.0)


def test_probe_tier_covers_the_issue_tables_and_leaves_slowfast_out():
    tier = probe_tables()
    for t in ("ssa_table2", "ssa_table5", "ssa_table6", "gta_fig3", "gta_fig5", "gta_fig7", "gta_fig9",
              "gta_fig11", "gta_fig12", "gta_fig13", "gta_fig14", "probe_modules"):
        assert t in tier
    assert "ssa_table1" not in tier and tier[0] == "probe_modules"
    fig3 = load_spec("gta_fig3")
    assert fig3.probe_rows == ["r2d50", "nl", "dnl", "gta"]


def test_probe_placements_stay_distinct_on_the_probe_backbone():
    """GTA Figure 11's two-block and five-block rows must not collapse into one config."""
    from repro.config.loader import resolve

    spec = load_spec("gta_fig11")
    two = resolve(spec, "res3_1_res4_1", "synthetic")["model"]["insert"]["stages"]
    five = resolve(spec, "res3_2_res4_3", "synthetic")["model"]["insert"]["stages"]
    count = lambda st: sum(len(v) for v in st.values())  # noqa: E731
    assert count(two) == 2 and count(five) > count(two) and two != five


def test_probe_report_from_results(tmp_path):
    results = tmp_path / "results"
    from repro.results.store import result_path, write_json_atomic

    for row, rev in (("tsn", 50.0), ("tape", 90.0)):
        for s in range(3):
            r = _result("probe_modules", row, s, 60.0 + s, rev=rev + s,
                        fams={"appearance": 100.0, "direction": rev, "relation": 70.0})
            write_json_atomic(r, result_path(results, "probe_modules", "synthetic", f"{row}.seed{s}"))
    md = write_probe_report(results, tmp_path / "reports")
    text = md.read_text()
    assert (tmp_path / "reports" / "probe.png").stat().st_size > 1000
    assert "| TSN" in text and "| TAPE" in text and "91.0 ± 1.0" in text
    assert "## The papers' claims on the probe" in text


OUTSIDE = '''
import torch
from torch import nn


class TemporalDiff(nn.Module):
    """x + a learned 3x1x1 temporal conv (zero-initialised): a module the harness never saw."""

    def __init__(self, channels, num_frames=8, scale=1.0):
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0), bias=False)
        nn.init.zeros_(self.conv.weight)
        self.scale = scale
        self.frames = num_frames

    def forward(self, x):  # (N, C, T, H, W)
        assert x.shape[2] == self.frames
        return x + self.scale * self.conv(x)
'''


@pytest.mark.slow
def test_probe_cli_on_a_module_defined_outside_the_package(tmp_path, tiny_root, monkeypatch):
    (tmp_path / "my_blocks.py").write_text(OUTSIDE)
    out = tmp_path / "probe_out"
    cmd = [sys.executable, "-m", "repro.probe", "--module", "my_blocks:TemporalDiff",
           "--places", "layer2.1,layer3.1", "--args", "{scale: 0.5}", "--seeds", "0,1", "--jobs", "2",
           "--out", str(out), "--cache-dir", str(tiny_root.parents[1]), "--no-progress",
           "--set", "train.epochs=1", "--set", "train.max_iters=2", "--set", "data.train_per_class=2",
           "--set", "data.val_per_class=1", "--set", "train.batch_size=4"]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    from repro.config.loader import load_spec

    monkeypatch.syspath_prepend(str(tmp_path))  # the spec names my_blocks:TemporalDiff
    key = load_spec(str(out / "temporaldiff.yaml")).key
    for s in (0, 1):
        res = json.loads(find_file(out / "results", key, "synthetic", f"temporaldiff.seed{s}.json").read_text())
        assert res["provenance"]["seed"] == s
        ins = res["config"]["model"]["insert"]
        assert ins["module"] == "my_blocks:TemporalDiff" and ins["args"] == {"scale": 0.5}
        assert res["provenance"]["places"] == "layer2[0] layer3[1]"  # fitted to 1/1/2/1 blocks
        assert set(res["metrics"]["family"]) >= {"appearance", "relation", "direction", "pretending"}
    table = (out / "temporaldiff.md").read_text()
    assert "| TemporalDiff" in table and "Reversal pairs" in table and "relation" in table
    assert "not comparable" in table  # --set was given: the built-in rows are not its peers
    assert "| TemporalDiff" in proc.stdout


@pytest.mark.slow
def test_probe_cli_names_a_bad_class_path(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "repro.probe", "--module", "no_such_pkg.blocks:Thing",
                           "--out", str(tmp_path / "o")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2
    assert "no_such_pkg.blocks:Thing" in proc.stderr and "Traceback" not in proc.stderr


def test_identical_configs_across_tables_share_one_run(tmp_path):
    """GTA Figure 7's +SA+GTA and Figure 3's +GTA are one config: the second is copied, not retrained."""
    from repro.results.store import result_path, write_json_atomic
    from repro.run.unit import Unit, find_twin, run_hash

    a = Unit("gta_fig3", "gta", "synthetic", 0).config()[1]
    b = Unit("gta_fig7", "sa_gta", "synthetic", 0).config()[1]
    c = Unit("gta_fig7", "sa_gta", "synthetic", 1).config()[1]
    assert run_hash(a) == run_hash(b) != run_hash(c)  # names differ, training does not; seeds do
    src = _result("gta_fig3", "gta", 0, 80.0)
    src["provenance"]["run_hash"] = run_hash(a)
    write_json_atomic(src, result_path(tmp_path, "gta_fig3", "synthetic", "gta.seed0"))
    own = result_path(tmp_path, "gta_fig7", "synthetic", "sa_gta.seed0")
    path, res = find_twin(tmp_path, "synthetic", run_hash(b), own)
    assert path.stem == "gta.seed0" and res["metrics"]["top1"] == 80.0
    assert find_twin(tmp_path, "synthetic", run_hash(c), own) is None


def test_a_unit_gives_the_same_numbers_whatever_ran_before_it_in_the_process(tiny_root, tmp_path):
    """Worker processes run many units; a unit's data seed must be its own, not its predecessor's."""
    from repro.run import datasets as runner
    from repro.run.train import run_unit
    from repro.run.unit import Dirs, Unit

    tiny = {"train": {"epochs": 1, "max_iters": 3, "batch_size": 4}, "data": {"train_per_class": 2,
            "val_per_class": 1}}
    unit = lambda seed: Unit("ssa_table2", "nl1d", "synthetic", seed, tiny)  # noqa: E731
    quiet = lambda *a, **k: None  # noqa: E731
    cache = tiny_root.parents[1]
    runner._PREPARED.clear()  # as in a fresh worker
    alone = run_unit(unit(1), Dirs(tmp_path / "a", tmp_path / "ra", cache), say=quiet, progress=False)
    runner._PREPARED.clear()
    run_unit(unit(0), Dirs(tmp_path / "b", tmp_path / "rb", cache), say=quiet, progress=False)
    after = run_unit(unit(1), Dirs(tmp_path / "b", tmp_path / "rb", cache), say=quiet, progress=False)
    assert alone["status"] == after["status"] == "trained"
    assert alone["result"]["metrics"] == after["result"]["metrics"]


@pytest.mark.slow
def test_probe_cli_names_a_bad_compare_row_before_training(tmp_path):
    (tmp_path / "my_blocks.py").write_text(OUTSIDE)
    proc = subprocess.run([sys.executable, "-m", "repro.probe", "--module", "my_blocks:TemporalDiff",
                           "--compare", "tsn,nosuch", "--out", str(tmp_path / "o")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2 and "--compare: no row(s) nosuch" in proc.stderr
    assert "training" not in proc.stdout and not (tmp_path / "o" / "results").exists()
