"""SSAN table specs (experiments/ssa_table*.yaml): they load, mirror the paper, and resolve.

Fast: no model is built or trained. The reported numbers checked here are copied from the
SSAN paper (arXiv 2105.13033, Tables 1-8).
"""
from __future__ import annotations

import pytest

from repro.config.loader import load_recipe, load_spec, resolve
from repro.config.schema import SpecError

SSAN_TABLES = [f"ssa_table{i}" for i in range(1, 9)]
# (rows, built rows) per table, in the paper's order.
ROW_COUNTS = {"ssa_table1": (15, 4), "ssa_table2": (5, 5), "ssa_table3": (10, 5),
              "ssa_table4": (16, 5), "ssa_table5": (4, 4), "ssa_table6": (3, 3),
              "ssa_table7": (10, 0), "ssa_table8": (8, 0)}
FULL_SSA = {"module": "ssa", "position": "in_block",
            "stages": {"layer2": [1, 3], "layer3": [1, 3, 5]},
            "args": {"sa": True, "sve": True, "ta": True}}


def _value(spec, row_id, metric="top1", split=None):
    split = split or spec.split
    vals = [rv.value for rv in spec.row(row_id).reported if rv.metric == metric and rv.split == split]
    assert len(vals) == 1, f"{spec.id}.{row_id}: {metric}/{split} reported {len(vals)} times"
    return vals[0]


@pytest.mark.parametrize("table", SSAN_TABLES)
def test_ssan_spec_loads_with_paper_rows(table):
    spec = load_spec(table)
    assert (spec.id, spec.paper) == (table, "ssan")
    assert spec.table == f"Table {table[-1]}"
    n_rows, n_built = ROW_COUNTS[table]
    assert len(spec.rows) == n_rows
    assert sum(r.built for r in spec.rows) == n_built
    for row in spec.rows:
        # The harness's added baselines say so in their label and have no reported number.
        assert row.label and (bool(row.reported) != ("(added" in row.label)), row.id
        for rv in row.reported:
            assert (rv.paper, rv.table) == ("ssan", spec.table)
            assert rv.dataset == spec.dataset
        if not row.runnable:
            assert row.reported_only.strip(), row.id


@pytest.mark.parametrize("table,row,metric,split,value", [
    ("ssa_table1", "ssa_en", "top1", "val", 55.1),
    ("ssa_table1", "ssa_en", "top5", "val", 84.9),
    ("ssa_table1", "ssa_en", "top1", "test", 54.0),
    ("ssa_table1", "i3d", "top1", "test", 27.2),
    ("ssa_table1", "tsm_8f", "top5", "val", 74.2),
    ("ssa_table3", "tsn_8f", "top1", "val", 31.9),
    ("ssa_table3", "tsm_16f", "top1", "test", 64.3),
    ("ssa_table3", "ssa_en", "top1", "test", 68.2),
    ("ssa_table4", "nl_i3d_128f", "top1", "val", 76.5),
    ("ssa_table4", "nl_i3d_128f", "top5", "val", 92.6),
    ("ssa_table4", "ssa_16f", "top1", "val", 76.4),
    ("ssa_table5", "plus_sve", "top1", "val", 61.4),
    ("ssa_table6", "res3", "top1", "val", 61.8),
    ("ssa_table7", "gru_ssa", "r@1", "test", 24.4),
    ("ssa_table7", "gru_ssa", "r@5", "test", 49.3),
    ("ssa_table8", "random", "r@1", "test", 0.03),
    ("ssa_table8", "gru_ssa_ht", "r@5", "test", 28.4),
])
def test_reported_values_match_the_paper(table, row, metric, split, value):
    assert _value(load_spec(table), row, metric, split) == value


def test_dashes_in_the_paper_have_no_entry():
    t1 = load_spec("ssa_table1")
    assert [(rv.metric, rv.split) for rv in t1.row("s3d").reported] == [("top1", "val"), ("top5", "val")]
    assert [(rv.metric, rv.split) for rv in t1.row("tsn_bninception").reported] == [("top1", "val")]
    t4 = load_spec("ssa_table4")
    assert [rv.metric for rv in t4.row("tsm_16f").reported] == ["top1"]


@pytest.mark.parametrize("table", SSAN_TABLES)
def test_built_rows_resolve_and_reported_only_rows_do_not(table):
    spec = load_spec(table)
    for row in spec.rows:
        if row.built:
            for profile in ("paper", "synthetic"):
                cfg = resolve(spec, row.id, profile)
                assert cfg["train"]["epochs"] > 0
            paper = resolve(spec, row.id, "paper")
            assert paper["data"]["dataset"] == spec.dataset
            assert paper["model"]["backbone"]["layers"] == [3, 4, 6, 3]
            assert paper["model"]["frames"] in (8, 16)
        elif not row.is_retrieval:  # retrieval rows resolve through their classifier (test_spec.py)
            with pytest.raises(SpecError, match="reported-only"):
                resolve(spec, row.id, "paper")


@pytest.mark.parametrize("table", ["ssa_table1", "ssa_table3", "ssa_table4"])
def test_sota_tables_build_tsm_and_ssa_at_8_and_16_frames(table):
    spec = load_spec(table)
    for frames in (8, 16):
        tsm = resolve(spec, f"tsm_{frames}f", "paper")["model"]
        assert tsm["backbone"]["shift"] is True and not tsm["insert"].get("module")
        assert tsm["frames"] == frames
        ssa = resolve(spec, f"ssa_{frames}f", "paper")["model"]
        assert ssa["insert"] == FULL_SSA and not ssa["backbone"].get("shift")
        assert ssa["frames"] == frames
    assert spec.row("ssa_en").ensemble == ["ssa_8f", "ssa_16f"]


def test_table3_tsn_is_the_plain_trunk():
    model = resolve(load_spec("ssa_table3"), "tsn_8f", "paper")["model"]
    assert not model["backbone"].get("shift") and not model["insert"].get("module")
    assert model["frames"] == 8


def test_kinetics_rows_use_the_200_epoch_recipe():
    spec = load_spec("ssa_table4")
    assert spec.recipe == "ssan_k400"
    ss, k400 = load_recipe("ssan_ss"), load_recipe("ssan_k400")
    assert k400["train"]["epochs"] == 200
    assert {**k400["train"], "epochs": 80} == ss["train"]
    cfg = resolve(spec, "ssa_8f", "paper")
    assert cfg["data"]["dataset"] == "k400" and cfg["train"]["epochs"] == 200
    from repro.data.registry import num_classes
    assert num_classes(cfg["data"]["dataset"]) == 400


def test_table5_adds_sa_sve_ta_one_by_one():
    spec = load_spec("ssa_table5")
    base = resolve(spec, "nl2d1d", "paper")["model"]["insert"]
    assert (base["module"], base["position"]) == ("nl2d1d", "after_block")
    want = {"plus_sa": (True, False, False), "plus_sve": (True, True, False), "plus_ta": (True, True, True)}
    for row, (sa, sve, ta) in want.items():
        ins = resolve(spec, row, "paper")["model"]["insert"]
        assert (ins["module"], ins["position"]) == ("ssa", "in_block")
        assert ins["args"] == {"sa": sa, "sve": sve, "ta": ta}
        assert ins["stages"] == FULL_SSA["stages"]


def test_table6_places():
    spec = load_spec("ssa_table6")
    got = {r.id: resolve(spec, r.id, "paper")["model"]["insert"]["stages"] for r in spec.rows}
    assert got == {"res2": {"layer2": [1, 3]}, "res3": {"layer3": [1, 3, 5]},
                   "res2_res3": {"layer2": [1, 3], "layer3": [1, 3, 5]}}


@pytest.mark.parametrize("table", SSAN_TABLES)
def test_claims_hold_on_the_reported_numbers(table):
    """Every claim of a spec is true of the paper's own numbers (spec split, claim metric)."""
    spec = load_spec(table)
    for c in spec.claims:
        assert "ssan" in c.text.lower() or "section" in c.text.lower(), f"{c.id}: say where the paper says it"
        unreported = [r for r in c.rows if not any(rv.metric == c.metric for rv in spec.row(r).reported)]
        if unreported:  # a claim on the harness's added rows: the paper has no number to check
            assert all("(added" in spec.row(r).label for r in unreported) or c.metric == "order_only_r@1", c.id
            assert "paper number" in c.text or "no number" in c.text, c.id
            continue
        among = c.among or [r.id for r in spec.rows
                            if any(rv.metric == c.metric and rv.split == spec.split for rv in r.reported)]
        v = {rid: _value(spec, rid, c.metric) for rid in set(c.rows) | set(among)}
        if c.kind == "greater":
            assert v[c.rows[0]] > v[c.rows[1]], c.id
        elif c.kind == "best":
            assert c.rows[0] in among
            assert all(v[c.rows[0]] > v[r] for r in among if r != c.rows[0]), c.id
        else:
            seq = [v[r] for r in c.rows]
            assert seq == sorted(seq) and len(set(seq)) == len(seq), c.id
