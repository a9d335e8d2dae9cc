"""Claim statistics: Welch's t-test and Holm's adjustment against values computed by hand, and
claim verdicts that follow them (including the four verdicts that twice the standard error
passed at f1c8093 and Welch's test does not)."""
from __future__ import annotations

import math

import pytest

from repro.report.claims import CANNOT_TELL, CONTRADICTED, UPHELD, judge
from repro.report.stats import holm, splits, welch
from repro.config.loader import Claim


def test_welch_by_hand():
    # a = 70 ± 3 (n 3), b = 60 ± 4 (n 4): se² = 9/3 + 16/4 = 7, t = 10/sqrt(7) = 3.780;
    # df = 49 / (3²/2 + 4²/3) = 49 / (4.5 + 5.333) = 4.983; two-sided p from t(4.983).
    t = welch((70.0, 3.0, 3), (60.0, 4.0, 4))
    assert t.t == pytest.approx(10 / math.sqrt(7), rel=1e-9)
    assert t.df == pytest.approx(49 / (4.5 + 16 / 3), rel=1e-9)
    from scipy.stats import t as student

    assert t.p == pytest.approx(2 * student.sf(10 / math.sqrt(7), 49 / (4.5 + 16 / 3)), rel=1e-9)
    assert 0.01 < t.p < 0.02


def test_welch_edge_cases():
    assert welch((50.0, 0.0, 3), (50.0, 0.0, 3)).p == 1.0
    assert welch((51.0, 0.0, 3), (50.0, 0.0, 3)).p == 0.0
    assert not welch((51.0, 0.0, 1), (50.0, 2.0, 3)).testable  # one run: no variance to test


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04 -> x3, x2, x1 = 0.03, 0.04, 0.04 (monotone), back in input order.
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


def test_splits():
    assert splits([40.7, 83.1, 83.3]) and not splits([80.0, 85.0, 89.0]) and not splits([60.0])


def _claim(kind, rows, among=()):
    return Claim(id="c", text="t", kind=kind, rows=list(rows), among=list(among), metric="top1", dataset=None)


# Means and stds over 3 seeds of the four claims that passed 2 standard errors at f1c8093.
@pytest.mark.parametrize("a, b", [((59.0, 16.9, 3), (81.7, 2.0, 3)), ((62.0, 20.5, 3), (91.6, 1.8, 3))])
def test_contradictions_that_welch_does_not_support(a, b):
    verdict, evidence = judge(_claim("greater", ["x", "y"]), {"x": a, "y": b})
    assert verdict == CANNOT_TELL and "df 2." in evidence and "n = 3 vs 3" in evidence


def test_greater_claim_verdicts():
    c = _claim("greater", ["x", "y"])
    assert judge(c, {"x": (80.0, 1.0, 3), "y": (50.0, 1.0, 3)})[0] == UPHELD
    assert judge(c, {"x": (50.0, 1.0, 3), "y": (80.0, 1.0, 3)})[0] == CONTRADICTED
    assert judge(c, {"x": (51.0, 3.0, 3), "y": (50.0, 3.0, 3)})[0] == CANNOT_TELL
    # The paper's numbers: one value each, by sign.
    assert judge(c, {"x": (51.0, 0.0, 1), "y": (50.0, 0.0, 1)}) == (UPHELD, "")


def test_best_claim_needs_every_comparison_after_holm():
    c = _claim("best", ["a"], ["a", "b", "c", "d"])
    # a beats b and c clearly and d at p ~ 0.038 alone: Holm multiplies the largest of three p
    # values by 1, so the claim is upheld.
    near = (87.5, 1.0, 3)
    assert 0.025 < welch((90.0, 1.0, 3), near).p < 0.05
    assert judge(c, {"a": (90.0, 1.0, 3), "b": (50.0, 1.0, 3), "c": (60.0, 1.0, 3), "d": near})[0] == UPHELD
    # Two comparisons at p ~ 0.038: Holm doubles the smaller of them (0.075), so it cannot tell.
    verdict, evidence = judge(c, {"a": (90.0, 1.0, 3), "b": near, "c": near, "d": (50.0, 1.0, 3)})
    assert verdict == CANNOT_TELL and "Holm" in evidence and "3 comparisons" in evidence


def test_order_claim_contradicted_by_one_significant_step():
    c = _claim("order", ["a", "b", "c"])
    v = {"a": (50.0, 1.0, 3), "b": (80.0, 1.0, 3), "c": (60.0, 1.0, 3)}
    verdict, evidence = judge(c, v)
    assert verdict == CONTRADICTED and "c vs b" in evidence


def test_single_run_rows_cannot_be_tested():
    verdict, evidence = judge(_claim("greater", ["x", "y"]), {"x": (80.0, 0.0, 1), "y": (50.0, 1.0, 3)})
    assert verdict == CANNOT_TELL and "single run" in evidence


def test_undecided_rows_are_those_of_claims_that_cannot_tell(tmp_path):
    import json

    from repro.run.undecided import undecided_rows
    from repro.config.loader import config_hash, load_spec, resolve

    spec = load_spec("ssa_table2")
    claims = [c for c in spec.claims if c.kind == "greater"]
    assert claims, "ssa_table2 has a 'greater' claim to test with"
    a, b = claims[0].rows
    # Row a clearly above b on every other claim's rows, but a and b themselves inside the spread.
    vals = {r: [80.0, 81.0, 82.0] for r in spec.probe_rows}
    vals[a], vals[b] = [60.0, 70.0, 80.0], [65.0, 70.0, 75.0]
    for row, tops in vals.items():
        for seed, top1 in enumerate(tops):
            cfg = resolve(spec, row, "synthetic", {"train": {"seed": seed}})
            out = tmp_path / "ssa_table2" / "synthetic" / f"{row}.seed{seed}.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({"table": "ssa_table2", "row": row, "seed": seed, "metrics": {"top1": top1},
                                       "config": cfg, "provenance": {
                                           "profile": "synthetic", "seed": seed, "spec_hash": config_hash(cfg), "code": {},
                                           "dataset": "synthetic", "split": "val", "frames": 8, "views": "1x1",
                                           "epochs": 8, "device": "cpu", "wall_time_s": 1.0, "commit": "c"}}))
    got = undecided_rows(["ssa_table2"], tmp_path)
    assert a in got["ssa_table2"] and b in got["ssa_table2"]
