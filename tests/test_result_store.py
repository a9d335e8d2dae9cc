"""The result store: results keyed by what ran, reports that use only the current config's results."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from repro.cli import main
from repro.report.build import build_report
from repro.results.select import select_results
from repro.results.store import read_results, result_path, write_json_atomic
from repro.config.loader import config_hash, load_spec, parse_set, resolve, seed_override

REPO = Path(__file__).resolve().parents[1]


def _result(spec, row: str, seed: int, top1: float, overrides: dict | None = None, set_args=()) -> dict:
    cfg = resolve(spec, row, "synthetic", seed_override(seed, overrides))
    return {"table": spec.key, "row": row, "seed": seed, "config": cfg,
            "metrics": {"top1": top1, "top5": 100.0},
            "provenance": {"spec_hash": config_hash(cfg), "code": {}, "profile": "synthetic", "commit": "abc",
                           "dataset": "synthetic", "split": "val", "frames": 8, "views": "1x1",
                           "epochs": cfg["train"]["epochs"], "seed": seed, "device": "cpu",
                           "wall_time_s": 1.0, "overrides": list(set_args)}}


@pytest.fixture
def store(tmp_path):
    spec = load_spec("ssa_table2")
    res = tmp_path / "results"
    for s, v in ((0, 59.0), (1, 59.4)):
        write_json_atomic(_result(spec, "nl1d", s, v), result_path(res, "ssa_table2", "synthetic", f"nl1d.seed{s}"))
    return spec, res


def test_a_set_variant_is_kept_apart_and_never_averaged_in(store, tmp_path):
    spec, res = store
    over = parse_set(["train.epochs=1"])
    bad = _result(spec, "nl1d", 0, 5.0, over, ["train.epochs=1"])
    bad_path = result_path(res, "ssa_table2", "synthetic", "nl1d.seed0", bad["provenance"]["spec_hash"])
    write_json_atomic(bad, bad_path)
    sel = select_results(spec, res)
    assert sorted(r["metrics"]["top1"] for r in sel.current) == [59.0, 59.4]
    assert [r["_why"] for r in sel.other] == ["override: train.epochs=1"]
    built = build_report(spec, res, tmp_path / "reports")
    assert (built.used, built.skipped) == (2, 1)
    md = (tmp_path / "reports" / "ssa_table2.md").read_text()
    # The variant is a row of its own beside the row it replaced, not averaged into it.
    assert "59.2 ± 0.3" in md and "## Your variants" in md and "nl1d with --set train.epochs=1" in md
    assert "## Results not used" not in md and built.variants == [Path(bad_path).parent]


def test_a_result_of_an_edited_config_is_stale_and_says_what_changed(store, tmp_path):
    spec, res = store
    old = _result(spec, "nl1d", 2, 10.0)
    old["config"]["train"]["lr"] = 0.05
    old["provenance"]["spec_hash"] = config_hash(old["config"])
    write_json_atomic(old, result_path(res, "ssa_table2", "synthetic", "nl1d.seed2"))
    sel = select_results(spec, res)
    assert len(sel.current) == 2 and len(sel.other) == 1
    assert sel.other[0]["_why"] == "stale: train.lr=0.05 (spec: 0.1)"


def test_truncated_paper_run_is_not_the_reproduction(tmp_path):
    """A paper-profile run with fewer epochs never gets a Delta against the paper."""
    spec = load_spec("ssa_table2")
    res = tmp_path / "results"
    over = parse_set(["train.epochs=1", "train.max_iters=2"])
    cfg = resolve(spec, "ssa", "paper", over)
    r = {"table": "ssa_table2", "row": "ssa", "seed": None, "config": cfg, "metrics": {"top1": 0.0, "top5": 0.5},
         "provenance": {"spec_hash": config_hash(cfg), "code": {}, "profile": "paper", "commit": "abc", "dataset": "ssv2",
                        "split": "val", "frames": 8, "views": "1x1", "epochs": 1, "seed": 0, "device": "cuda",
                        "wall_time_s": 1.0, "overrides": ["train.epochs=1", "train.max_iters=2"]}}
    write_json_atomic(r, result_path(res, "ssa_table2", "paper", "ssa", config_hash(cfg)))
    build_report(spec, res, tmp_path / "reports")
    md = (tmp_path / "reports" / "ssa_table2.md").read_text()
    assert "-62.3" not in md and "| reproduced" not in md
    assert "ssa with --set train.epochs=1 --set train.max_iters=2 (paper, 1 seed(s))" in md  # a variant of its own


def test_a_corrupt_result_is_named_once_and_breaks_nothing(store, tmp_path, capsys):
    spec, res = store
    broken = result_path(res, "ssa_table2", "synthetic", "ssa.seed0")
    broken.write_text('{"table": "ssa_table2", "row"')
    assert main(["--report-only", "--table", "ssa_table2", "--results-dir", str(res),
                 "--reports-dir", str(tmp_path / "reports")]) == 0
    err = capsys.readouterr().err
    assert err.count("ssa.seed0.json") == 1 and "skipped" in err
    assert len(read_results(res, "ssa_table2")) == 2


def test_an_edited_copy_of_a_spec_keeps_its_own_results(tmp_path):
    """A spec outside experiments/ with a table's file name never writes into that table's results."""
    copy = tmp_path / "elsewhere" / "ssa_table2.yaml"
    copy.parent.mkdir()
    shutil.copy(REPO / "experiments" / "ssa_table2.yaml", copy)
    spec = load_spec(str(copy))
    assert spec.id == "ssa_table2" and spec.key.startswith("ssa_table2@") and not spec.builtin
    assert load_spec("ssa_table2").key == "ssa_table2"


def test_report_only_skips_and_counts_stale(store, tmp_path, capsys):
    spec, res = store
    over = parse_set(["train.lr=0.2"])
    v = _result(spec, "nl1d", 0, 1.0, over, ["train.lr=0.2"])
    write_json_atomic(v, result_path(res, "ssa_table2", "synthetic", "nl1d.seed0", v["provenance"]["spec_hash"]))
    assert main(["--report-only", "--table", "ssa_table2", "--results-dir", str(res),
                 "--reports-dir", str(tmp_path / "reports")]) == 0
    assert "1 result(s) skipped" in capsys.readouterr().out


def test_cost_accepts_a_spec_path(tmp_path, capsys):
    spec = tmp_path / "specs" / "gta_fig14.yaml"
    spec.parent.mkdir()
    shutil.copy(REPO / "experiments" / "gta_fig14.yaml", spec)
    assert main(["--cost", "--table", str(spec), "--results-dir", str(tmp_path / "r"),
                 "--reports-dir", str(tmp_path / "p")]) == 0
    key = load_spec(str(spec)).key
    files = sorted((tmp_path / "r" / key / "cost").glob("*.json"))
    assert len(files) == 2 and (tmp_path / "p" / f"{key}.md").is_file()


def test_cost_applies_set(tmp_path):
    assert main(["--cost", "--table", "gta_fig14", "--results-dir", str(tmp_path / "r"),
                 "--reports-dir", str(tmp_path / "p"), "--set", "model.frames=16"]) == 0
    files = list((tmp_path / "r" / "gta_fig14" / "cost").rglob("*.json"))
    assert files and all("variants" in str(f) for f in files)
    assert all(json.loads(f.read_text())["config"]["model"]["frames"] == 16 for f in files)


def test_places_moved_to_fit_are_said_and_kept(capsys):
    cfg = resolve(load_spec("gta_fig11"), "res3_2_res4_3", "synthetic")
    assert cfg["meta"]["places_fitted_from"] == {"layer2": [1, 3], "layer3": [1, 3, 5]}
    assert cfg["model"]["insert"]["stages"] == {"layer2": [0], "layer3": [0, 1]}


def test_defaults_are_resolved_before_hashing():
    cfg = resolve(load_spec("ssa_table2"), "ssa", "synthetic")
    assert cfg["train"]["amp"] == "none" and cfg["eval"]["crop_size"] == cfg["data"]["crop"]
    paper = resolve(load_spec("ssa_table2"), "ssa", "paper")  # float32, as the references train
    assert paper["train"]["amp"] == "none" and paper["eval"]["resize"] == paper["data"]["resize"]


def test_committed_results_match_their_specs():
    """Every committed result is the current config's: none is stale after the migration."""
    from repro.config.loader import list_tables

    for t in list_tables():
        sel = select_results(load_spec(t), REPO / "results")
        assert not sel.other, (t, [(r["_path"], r["_why"]) for r in sel.other][:3])


@pytest.mark.slow
def test_set_rerun_does_not_touch_the_default_result(tmp_path, tiny_root, capsys):
    """The defect: --set train.epochs=1 used to overwrite the row's result and mix into its seeds."""
    spec = yaml.safe_load((REPO / "experiments" / "ssa_table2.yaml").read_text())
    spec["defaults"]["model"]["dropout"] = 0.0
    base = ["--table", "ssa_table2", "--rows", "nl1d", "--seeds", "0", "--no-progress", "--jobs", "1",
            "--results-dir", str(tmp_path / "r"), "--reports-dir", str(tmp_path / "p"),
            "--runs-dir", str(tmp_path / "runs"), "--cache-dir", str(tiny_root.parents[1]),
            "--set", "data.train_per_class=2", "--set", "data.val_per_class=1", "--set", "train.batch_size=4",
            "--set", "train.max_iters=2"]
    assert main([*base, "--set", "train.epochs=2"]) == 0
    first = sorted((tmp_path / "r").rglob("*.json"))
    assert len(first) == 1
    before = first[0].read_bytes()
    assert main([*base, "--set", "train.epochs=1"]) == 0
    files = sorted((tmp_path / "r").rglob("*.json"))
    assert len(files) == 2 and first[0].read_bytes() == before
    runs = sorted(p.parent for p in (tmp_path / "runs").rglob("last.pt"))
    assert len(runs) == 2  # its own checkpoint folder: neither resumes from the other
