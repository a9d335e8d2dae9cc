"""Retrieval rows of the specs (SSAN Tables 7-8): their config, their checks, and whole runs on
the synthetic probe and on the smoke MSR-VTT and YouCook2 layouts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers import TINY_SETS, tiny_run, tiny_spec
from repro.config.loader import config_hash, load_spec, resolve, seed_override
from repro.config.schema import SpecError


def test_table_rows_are_retrieval_rows_on_ssa_table4_classifiers():
    for table in ("ssa_table7", "ssa_table8"):
        spec = load_spec(table)
        built = {r.id: r.features for r in spec.rows if r.is_retrieval}
        assert built == {"gru_ssa": {"table": "ssa_table4", "row": "ssa_8f"},
                         "gru_tsn": {"table": "ssa_table4", "row": "tsn_8f"},
                         "gru_tsm": {"table": "ssa_table4", "row": "tsm_8f"}}
        assert not any(r.built for r in spec.rows)
        # the added baselines have no reported value; GRU+SSA has the paper's
        assert not spec.row("gru_tsn").reported and spec.row("gru_ssa").reported
    t8 = load_spec("ssa_table8")
    assert t8.row("gru_ssa_ht").reported_only and "HowTo100M" in t8.row("gru_ssa_ht").reported_only


def test_retrieval_config_layers_and_classifier():
    from repro.retrieval.config import DEFAULTS, resolve_retrieval

    spec = load_spec("ssa_table7")
    paper = resolve_retrieval(spec, "gru_ssa", "paper", None)
    assert paper["retrieval"] == {**DEFAULTS, "word2vec": paper["retrieval"]["word2vec"]}
    assert paper["retrieval"]["text_encoder"] == "maxpool" and paper["retrieval"]["embed_dim"] == 6144
    syn = resolve_retrieval(spec, "gru_ssa", "synthetic", 1)
    assert syn["retrieval"]["word_vectors"] == "learned" and syn["data"]["dataset"] == "synthetic"
    # the classifier is ssa_table4's row resolved under the same profile and seed
    src = resolve(load_spec("ssa_table4"), "ssa_8f", "synthetic", seed_override(1))
    assert syn["classifier"] == src
    # retrieval keys change the row's hash, never the classifier's config
    over = {"retrieval": {"epochs": 3}}
    changed = resolve_retrieval(spec, "gru_ssa", "synthetic", 1, over)
    assert changed["retrieval"]["epochs"] == 3 and changed["classifier"] == src
    assert config_hash(changed) != config_hash(syn)
    assert config_hash(resolve(load_spec("ssa_table4"), "ssa_8f", "synthetic", seed_override(1, over))) == \
        config_hash(src)


def _spec_file(tmp_path: Path, rows: list[dict], **top) -> Path:
    data = {"id": "ret", "title": "t", "paper": "ssan", "table": "Table 7", "dataset": "msrvtt",
            "split": "test", "rows": rows, **top}
    path = tmp_path / "ret.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("row, needle", [
    ({"id": "a", "features": {"table": "ssa_table4", "row": "i3d"}}, "not a built row"),
    ({"id": "a", "features": {"table": "ssa_table4", "row": "nope"}}, "has no row 'nope'"),
    ({"id": "a", "features": {"table": "nope_table", "row": "x"}}, "features.table"),
    ({"id": "a", "features": {"table": "ssa_table4"}}, "needs row"),
    ({"id": "a", "features": {"table": "ssa_table4", "row": "ssa_8f"}, "model": {"frames": 4}}, "does not apply"),
    ({"id": "a", "retrieval": {"epochs": 2}}, "only a retrieval row"),
    ({"id": "a", "features": {"table": "ssa_table4", "row": "ssa_8f"}, "retrieval": {"epoch": 2}}, "unknown key"),
])
def test_bad_retrieval_rows_name_the_key(tmp_path, row, needle):
    with pytest.raises(SpecError) as e:
        load_spec(str(_spec_file(tmp_path, [row])))
    assert any(needle in p for p in e.value.problems), e.value.problems


def test_bad_retrieval_values_name_the_layer(tmp_path):
    from repro.retrieval.config import resolve_retrieval

    path = _spec_file(tmp_path, [{"id": "a", "features": {"table": "ssa_table4", "row": "ssa_8f"}}],
                      retrieval={"text_encoder": "lstm"})
    with pytest.raises(SpecError) as e:
        resolve_retrieval(load_spec(str(path)), "a", "synthetic", 0)
    assert "retrieval.text_encoder" in e.value.problems[0] and "ret.yaml" in str(e.value)
    with pytest.raises(SpecError) as e:
        resolve_retrieval(load_spec("ssa_table7"), "gru_ssa", "synthetic", 0, {"retrieval": {"lr": 0}})
    assert "retrieval.lr" in e.value.problems[0] and "--set" in str(e.value)


def _tables(tmp_path: Path, dataset: str) -> Path:
    """A tiny TSN classifier spec and a retrieval spec on ``dataset`` that uses it, sized in the
    specs themselves (a --set run would be a variant, left out of the report)."""
    clf = tmp_path / "clf.yaml"
    ret = tmp_path / dataset / "ret.yaml"
    ret.parent.mkdir()
    clf.exists() or clf.write_text(tiny_spec("clf", "tiny classifier", "  - id: tsn\n    label: TSN\n"
                             "    train: {epochs: 1, max_iters: 2, batch_size: 4}\n"
                             "    data: {train_per_class: 2, val_per_class: 1}\n"
                             "    model: {backbone: {width: 8}}\n"))  # smoke keeps the spec's width
    ret.write_text(yaml.safe_dump({
        "id": "ret", "title": "tiny retrieval", "paper": "ssan", "table": "Table 7", "dataset": dataset,
        "split": "test", "retrieval": {"epochs": 3, "batch_size": 8, "embed_dim": 16}, "rows": [{"id": "gru_tsn", "label": "GRU+TSN", "features": {"table": str(clf), "row": "tsn"},
                                   "reported": {"r@1": 24.4}}]}))
    return ret


def _args(ret: Path, base: Path, cache: Path) -> tuple[dict, list[str]]:
    dirs, args = tiny_run(ret, base, cache)
    return dirs, [a for a in args if a not in TINY_SETS and a != "--set"]


@pytest.mark.slow
def test_synthetic_retrieval_row_end_to_end(tmp_path, tiny_root, capsys):
    from repro.cli import main

    tiny_cache = tiny_root.parents[1]
    ret = _tables(tmp_path, "msrvtt")
    dirs, args = _args(ret, tmp_path / "out", tiny_cache)
    args += ["--profile", "synthetic", "--seeds", "0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    res = [json.loads(p.read_text()) for p in (dirs["results"]).glob("ret@*/synthetic/**/gru_tsn.seed0.json")]
    assert len(res) == 1, out
    r = res[0]
    m, p = r["metrics"], r["provenance"]
    assert set(m) >= {"r@1", "r@5", "r@10", "median_rank", "order_only_r@1", "appearance_r@1"}
    assert 0 <= m["r@1"] <= m["r@5"] <= m["r@10"] <= 100 and m["median_rank"] >= 1
    clf = p["classifier"]
    assert clf["row"] == "tsn" and len(clf["checkpoint_sha256"]) == 16 and Path(clf["checkpoint"]).is_file()
    feats = Path(p["features"]["train"])
    assert (feats / "features.npy").is_file() and str(feats).startswith(str(tiny_cache))
    assert json.loads((feats / "progress.json").read_text())["done"] == p["train_videos"]
    md = next(dirs["reports"].glob("ret@*.md")).read_text()
    assert "## Text-to-video retrieval" in md and "Order-only R@1" in md
    # Again: the result is current and skipped; --extract-features reads the cache back.
    assert main(args) == 0
    assert "result exists" in capsys.readouterr().out
    before = (feats / "features.npy").stat().st_mtime_ns
    assert main([*args, "--extract-features"]) == 0
    assert "features in" in capsys.readouterr().out and (feats / "features.npy").stat().st_mtime_ns == before

    # A classifier row whose run another table already made (its result is a copy, reused_from)
    # has no checkpoint of its own: the features come from the original run's checkpoint.
    twin = tmp_path / "twin"
    twin.mkdir()
    (twin / "clf2.yaml").write_text((tmp_path / "clf.yaml").read_text().replace("id: clf", "id: clf2"))
    ret2 = yaml.safe_load(ret.read_text())
    ret2["rows"][0]["features"]["table"] = str(twin / "clf2.yaml")
    (twin / "ret.yaml").write_text(yaml.safe_dump(ret2))
    assert main([a.replace(str(ret), str(twin / "ret.yaml")) for a in args]) == 0
    out = capsys.readouterr().out
    assert "training (" not in out and "result copied" in out, out
    copies = [json.loads(p.read_text()) for p in dirs["results"].glob("ret@*/synthetic/gru_tsn.seed0.json")]
    assert len(copies) == 2 and {c["provenance"]["classifier"]["checkpoint"] for c in copies} == {clf["checkpoint"]}

    # --weights: the same weights in TSM's file format give the same features, and nothing trains.
    import numpy as np
    import torch

    from helpers import tsm_layout

    ckpt = tmp_path / "TSM_tiny_segment8.pth.tar"
    torch.save(tsm_layout(torch.load(clf["checkpoint"], weights_only=False)["model"]), ckpt)
    assert main([*args, "--extract-features", "--weights", str(ckpt)]) == 0
    out = capsys.readouterr().out
    assert "training (" not in out and "features in" in out
    import re

    train_dir = Path(re.search(r"features in train: (\S+),", out).group(1))
    assert train_dir != feats  # keyed by the weights file's hash
    assert np.allclose(np.load(train_dir / "features.npy"), np.load(feats / "features.npy"), atol=1e-3)

    # A fresh clone has the results but no runs/: rows that are done need no classifier.
    import shutil

    shutil.rmtree(dirs["runs"])
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "result exists" in out and "training (" not in out, out


@pytest.mark.slow
def test_smoke_profile_runs_the_official_layouts(tmp_path, capsys):
    """The paper pipeline (word2vec words, the official annotation files, mp4 videos, YouCook2
    segments cut by their times) on the generated smoke copies of both datasets, from one
    classifier trained once."""
    from repro.cli import main

    specs = {ds: _tables(tmp_path, ds) for ds in ("msrvtt", "youcook2")}
    dirs, args = _args(specs["msrvtt"], tmp_path / "out", tmp_path / "cache")
    args += ["--table", str(specs["youcook2"]), "--profile", "smoke"]
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.count("tsn: training (") == 1, out  # the classifier, once for both tables
    for ds, spec in specs.items():
        key = load_spec(str(spec)).key
        r = json.loads((dirs["results"] / key / "smoke" / "gru_tsn.json").read_text())
        p = r["provenance"]
        assert p["word_vectors"] == "word2vec" and p["word2vec"].endswith("smoke-word2vec.bin")
        assert p["dataset"] == ds and p["videos_skipped"] == 0 and p["test_words_known"] == 100.0
        # MSR-VTT: the 3 test pairs of its JSFUSION file; YouCook2: 2 validation videos x 2 segments
        assert p["val_videos"] == {"msrvtt": 3, "youcook2": 4}[ds]
        assert set(r["metrics"]) >= {"r@1", "r@5", "r@10", "median_rank"}
