"""Report pieces: claims, rank agreement, reported-only rows and the cost tolerance status."""
from __future__ import annotations

import math
import textwrap

import pandas as pd
import pytest

from repro.report.claims import check_claims, kendall_tau
from repro.report.tables import long_table, within_tolerance
from repro.config.loader import Claim, load_spec

SPEC = """
id: toy
title: toy table
paper: gta
table: Figure 3
dataset: ssv1
split: val
recipe: ssan_ss
defaults:
  model: {backbone: {depth: 50}, insert: {stages: {layer2: [1, 3], layer3: [1, 3, 5]}, position: after_block}}
rows:
  - id: base
    reported: [{metric: top1, value: 17.0}, {metric: gflops, value: 32.7}]
  - id: nl
    model: {insert: {module: nl3d}}
    reported: [{metric: top1, value: 31.2}, {metric: top1, value: 50.7, dataset: ssv2}]
  - id: i3d
    reported_only: "I3D is not built by this harness"
    reported: {top1: 44.4}
claims:
  - {id: nl_helps, text: "NL > base", kind: greater, rows: [nl, base]}
"""


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "toy.yaml"
    p.write_text(textwrap.dedent(SPEC))
    return load_spec(p)


def _result(row, profile, **metrics):
    return {"row": row, "metrics": metrics,
            "provenance": {"profile": profile, "dataset": "x", "frames": 8, "views": "1x1", "epochs": 1}}


def test_long_table_statuses(spec):
    df = long_table(spec, [_result("base", "cost", gflops=32.70, params_m=23.86),
                           _result("nl", "paper", top1=30.0, top5=60.0)])
    get = lambda row, metric, **kw: df[(df.row == row) & (df.metric == metric)  # noqa: E731
                                       & pd.concat([df[k] == v for k, v in kw.items()], axis=1).all(axis=1)
                                       if kw else (df.row == row) & (df.metric == metric)]
    assert get("base", "gflops").status.item() == "within tolerance"
    assert get("base", "top1").status.item() == "not run"
    nl = get("nl", "top1", dataset="ssv1")
    assert nl.status.item() == "reproduced" and nl.delta.item() == pytest.approx(-1.2)
    assert math.isnan(get("nl", "top1", dataset="ssv2").reproduced.item())  # run was on ssv1
    assert get("i3d", "top1").status.item().startswith("reported only")


def test_claims_on_paper_and_reproduced(spec):
    df = long_table(spec, [_result("base", "synthetic", top1=60.0), _result("nl", "synthetic", top1=40.0)])
    [c] = check_claims(spec.claims, df, "ssv1")
    assert c["paper"] == "upheld" and c["synthetic"] == "contradicted"
    best = Claim("b", "base best", "best", ["base"], ["base", "nl"])
    assert check_claims([best], df, "ssv1")[0]["paper"] == "contradicted"


def test_kendall_tau():
    assert kendall_tau([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert kendall_tau([1], [1]) is None


def test_tolerance():
    assert within_tolerance("gflops", 50.2, 50.6) and not within_tolerance("gflops", 50.2, 51.0)
    assert within_tolerance("params_m", 31.2, 31.25) and not within_tolerance("params_m", 31.2, 31.4)
    assert within_tolerance("top1", 1, 2) is None
