"""Published checkpoints on the command line: --weights (start from one) and --eval-only
(test one with the row's protocol), their provenance and their report section."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from repro.cli import main
from repro.config.loader import load_spec
from helpers import find_file, tiny_run, tiny_spec, tsm_layout as _tsm_layout

ROWS = """\
  - id: tsn
    reported: {top1: 50.0}
"""


def _spec(table_id: str) -> str:
    return tiny_spec(table_id, "tiny checkpoint spec", ROWS)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_root):
    """The tiny row trained once, and its last weights written as a TSM checkpoint file."""
    base = tmp_path_factory.mktemp("weights")
    spec = base / "tiny_ckpt.yaml"
    spec.write_text(_spec("tiny_ckpt"))
    dirs, args = tiny_run(spec, base, tiny_root.parents[1])
    assert main([*args, "--seeds", "0"]) == 0
    key = load_spec(str(spec)).key
    last = torch.load(find_file(dirs["runs"], key, "synthetic", "tsn.seed0/last.pt"), weights_only=False)
    ckpt = base / "TSM_tiny_segment8_e1.pth.tar"
    torch.save(_tsm_layout(last["model"]), ckpt)
    return key, dirs, args, ckpt


@pytest.mark.slow
def test_eval_only_reproduces_the_rows_own_test(trained, capsys):
    """The row's own last-epoch weights, saved in TSM's format, converted and tested with the
    row's protocol, give the row's own numbers: conversion, views and labels line up."""
    key, dirs, args, ckpt = trained
    capsys.readouterr()
    assert main([*args, "--eval-only", "--weights", str(ckpt), "--seeds", "0"]) == 0, capsys.readouterr().err
    assert "guessed 'tsm'" in capsys.readouterr().out
    own = json.loads(find_file(dirs["results"], key, "synthetic", "tsn.seed0.json").read_text())
    (path,) = (dirs["results"] / key / "synthetic" / "checkpoints").glob("tsn.*.json")
    res = json.loads(path.read_text())
    w = res["provenance"]["weights"]
    assert w["sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest() and w["source"] == "tsm"
    assert res["provenance"]["kind"] == "published checkpoint, evaluated here"
    assert res["metrics"]["top1"] == pytest.approx(own["checkpoints"]["last"]["top1"])
    assert res["metrics"]["top5"] == pytest.approx(own["checkpoints"]["last"]["top5"])
    assert own["checkpoint"] == "last"  # so the row's own metrics are those of last.pt
    assert res["metrics"]["val_loss"] == pytest.approx(own["metrics"]["val_loss"], rel=1e-5)
    md = (dirs["reports"] / f"{key}.md").read_text()
    assert "### Evaluated here" in md and w["sha256"][:12] in md
    fp = res["provenance"]["dataset_fingerprint"]
    assert fp == own["provenance"]["dataset_fingerprint"]  # the same copy, and the report says so
    assert fp["videos"]["val"]["listed"] == fp["videos"]["val"]["found"] == res["provenance"]["val_videos"]
    assert fp["sample"]["videos"] > 0 and fp["sample"]["mean_frames"] > 0 and fp["decoder"].startswith("decord ")
    assert "## Dataset copies" in md and "tsn (synthetic)" in md


@pytest.mark.slow
def test_weights_start_a_run_and_are_in_its_provenance(trained, capsys):
    key, dirs, args, ckpt = trained
    assert main([*args, "--weights", str(ckpt), "--seeds", "1"]) == 0, capsys.readouterr().err
    (path,) = (dirs["results"] / key / "synthetic" / "variants").glob("*/tsn.seed1.json")
    res = json.loads(path.read_text())  # a variant: never averaged with the spec's own runs
    w = res["provenance"]["weights"]
    assert w["file"] == str(ckpt.resolve()) and w["loaded"] == "trunk" and w["source"] == "tsm"
    assert res["config"]["model"]["weights"] == str(ckpt.resolve())


@pytest.mark.parametrize("extra, match", [
    (["--eval-only"], "--eval-only tests a published checkpoint"),
    (["--weights", "/nonexistent/TSM.pth"], "/nonexistent/TSM.pth is not a file"),
    (["--set", "model.weights_source=caffe"], "model.weights_source"),
])
def test_bad_weights_flags_get_one_line(extra, match, capsys, tmp_path):
    code = main(["--table", "ssa_table2", "--rows", "ssa", "--profile", "smoke", "--results-dir",
                 str(tmp_path / "r"), "--reports-dir", str(tmp_path / "p"), "--runs-dir", str(tmp_path / "x"),
                 "--no-progress", *extra, *(["--eval-only"] if "--weights" in extra else [])])
    err = capsys.readouterr().err
    assert code == 2 and match in err and "Traceback" not in err


def test_checkpoint_entries_are_listed_in_the_report_and_checked(tmp_path):
    from repro.report.published import published_section
    from repro.config.schema import SpecError

    entry = ("    checkpoints:\n      - {publisher: mit-han-lab/temporal-shift-module, file: TSM_x.pth, "
             "page: 'https://example.org', source: tsm, where: 'README.md:1',\n"
             "         reported: [{metric: top1, value: 61.2, dataset: ssv2, split: val, views: 8x1x1}]}\n")
    good = tmp_path / "ck.yaml"
    good.write_text(_spec("ck") + entry)
    md = "\n".join(published_section(load_spec(str(good)), []))
    assert "`TSM_x.pth`" in md and "| 61.2 / - | 50.0 | - |" in md  # publisher, paper, not evaluated yet
    bad = tmp_path / "bad.yaml"
    bad.write_text(_spec("bad") + entry.replace("source: tsm", "source: caffe"))
    with pytest.raises(SpecError, match=r"checkpoints\[0\].source"):
        load_spec(str(bad))


def test_dataset_fingerprint_names_the_annotations_and_the_missing_videos(tmp_path, tiny_root):
    from types import SimpleNamespace as NS

    from repro.data.fingerprint import fingerprint

    videos = sorted(p for p in Path(tiny_root).rglob("*.webm"))[:3]
    assert videos, "the tiny dataset has webm videos"
    (tmp_path / "labels.json").write_text('{"a": 0}')
    recs = [NS(path=str(v)) for v in videos] + [NS(path=str(tmp_path / "gone.webm"))]
    fp = fingerprint(tmp_path, NS(records=recs[:1]), NS(records=recs[1:]))
    assert fp["annotations"] == {"labels.json": hashlib.sha256(b'{"a": 0}').hexdigest()[:16]}
    assert fp["videos"]["val"] == {"listed": 3, "found": 2, "missing": 1,
                                   "missing_examples": [str(tmp_path / "gone.webm")]}
    assert fp["sample"]["videos"] == 2 and fp["sample"]["mean_frames"] > 0
    (tmp_path / "labels.json").write_text('{"a": 1}')  # another copy of the annotations
    assert fingerprint(tmp_path, NS(records=recs[:1]), NS(records=recs[1:]))["annotations"] != fp["annotations"]
