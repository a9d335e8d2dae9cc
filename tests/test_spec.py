"""Spec loading and validation: every experiments/ file loads; bad specs get one clear error."""
from __future__ import annotations

import textwrap

import pytest

from repro.cli import main
from repro.config.loader import fit_places, list_tables, load_spec, resolve
from repro.config.schema import SpecError

GOOD = """
id: {id}
title: t
paper: ssan
table: Table 2
dataset: ssv2
split: val
recipe: ssan_ss
defaults:
  model:
    backbone: {{depth: 50}}
    insert: {{stages: {{layer2: [1, 3]}}, position: after_block}}
rows:
  - id: a
    model: {{insert: {{module: nl3d}}}}
    reported: {{top1: 60.6}}
"""


def _write(tmp_path, name, text):
    p = tmp_path / f"{name}.yaml"
    p.write_text(textwrap.dedent(text))
    return p


@pytest.mark.parametrize("table", list_tables())
def test_every_spec_in_experiments_loads(table):
    spec = load_spec(table)
    assert spec.rows
    for row in spec.rows:
        if row.is_retrieval:  # no model of its own: its settings and its classifier's config
            from repro.retrieval.config import resolve_retrieval

            with pytest.raises(SpecError, match="retrieval row"):
                resolve(spec, row.id, "paper")
            for profile in ("paper", "synthetic"):
                assert resolve_retrieval(spec, row.id, profile, 0)["classifier"]["train"]["epochs"] > 0
            continue
        if not row.built:
            with pytest.raises(SpecError, match="reported-only"):
                resolve(spec, row.id, "paper")
            continue
        for profile in ("paper", "synthetic"):
            cfg = resolve(spec, row.id, profile)
            assert cfg["train"]["epochs"] > 0
        for rv in row.reported:
            assert rv.paper and rv.table and rv.dataset and rv.split


def test_ssa_table2_mirrors_the_paper():
    spec = load_spec("ssa_table2")
    got = {r.label: r.reported[0].value for r in spec.rows}
    assert got == {"3D NL": 60.6, "2D NL": 60.3, "1D NL": 60.1, "2D+1D NL": 61.0, "SSA": 62.3}
    rv = spec.rows[0].reported[0]
    assert (rv.paper, rv.table, rv.dataset, rv.split, rv.metric) == ("ssan", "Table 2", "ssv2", "val", "top1")
    cfg = resolve(spec, "ssa", "paper")
    assert cfg["model"]["insert"]["stages"] == {"layer2": [1, 3], "layer3": [1, 3, 5]}
    assert cfg["model"]["insert"]["position"] == "in_block"
    assert cfg["train"]["nesterov"] and cfg["train"]["lr"] == 0.01


def test_good_fixture_loads(tmp_path):
    assert load_spec(_write(tmp_path, "good", GOOD.format(id="good"))).rows[0].id == "a"


@pytest.mark.parametrize("mutate, needle", [
    (lambda s: s.replace("title: t", "title: t\nbogus: 1"), "bogus: unknown key"),
    (lambda s: s.replace("{depth: 50}", "{depth: fifty}"), "defaults.model.backbone.depth: expected"),
    (lambda s: s.replace("module: nl3d", "module: nl9d"), "rows[0].model.insert.module: unknown module 'nl9d'"),
    (lambda s: s.replace("paper: ssan\n", ""), "rows[0].reported.top1: no reported source for paper"),
    (lambda s: s.replace("top1: 60.6", "top7: 60.6"), "rows[0].reported.top7: unknown metric"),
    (lambda s: s.replace("top1: 60.6", "top1: high"), "rows[0].reported.top1: expected"),
    (lambda s: s.replace("position: after_block", "position: sideways"), "defaults.model.insert.position"),
])
def test_bad_spec_names_file_and_key(tmp_path, mutate, needle):
    path = _write(tmp_path, "bad", mutate(GOOD.format(id="bad")))
    with pytest.raises(SpecError) as e:
        load_spec(path)
    assert str(path) in str(e.value)
    assert needle in str(e.value)


def test_cli_reports_spec_error_without_traceback(tmp_path, capsys):
    path = _write(tmp_path, "bad", GOOD.format(id="bad").replace("module: nl3d", "module: nl9d"))
    assert main(["--table", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(path) in err and "nl9d" in err


def test_unknown_table_and_row(capsys):
    assert main(["--table", "no_such_table"]) == 2
    assert "known tables" in capsys.readouterr().err
    assert main(["--table", "ssa_table2", "--rows", "nope", "--profile", "synthetic"]) == 2
    assert "no row(s) nope" in capsys.readouterr().err


def test_fit_places_clips_to_shallow_backbones():
    assert fit_places({"layer2": [1, 3], "layer3": [1, 3, 5]}, [1, 1, 1, 1]) == {"layer2": [0], "layer3": [0]}
    assert fit_places({"layer2": [1, 3]}, [3, 4, 6, 3]) == {"layer2": [1, 3]}
    # The count of modules survives where the stage has room: 2 blocks vs 5 stays an ablation.
    assert fit_places({"layer2": [1, 3], "layer3": [1, 3, 5]}, [1, 2, 3, 1]) == {
        "layer2": [0, 1], "layer3": [0, 1, 2]}
    assert fit_places({"layer2": [1], "layer4": [1]}, [1, 2, 3, 1]) == {"layer2": [1], "layer4": [0]}


def test_an_empty_mapping_or_null_clears_what_an_earlier_layer_set():
    """`--set 'model.insert.args={}'` drops a row's inherited module arguments (and null does too)."""
    from repro.config.loader import deep_merge, load_spec, resolve

    spec = load_spec("ssa_table2")
    row = next(r.id for r in spec.rows if r.built and (r.overrides.get("model", {}).get("insert") or {}).get("args"))
    assert resolve(spec, row, "synthetic")["model"]["insert"]["args"]  # the row does give arguments
    for cleared in ({}, None):
        cfg = resolve(spec, row, "synthetic", {"model": {"insert": {"args": cleared}}})
        assert cfg["model"]["insert"]["args"] == {}
    assert deep_merge({"a": {"x": 1}, "b": 2}, {"a": {"y": 2}}) == {"a": {"x": 1, "y": 2}, "b": 2}
    assert deep_merge({"train": {"lr_mult": {"bias": 2}}}, {"train": {"lr_mult": None}}) == {"train": {"lr_mult": {}}}
    # A whole section given as {} merges as usual: nothing is cleared.
    assert deep_merge({"eval": {"clips": 2}}, {"eval": {}}) == {"eval": {"clips": 2}}


def test_a_bad_module_argument_names_the_layer_that_gave_it(tmp_path, monkeypatch):
    """A row's bad argument is blamed on the row's file even when --set adds another argument."""
    from repro.config.loader import load_spec, resolve
    from repro.errors import SpecError

    spec = load_spec("ssa_table2")
    row = next(r for r in spec.rows if r.built and (r.overrides.get("model", {}).get("insert") or {}).get("module"))
    idx = spec.rows.index(row)
    row.overrides = {**row.overrides, "model": {**row.overrides["model"], "insert": {
        **row.overrides["model"]["insert"], "args": {"no_such_arg": 1}}}}
    with pytest.raises(SpecError) as e:
        resolve(spec, row.id, "synthetic", {"model": {"insert": {"args": {"other_bad": 2}}}}, check_modules=True)
    lines = str(e.value).splitlines()
    assert any("no_such_arg" in ln and f"rows[{idx}]" in ln for ln in lines), lines
    assert any("other_bad" in ln and ln.startswith("--set") for ln in lines), lines


def test_docs_config_md_is_generated_from_the_key_table():
    """docs/config.md lists every key with its default; regenerate it when repro/config/keys.py changes."""
    from pathlib import Path

    from repro.config.keys import KEYS, RETRIEVAL_KEYS, markdown

    text = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text()
    assert text == markdown(), "docs/config.md is stale: python -m repro.config.keys > docs/config.md"
    assert all(f"`{k.path}`" in text for k in (*KEYS, *RETRIEVAL_KEYS))


def test_every_key_is_declared_once_with_a_doc_and_the_source_of_its_default():
    from repro.config.keys import BY_PATH, MAPPING, NO_DEFAULT

    from repro.config.keys import KEYS, RETRIEVAL_KEYS

    assert len(BY_PATH) == len(KEYS) + len(RETRIEVAL_KEYS)  # no path twice
    for k in BY_PATH.values():
        assert k.doc, f"{k.path}: no doc"
        has_default = k.default is not NO_DEFAULT and k.type is not MAPPING
        assert not has_default or k.source, f"{k.path}: a default without its source"
        assert not (k.required and k.default is not NO_DEFAULT), f"{k.path}: required and defaulted"


def test_another_module_starts_from_its_own_arguments():
    """`--set model.insert.module=X` on a paper row drops the row's module's arguments (they are
    that module's), unless the same layer gives X's arguments too."""
    from repro.config.loader import load_spec, resolve

    spec = load_spec("ssa_table2")
    assert resolve(spec, "ssa", "synthetic")["model"]["insert"]["args"]  # SSA's own sa/sve/ta
    cfg = resolve(spec, "ssa", "synthetic", {"model": {"insert": {"module": "nl1d"}}}, check_modules=True)
    assert cfg["model"]["insert"]["module"] == "nl1d" and cfg["model"]["insert"]["args"] == {}
    same = resolve(spec, "ssa", "synthetic", {"model": {"insert": {"module": "ssa"}}})
    assert same["model"]["insert"]["args"] == resolve(spec, "ssa", "synthetic")["model"]["insert"]["args"]
    given = resolve(spec, "ssa", "synthetic", {"model": {"insert": {"module": "ssa", "args": {"ta": False}}}})
    assert given["model"]["insert"]["args"]["ta"] is False
