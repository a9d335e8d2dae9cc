"""Test protocols (clips x crops views per video), saved per-video scores, and ensemble rows."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from repro.cli import main
from repro.data.dataset import VideoClipDataset, collate_clips, with_eval_views
from repro.data.transforms import ClipTransform, crop_offsets, normalize
from repro.errors import EnsembleError
from repro.results.scores import load_scores, save_scores
from repro.run.ensemble import average
from repro.engine.evaluate import evaluate
from repro.config.loader import load_spec
from repro.config.schema import SpecError
from helpers import TINY_SETS, find_file, tiny_run, tiny_spec



def _tiny_overrides() -> dict:
    from repro.config.loader import parse_set

    return parse_set(TINY_SETS)


def test_crop_positions_along_the_long_side():
    assert crop_offsets(8, 12, 8, 1) == [(0, 2)]
    assert crop_offsets(8, 12, 8, 3) == [(0, 0), (0, 2), (0, 4)]  # landscape: left/centre/right
    assert crop_offsets(12, 8, 8, 3) == [(0, 0), (2, 0), (4, 0)]  # portrait: top/centre/bottom
    # PySlowFast's ssv2.py single test crop is spatial index 0: left (landscape) or top (portrait)
    assert crop_offsets(8, 12, 8, 1, "first") == [(0, 0)] and crop_offsets(10, 12, 8, 1, "first") == [(1, 0)]
    assert crop_offsets(12, 8, 8, 1, "first") == [(0, 0)]
    with pytest.raises(ValueError, match="larger than"):
        crop_offsets(6, 12, 8, 1)


def test_three_crops_are_the_frame_slices():
    frames = np.random.default_rng(0).integers(0, 255, (2, 8, 12, 3), dtype=np.uint8)
    t3 = ClipTransform(8, 8, False, crops=3)
    x, _ = t3(frames, 0)
    assert x.shape == (3, 3, 2, 8, 8)
    ref = torch.from_numpy(frames).permute(3, 0, 1, 2)  # 3,T,H,W uint8 (no resize: short side 8)
    for k, left in enumerate((0, 2, 4)):
        assert torch.equal(x[k], ref[..., :, left:left + 8])
    one, _ = ClipTransform(8, 8, False)(frames, 0)
    assert one.shape == (3, 2, 8, 8) and torch.equal(one, x[1])  # centre crop == middle of 3
    with pytest.raises(ValueError, match="crops"):
        ClipTransform(8, 8, False, crops=2)


class _Rec:
    def __init__(self, i: int) -> None:
        self.path, self.label, self.video_id = f"v{i}", i % 3, f"vid{i}"


class _Frames(VideoClipDataset):
    """Decoding replaced by a fixed array of 20 frames per video (each frame's value = its index)."""

    def _frames(self, i, rng):
        n = 20
        video = (np.arange(n)[:, None, None, None] * 10 + i + np.zeros((n, 10, 14, 3))).astype(np.uint8)
        video[:, :, :7] += 1  # left half differs from the right half, so crops differ
        return video[self._pick(n, rng)]


def _dataset(n: int = 5) -> VideoClipDataset:
    return _Frames([_Rec(i) for i in range(n)], 4, ClipTransform(10, 8, False), False)


def test_view_counts_and_clip_offsets():
    ds = _dataset()
    assert ds.views == (1, 1) and ds[0].video.shape == (3, 4, 8, 8)
    mv = with_eval_views(ds, clips=2, crops=3)
    assert mv.views == (2, 3) and ds.views == (1, 1)  # the shared dataset is left as it was
    assert mv[0].video.shape == (6, 3, 4, 8, 8)
    # clip k takes the segment centres shifted by k/K of a segment (TSM's multi-clip protocol)
    assert mv._pick(20, None).tolist() == [1, 6, 11, 16, 3, 8, 13, 18]
    assert ds._pick(20, None).tolist() == [2, 7, 12, 17]
    bigger = with_eval_views(ds, crops=3, resize=12, crop=12)
    assert bigger[0].video.shape == (3, 3, 4, 12, 12)


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(3 * 4 * 8 * 8, 3)

    def forward(self, x):
        return self.fc(x.flatten(1))


def _loader(ds, batch=2):
    return torch.utils.data.DataLoader(ds, batch_size=batch, collate_fn=collate_clips)


def test_multi_view_scores_are_the_mean_of_single_view_scores():
    ds, net = _dataset(), _Net()
    mv = with_eval_views(ds, clips=2, crops=3)
    index: list[int] = []
    scores, labels, bad, _ = evaluate(net, _loader(mv), torch.device("cpu"), progress=False,
                                      video_index=index)
    assert scores.shape == (5, 3) and index == list(range(5)) and bad == 0
    singles = []
    for i in range(5):
        views = mv[i].video  # each view scored alone, as a 1-view evaluation would
        singles.append(torch.stack([net(normalize(v[None])).softmax(1)[0] for v in views]).mean(0))
    assert torch.allclose(scores, torch.stack(singles), atol=1e-6)
    # the centre crop of clip 0 of 1 clip is the plain 1x1 protocol
    one, *_ = evaluate(net, _loader(ds), torch.device("cpu"), progress=False)
    assert torch.allclose(one, net(normalize(torch.stack([ds[i].video for i in range(5)]))).softmax(1), atol=1e-6)


def test_logit_average_is_the_mean_of_the_views_logits():
    """TSM's test_models.py averages raw outputs over views (no --softmax): eval.average logits."""
    ds, net = _dataset(), _Net()
    mv = with_eval_views(ds, clips=2, crops=3)
    scores, labels, _, loss = evaluate(net, _loader(mv), torch.device("cpu"), progress=False,
                                       average="logits")
    logits = torch.stack([net(normalize(mv[i].video)).mean(0) for i in range(5)])
    assert torch.allclose(scores, logits, atol=1e-5)
    expect = torch.nn.functional.cross_entropy(logits, labels).item()
    assert loss == pytest.approx(expect, rel=1e-5)
    soft, *_ = evaluate(net, _loader(mv), torch.device("cpu"), progress=False)
    assert not torch.allclose(soft, scores)  # the two rules give other numbers ...
    one, *_ = evaluate(net, _loader(ds), torch.device("cpu"), progress=False, average="logits")
    ref = net(normalize(torch.stack([ds[i].video for i in range(5)])))
    assert torch.allclose(one, ref, atol=1e-6)  # ... and one view is the raw logits


def test_ensemble_refuses_members_with_other_score_kinds():
    y = torch.tensor([0, 1])
    a = {"scores": torch.randn(2, 3), "labels": y, "video_ids": ["a", "b"], "average": "logits"}
    with pytest.raises(EnsembleError, match="different kinds"):
        average({"a": a, "b": {**a, "average": "softmax"}})
    mean, *_ = average({"a": a, "b": {**a, "scores": a["scores"] + 2}})
    assert torch.allclose(mean, a["scores"] + 1)


def test_scores_file_round_trip_and_average(tmp_path):
    s = torch.softmax(torch.randn(4, 5), 1)
    y = torch.tensor([0, 1, 2, 3])
    save_scores(tmp_path / "a" / "scores.pt", s, y, ["a", "b", "c", "d"], "h1", row="a")
    data = load_scores(tmp_path / "a" / "scores.pt", "a", "h1")
    assert data["scores"].dtype == torch.float16 and data["video_ids"] == ["a", "b", "c", "d"]
    with pytest.raises(EnsembleError, match="spec hash"):
        load_scores(tmp_path / "a" / "scores.pt", "a", "other")
    with pytest.raises(EnsembleError, match="missing"):
        load_scores(tmp_path / "nope" / "scores.pt", "b", "h1")
    other = {**data, "video_ids": ["a", "b", "c", "x"]}
    with pytest.raises(EnsembleError, match="different videos"):
        average({"a": data, "b": other})


ROWS = """\
  - id: tsn
    reported: {top1: 50.0}
  - id: tsn_4f
    model: {frames: 4}
    eval: {clips: 2, crops: 3}
    reported: {top1: 50.0}
  - id: en
    ensemble: [tsn, tsn_4f]
    reported: {top1: 55.0}
  - id: en_views
    ensemble: [tsn, tsn_4f]
    member_eval: {clips: 2, crops: 3, average: logits}
    reported: {top1: 55.0}
"""


def _spec(table_id: str) -> str:
    return tiny_spec(table_id, "tiny ensemble spec", ROWS)


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory, tiny_root):
    base = tmp_path_factory.mktemp("ens")
    spec = base / "tiny_ens.yaml"
    spec.write_text(_spec("tiny_ens"))
    dirs, args = tiny_run(spec, base, tiny_root.parents[1])
    args += ["--seeds", "0"]
    return spec, dirs, args


@pytest.mark.slow
def test_ensemble_row_averages_its_members_scores(ensemble_run, capsys):
    spec, dirs, args = ensemble_run
    assert main(args) == 0, capsys.readouterr().err
    key = load_spec(str(spec)).key
    res = {r: json.loads(find_file(dirs["results"], key, "synthetic", f"{r}.seed0.json").read_text())
           for r in ("tsn", "tsn_4f", "en")}
    assert res["tsn"]["provenance"]["views"] == "1x1" and res["tsn_4f"]["provenance"]["views"] == "2x3"
    members = {r: torch.load(res[r]["provenance"]["scores_file"], weights_only=False) for r in ("tsn", "tsn_4f")}
    for r in ("tsn", "tsn_4f"):
        assert res[r]["provenance"]["scores_file"].startswith(str(dirs["runs"] / key / "synthetic"))
        assert members[r]["spec_hash"] == res[r]["provenance"]["spec_hash"]
        assert members[r]["scores"].shape[0] == res[r]["provenance"]["val_videos"]
    en = torch.load(res["en"]["provenance"]["scores_file"], weights_only=False)
    mean = (members["tsn"]["scores"].float() + members["tsn_4f"]["scores"].float()) / 2
    assert torch.allclose(en["scores"].float(), mean, atol=1e-3)
    assert en["video_ids"] == members["tsn"]["video_ids"]
    from repro.engine.metrics import topk

    m = res["en"]["metrics"]
    assert m["top1"] == pytest.approx(topk(mean, members["tsn"]["labels"], 1))
    assert m["reversal_pairs"] is not None and m["family"]  # synthetic families carried over
    prov = res["en"]["provenance"]
    assert prov["ensemble"] == ["tsn", "tsn_4f"] and prov["frames"] == "8+4"
    assert prov["members"]["tsn"]["spec_hash"] == res["tsn"]["provenance"]["spec_hash"]
    assert prov["views"] == "1x1+2x3"
    # the report lists the ensemble row with its reproduced numbers, not as reported-only
    from repro.report.tables import long_table
    from repro.results.store import read_results

    df = long_table(load_spec(str(spec)), read_results(dirs["results"], key))
    line = df[(df.row == "en") & (df.metric == "top1")].iloc[0]
    assert line.reproduced == pytest.approx(m["top1"]) and line.views == "1x1+2x3"


@pytest.mark.slow
def test_ensemble_tests_its_members_checkpoints_at_its_own_views(ensemble_run, capsys):
    spec, dirs, args = ensemble_run
    if main(args) != 0:  # the whole spec, or nothing left to do when the test above ran it
        pytest.fail(capsys.readouterr().err)
    capsys.readouterr()
    key = load_spec(str(spec)).key
    res = json.loads(find_file(dirs["results"], key, "synthetic", "en_views.seed0.json").read_text())
    prov = res["provenance"]
    assert prov["views"] == "2x3" and prov["average"] == "logits"
    assert res["config"]["member_eval"] == {"clips": 2, "crops": 3, "average": "logits"}
    tsn = json.loads(find_file(dirs["results"], key, "synthetic", "tsn.seed0.json").read_text())
    for m in ("tsn", "tsn_4f"):
        files = prov["members"][m]
        assert files["views"] == "2x3" and files["checkpoint"].endswith(f"{m}.seed0/last.pt")
        assert Path(files["scores_file"]).name.startswith("scores-")  # not the member's own scores.pt
    own = torch.load(tsn["provenance"]["scores_file"], weights_only=False)
    again = torch.load(prov["members"]["tsn"]["scores_file"], weights_only=False)
    assert own["average"] == "softmax" and again["average"] == "logits"
    assert again["video_ids"] == own["video_ids"] and not torch.allclose(again["scores"], own["scores"])
    # A second run reads the saved protocol scores: nothing is tested again.
    assert main([*args, "--rows", "en_views", "--force"]) == 0
    assert "testing last.pt" not in capsys.readouterr().out


@pytest.mark.slow
def test_retest_reproduces_the_members_own_test(ensemble_run, capsys):
    """Testing tsn_4f's checkpoint again at its own views (another batch size, so a new protocol
    hash) gives the scores its training run saved: the checkpoint, views and data are the same."""
    from repro.run.retest import retest
    from repro.run.unit import Dirs, Unit

    spec, dirs, args = ensemble_run
    if main(args) != 0:
        pytest.fail(capsys.readouterr().err)
    unit = Unit(str(spec), "tsn_4f", "synthetic", 0, _tiny_overrides(), tuple(TINY_SETS))
    d = Dirs(dirs["results"], dirs["runs"], Path(args[args.index("--cache-dir") + 1]))
    own = torch.load(find_file(dirs["runs"], load_spec(str(spec)).key, "synthetic", "tsn_4f.seed0/scores.pt"),
                     weights_only=False)
    again = retest(unit, {"batch_size": 1}, d, "hint", progress=False)
    assert again["views"] == "2x3" and again["video_ids"] == own["video_ids"]
    assert torch.allclose(again["scores"], own["scores"].float(), atol=2e-3)


@pytest.mark.slow
def test_ensemble_with_missing_member_scores_names_the_file(ensemble_run, capsys):
    spec, dirs, args = ensemble_run
    missing = find_file(dirs["runs"], load_spec(str(spec)).key, "synthetic", "tsn_4f.seed0/scores.pt")
    if missing.exists():
        missing.unlink()
    assert main([*args, "--rows", "en", "--force"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(missing) in err and "--rows tsn_4f" in err


@pytest.mark.parametrize("bad, match", [
    ("    ensemble: [tsn, nope]", "no row 'nope'"),
    ("    ensemble: [tsn]", "two or more"),
    ("    ensemble: [tsn, tsn_4f]\n    reported_only: why", "exclude each other"),
    ("    ensemble: [tsn, tsn_4f]\n    member_eval: {clips: two}", "member_eval.clips"),
])
def test_ensemble_rows_are_validated(tmp_path, bad, match):
    text = _spec("bad").replace("    ensemble: [tsn, tsn_4f]", bad)
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(SpecError, match=match):
        load_spec(str(p))


def test_member_eval_belongs_to_ensemble_rows(tmp_path):
    text = _spec("bad").replace("  - id: tsn_4f\n", "  - id: tsn_4f\n    member_eval: {clips: 2}\n")
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(SpecError, match="only an ensemble row"):
        load_spec(str(p))


def test_paper_ensemble_rows_are_built_from_their_members():
    for table, row, members in [("ssa_table1", "ssa_en", ["ssa_8f", "ssa_16f"]),
                                ("ssa_table3", "ssa_en", ["ssa_8f", "ssa_16f"]),
                                ("ssa_table4", "ssa_en", ["ssa_8f", "ssa_16f"]),
                                ("gta_table1", "gta_en", ["gta_tsm_8f", "gta_tsm_16f"]),
                                ("rsa_main", "rsa_r50_en", ["rsa_r50_8f", "rsa_r50_16f"])]:
        r = load_spec(table).row(row)
        assert r.ensemble == members and r.reported_only is None and not r.built and r.reported
