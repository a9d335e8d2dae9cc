"""Paper-profile fidelity: geometry, flip rules, parameter groups, stochastic depth, schedules,
test views, and the fidelity table, each against hand-computed expectations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from repro.data.registry import flip_rule
from repro.data.sampling import dense_indices, tsn_indices
from repro.data.transforms import ClipTransform, crop_offsets, multiscale_offsets, multiscale_sizes
from repro.engine.optim import LRSchedule, param_groups
from repro.models.resnet import TSNResNet, set_drop_path
from repro.report.fidelity import (DIVERGES, SAME, SETTINGS, SILENT, UNKNOWABLE, Line, row_lines,
                                   citation_problems, status, table_markdown)
from repro.config.loader import list_tables, load_spec, recipe_fidelity, resolve


def test_multiscale_crop_sizes_on_a_240x320_frame():
    # RSA/GTA: base 240 -> 240, 210, 180, 158 (int(240 * s)); none within 3 px of 224.
    sizes = multiscale_sizes(240, 320, 224)
    assert sorted(set(h for h, _ in sizes)) == [158, 180, 210, 240]
    assert len(sizes) == 10  # pairs whose scale indices differ by at most 1
    assert (240, 158) not in sizes and (210, 240) in sizes and (158, 180) in sizes


def test_multiscale_crop_snaps_to_the_crop_size_within_3_pixels():
    # TSM on a 256 short side: 256, 224, 192, 168 (int(256 * .875) = 224 exactly).
    assert sorted(set(w for _, w in multiscale_sizes(256, 341, 224))) == [168, 192, 224, 256]
    # 226 is within 3 px of 224 and snaps; 230 would not.
    assert 224 in {h for h, _ in multiscale_sizes(int(224 / 0.875) + 2, 300, 224)}


def test_multiscale_offsets_are_the_13_point_quarter_grid():
    # 240x320 frame, 180x210 crop: steps (240-180)//4 = 15 rows, (320-210)//4 = 27 columns.
    offs = multiscale_offsets(240, 320, 180, 210)
    assert len(offs) == 13
    quarters = {(t // 15, l // 27) for t, l in offs}
    assert quarters == {(0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (2, 0), (2, 4), (4, 2), (0, 2),
                        (1, 1), (1, 3), (3, 1), (3, 3)}


def test_multiscale_train_view_has_the_crop_size_and_comes_from_the_grid():
    frames = np.random.default_rng(0).integers(0, 255, (4, 60, 80, 3), dtype=np.uint8)
    tf = ClipTransform([48, 64], 40, True, crop_mode="multiscale")
    for seed in range(5):
        v, _ = tf(frames, 0, np.random.default_rng(seed))
        assert v.shape == (3, 4, 40, 40)


def test_fixed_resize_is_height_by_width():
    frames = np.zeros((2, 100, 100, 3), dtype=np.uint8)
    tf = ClipTransform([24, 32], 24, False)
    assert crop_offsets(24, 32, 24, 1) == [(0, 4)]
    v, _ = tf(frames, 0)
    assert v.shape == (3, 2, 24, 24)


def test_skip_flip_keeps_the_listed_classes_and_swaps_nothing():
    info = {"flip_swap": {86: 87, 87: 86, 93: 94, 94: 93}}
    rule = flip_rule({"flip": "skip", "flip_keep": None}, info)
    assert rule == {"flip_swap": {}, "flip_keep": [86, 87, 93, 94]}  # default: the sided classes
    assert flip_rule({"flip": "skip", "flip_keep": [50, 86]}, info)["flip_keep"] == [50, 86]
    assert flip_rule({"flip": "swap", "flip_keep": None}, info) == {"flip_swap": info["flip_swap"]}
    assert flip_rule({"flip": "none", "flip_keep": None}, info) == {"flip_swap": None}
    frames = np.arange(2 * 8 * 8 * 3, dtype=np.uint8).reshape(2, 8, 8, 3)
    tf = ClipTransform(8, 8, True, flip_p=1.0, **rule)
    kept, label = tf(frames, 86, np.random.default_rng(0))
    assert label == 86 and torch.equal(kept, ClipTransform(8, 8, False)(frames, 0)[0])
    flipped, label = tf(frames, 5, np.random.default_rng(0))
    assert label == 5 and torch.equal(flipped, kept.flip(-1))


def test_gta_flip_list_is_the_left_right_word_classes():
    cfg = resolve(load_spec("gta_fig7"), "sa_gta", "paper")
    assert cfg["data"]["flip"] == "skip" and cfg["data"]["flip_keep"] == [50, 86, 87, 93, 94, 166, 167]
    rsa = resolve(load_spec("rsa_main"), "rsa_r50_8f", "paper")
    assert rsa["data"]["flip_keep"] == [86, 87, 93, 94, 166, 167]


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)


def test_parameter_groups_follow_tsm_policies():
    train = {"lr_mult": {"bias": 2, "fc_weight": 5, "fc_bias": 10}, "no_decay": ["bn", "bias"],
             "weight_decay": 5e-4}
    m = _Tiny()
    groups = {g["kind"]: g for g in param_groups(m, train)}
    assert set(groups) == {"weight", "bias", "bn", "fc_weight", "fc_bias"}
    assert groups["weight"]["params"] == [m.conv.weight] and groups["weight"]["weight_decay"] == 5e-4
    assert groups["bias"]["params"] == [m.conv.bias] and groups["bias"]["lr_mult"] == 2
    assert groups["bias"]["weight_decay"] == 0 and groups["bn"]["weight_decay"] == 0
    assert groups["bn"]["lr_mult"] == 1 and len(groups["bn"]["params"]) == 2
    assert (groups["fc_weight"]["lr_mult"], groups["fc_weight"]["weight_decay"]) == (5, 5e-4)
    assert (groups["fc_bias"]["lr_mult"], groups["fc_bias"]["weight_decay"]) == (10, 0)
    plain = {g["kind"]: g for g in param_groups(m, {"lr_mult": {}, "no_decay": [], "weight_decay": 1e-4})}
    assert all(g["lr_mult"] == 1 and g["weight_decay"] == 1e-4 for g in plain.values())


def test_stochastic_depth_rates_rise_linearly_over_the_16_bottlenecks():
    rates = set_drop_path(TSNResNet(10, [3, 4, 6, 3], width=8, num_frames=2), 0.2)
    assert len(rates) == 16 and rates[0] == 0 and rates[-1] == pytest.approx(0.2)
    assert rates == pytest.approx([0.2 * i / 15 for i in range(16)])


def test_rsa_smoke_model_drops_paths_in_training_only():
    from repro.models.build import build_from_config

    cfg = resolve(load_spec("rsa_main"), "rsa_r50_8f", "smoke")
    assert cfg["model"]["drop_path"] == 0.2
    torch.manual_seed(0)
    model = build_from_config(cfg, 5)
    blocks = [m for m in model.modules() if hasattr(m, "drop_path") and not callable(m.drop_path)]
    assert [b.drop_path for b in blocks] == pytest.approx([0.2 * i / 15 for i in range(16)])
    # Every branch nonzero, so a dropped one changes the output.
    for b in blocks:
        nn.init.ones_(b.bn3.weight)
    x = torch.randn(2, 3, 8, 32, 32)
    model.eval()
    with torch.no_grad():
        e1, e2 = model(x), model(x)
        for b in blocks:
            b.drop_path = 0.0
        ref = model(x)
    assert torch.equal(e1, e2) and torch.equal(e1, ref)  # off in evaluation
    set_drop_path(model, 0.9)  # high, so a drop happens for sure
    model.train()
    with torch.no_grad():
        torch.manual_seed(1)
        t1 = model(x)
        torch.manual_seed(2)
        t2 = model(x)
    assert not torch.allclose(t1, t2)  # active in training: two draws, two outputs


def test_rsa_schedule_matches_the_official_per_epoch_values():
    tr = resolve(load_spec("rsa_main"), "rsa_r50_8f", "paper")["train"]
    s = LRSchedule(tr, iters_per_epoch=10)
    at = lambda epoch: s.lr((epoch - 1) * 10 + 3)  # noqa: E731 -- any iteration of a 1-based epoch
    # Official (ops/CosineAnnealingLR.py, log of RSA_R50_SSV2_16frames): epochs 1-7, 78-80.
    for epoch, lr in [(1, 0.004016), (2, 0.008012), (3, 0.012008), (4, 0.016004), (5, 0.02),
                      (6, 0.0199912), (7, 0.0199650), (80, 2e-5)]:
        assert at(epoch) == pytest.approx(lr, rel=1e-4), epoch
    assert at(80) == pytest.approx(1e-3 * tr["lr"])  # the cosine ends at 1e-3 x lr
    assert s.lr(0) == s.lr(9)  # held for the epoch


def test_per_iteration_schedule_is_unchanged_by_the_new_keys():
    tr = {"lr": 0.1, "schedule": "cosine", "epochs": 4, "steps": [], "plateau_patience": 3,
          "final_lr_ratio": 0.0, "warmup_start_ratio": 0.0, "lr_step": "iter", "warmup_epochs": 1,
          "cosine_span": "after_warmup"}
    s = LRSchedule(tr, 10)
    assert s.lr(0) == pytest.approx(0.01) and s.lr(9) == pytest.approx(0.1)
    assert s.lr(10) == pytest.approx(0.1) and s.lr(39) == pytest.approx(0.05 * (1 + math.cos(math.pi * 29 / 30)))


def test_tsm_two_clip_offsets_and_three_full_resolution_crops():
    # TSM --twice_sample, 80 frames, 8 segments (tick 10): clip 0 at int(5 + 10x), clip 1 at int(10x).
    assert list(tsn_indices(80, 8, False, clip=0, clips=2, layout="tsm")) == [5, 15, 25, 35, 45, 55, 65, 75]
    assert list(tsn_indices(80, 8, False, clip=1, clips=2, layout="tsm")) == [0, 10, 20, 30, 40, 50, 60, 70]
    # The harness's own spread layout: (k + .5)/2 of a segment.
    assert list(tsn_indices(80, 8, False, clip=0, clips=2))[:2] == [2, 12]
    # Full resolution: short side 256, three 256 crops along the long side (TSM GroupFullResSample).
    assert crop_offsets(256, 341, 256, 3) == [(0, 0), (0, 42), (0, 85)]
    with pytest.raises(ValueError, match="two-clip"):
        tsn_indices(80, 8, False, clip=0, clips=3, layout="tsm")


def test_dense_clips_follow_pyslowfast():
    # 8 frames 8 apart: a 64-frame window, linspace(start, start + 63, 8), truncated.
    idx = dense_indices(300, 8, 8, False, clip=0, clips=10)
    assert list(idx) == [0, 9, 18, 27, 36, 45, 54, 63]
    assert dense_indices(300, 8, 8, False, clip=5, clips=10)[0] == int(236 * 5 / 10)
    short = dense_indices(20, 8, 8, True, np.random.default_rng(0))
    assert short.min() >= 0 and short.max() == 19  # a short video repeats its frames


def test_inverse_uniform_jitter_draws_the_inverse_of_the_side():
    from repro.data.transforms import jitter_side

    a, b = np.random.default_rng(3), np.random.default_rng(3)
    u = b.uniform(1 / 320, 1 / 256)
    assert jitter_side([256, 320], True, a) == round(1 / u)  # PySlowFast: 1 / U(1/hi, 1/lo)
    rng = np.random.default_rng(0)
    inv = np.array([jitter_side([256, 320], True, rng) for _ in range(4000)])
    uni = np.array([jitter_side([256, 320], False, rng) for _ in range(4000)])
    assert inv.min() >= 256 and inv.max() <= 320
    # E[1/U(1/320, 1/256)] = ln(320/256) / (1/256 - 1/320) = 285.6, below the uniform mean 288
    assert abs(inv.mean() - math.log(320 / 256) / (1 / 256 - 1 / 320)) < 1.0
    assert abs(uni.mean() - 288) < 1.0


def test_ensemble_rows_are_judged_on_their_members_protocol():
    spec = load_spec("gta_table1")
    (line,) = row_lines(spec, "gta_en")
    # GTA states only "(16+8)x3x2" and score averaging: the rest is TSM's accurate protocol.
    assert line.setting == "ensemble" and line.verdict == SILENT and "test_models.py:" in line.detail
    assert "eval.crops=3" in line.harness and "eval.clip_layout=tsm" in line.harness
    assert "eval.average=logits" in line.harness and "240x320" in line.reference
    (ssa,) = row_lines(load_spec("ssa_table1"), "ssa_en")
    assert ssa.verdict == SILENT and "eval.average=logits" in ssa.harness
    md = "\n".join(table_markdown(spec))
    assert "**gta_en**: faithful; silent on 1" in md


def test_slowfast_rows_train_at_224_and_are_costed_at_their_256_test_view(tmp_path):
    from repro.run.cost import run_cost
    import json

    spec = load_spec("gta_fig3")
    cfg = resolve(spec, "slowfast_r50", "paper")
    assert (cfg["data"]["crop"], cfg["eval"]["crop_size"]) == (224, 256)
    assert cfg["data"]["crop_mode"] == "jitter_inverse" and cfg["train"]["steps"] == [14, 18]
    run_cost("gta_fig3", {}, (), tmp_path, say=lambda *a, **k: None)
    res = json.loads((tmp_path / "gta_fig3" / "cost" / "slowfast_r50.json").read_text())
    assert res["provenance"]["input"] == "1x3x64x256x256"
    assert abs(res["metrics"]["gflops"] - 131.4) < 0.01 * 131.4  # GTA Figure 3's 131.4 G


def test_slowfast_init_follows_pyslowfast_once_a_kinetics_file_is_given():
    spec = load_spec("gta_fig3")
    plain = {ln.setting: ln for ln in row_lines(spec, "slowfast_r50")}
    assert plain["init"].verdict == DIVERGES and "--weights SLOWFAST_8x8_R50.pkl" in plain["init"].detail
    given = {ln.setting: ln for ln in row_lines(spec, "slowfast_r50", {"model": {"weights": "/d/SLOWFAST_8x8_R50.pkl"}})}
    assert given["init"].verdict == "same"


def test_every_paper_recipe_records_a_reference_for_every_setting():
    from repro.config.loader import EXPERIMENTS

    for path in sorted((EXPERIMENTS / "recipes").glob("*.yaml")):
        if path.stem == "synthetic":
            continue  # the CPU probe's recipe: no paper to be faithful to
        missing = [s for s in SETTINGS if s not in recipe_fidelity(path.stem)]
        assert not missing, f"{path.name} has no fidelity entry for {missing}"


@pytest.mark.parametrize("table", list_tables())
def test_fidelity_table_is_generated_for_every_table(table):
    spec = load_spec(table)
    md = "\n".join(table_markdown(spec))
    built = [r for r in spec.rows if r.built or r.is_ensemble]
    assert ("| setting |" in md) == bool(built)
    for r in built:
        assert r.id in md


def test_done_when_tables_diverge_only_where_argued():
    # RSA: main.py's stray step; validation every epoch. SSAN: the classifier's init follows TSM
    # but not TSM's 5x/10x classifier lr (a flagged divergence of the recipe's own rule). Input:
    # TSM and RSA trained SSv2 from extracted frames, while the paper profile decodes the videos
    # unless data.prepared is set (the line says how to prepare them).
    argued = {"optimizer", "checkpoint", "classifier", "input"}
    for table in ("ssa_table2", "gta_fig7", "gta_table1", "rsa_main"):
        spec = load_spec(table)
        for r in spec.rows:
            if r.built or r.is_ensemble:
                lines = row_lines(spec, r.id)
                div = {ln.setting for ln in lines if ln.verdict == DIVERGES}
                assert div <= argued, (table, r.id, div)
                assert all(ln.detail for ln in lines if ln.verdict == DIVERGES)


def test_the_input_line_says_what_the_reference_read_and_what_the_row_reads():
    spec = load_spec("gta_table1")
    webm = {ln.setting: ln for ln in row_lines(spec, "tsm_8f")}["input"]
    assert webm.verdict == DIVERGES and "python -m repro.prepare ssv2" in webm.detail
    assert "data.prepared=False" in webm.harness and "vid2img_sthv2.py:23" in webm.source
    frames = {ln.setting: ln for ln in row_lines(spec, "tsm_8f", {"data": {"prepared": True}})}["input"]
    assert frames.verdict == "same" and "data.prepared=True" in frames.harness


def test_an_override_of_a_judged_value_is_shown_as_a_divergence():
    spec = load_spec("gta_fig7")
    lines = {ln.setting: ln for ln in row_lines(spec, "sa_gta", {"data": {"flip": "none"}})}
    assert lines["flip"].verdict == DIVERGES and "data.flip is none, reference skip" in lines["flip"].detail
    assert status(list(lines.values())).startswith("diverges on 1: flip")


def test_fidelity_flag_prints_without_training(capsys, tmp_path):
    from repro.cli import main

    assert main(["--table", "rsa_main", "--fidelity", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "rows rsa_r50_8f, rsa_r50_16f:" in out and "stochastic_depth same" in out
    assert not any(tmp_path.iterdir())


def test_precise_bn_is_the_equal_weight_average_of_batch_statistics():
    from repro.engine.evaluate import precise_bn

    torch.manual_seed(0)
    bn = nn.BatchNorm1d(3, momentum=0.1)
    model = nn.Sequential(bn)
    batches = [{"video": torch.randn(4, 3) * (i + 1) + i} for i in range(5)]
    model.eval()
    used = precise_bn(model, batches + [{"bad": 1}], 3, torch.device("cpu"))
    assert used == 3 and not model.training and bn.momentum == 0.1  # restored
    xs = [b["video"] for b in batches[:3]]
    assert torch.allclose(bn.running_mean, torch.stack([x.mean(0) for x in xs]).mean(0), atol=1e-6)
    assert torch.allclose(bn.running_var, torch.stack([x.var(0, unbiased=True) for x in xs]).mean(0), atol=1e-5)


def _all_row_lines():
    for table in list_tables():
        spec = load_spec(table)
        for r in spec.rows:
            if r.built or r.is_ensemble:
                yield table, r.id, row_lines(spec, r.id)


def test_every_verdict_is_backed_by_its_citation():
    # "same" only where a paper place (GTA App. E, SSAN Sec. 4.2, arXiv id) or an official
    # file:line is cited and the paper text does not call the value unstated; "silent" cites the
    # code it follows; unknowable/diverges give a reason (fidelity.py docstring, CITATION).
    offenders = [f"{table}/{rid}: {ln.setting} ({ln.verdict}): {p}"
                 for table, rid, lines in _all_row_lines() for ln in lines for p in citation_problems(ln)]
    assert not offenders, f"{len(offenders)} fidelity lines lack their citation:\n" + "\n".join(offenders)


def test_the_citation_check_catches_uncited_and_unstated_same_lines():
    def line(source, reference="x", verdict=SAME, detail=""):
        return Line("lr", "train.lr=0.01", reference, source, verdict, detail)

    assert citation_problems(line("GTA App. E")) == []
    assert citation_problems(line("SSAN Sec. 4.2; TSM main.py:72")) == []
    assert citation_problems(line("PySlowFast configs/SSv2/SLOWFAST_16x8_R50.yaml:42-43")) == []
    assert citation_problems(line("SSAN (arXiv 2105.13033)")) == []
    assert citation_problems(line("")) == ["no source"]
    assert "cites no paper section" in citation_problems(line("TSM main.py (best_prec1)"))[0]
    assert "cites no paper section" in citation_problems(line("SSAN tables"))[0]
    assert "unstated" in citation_problems(line("GTA App. E", "classifier lr not stated"))[0]
    assert citation_problems(line("x", verdict=SILENT, detail="following TSM main.py:72")) == []
    assert citation_problems(line("x", verdict=SILENT, detail="following TSM (float32)"))
    assert citation_problems(line("x", verdict=UNKNOWABLE, detail=""))


def test_status_says_faithful_only_without_divergences_and_counts_the_rest():
    mk = lambda s, v: Line(s, "", "", "", v, "r")  # noqa: E731
    assert status([mk("a", SAME), mk("b", SILENT), mk("c", UNKNOWABLE), mk("d", SILENT)]) == \
        "faithful; silent on 2, unknowable on 1"
    assert status([mk("a", SAME)]) == "faithful"
    assert status([mk("a", DIVERGES), mk("b", UNKNOWABLE)]) == "diverges on 1: a; unknowable on 1"


def _lines(table, row, overrides=None):
    return {ln.setting: ln for ln in row_lines(load_spec(table), row, overrides)}


def test_audited_verdicts():
    # FC1: the SlowFast-R101 rows run PySlowFast's SlowFast-R101 Kinetics recipe, labelled as
    # silent on GTA's part, its cosine over the whole run included (train.cosine_span whole).
    f4 = load_spec("gta_fig4")
    cfg = resolve(f4, "slowfast_r101_nl", "paper")
    assert cfg["meta"]["recipe"] == "pyslowfast_slowfast_r101_k400"
    tr = cfg["train"]
    assert (tr["lr"], tr["epochs"], tr["schedule"], tr["warmup_epochs"], tr["warmup_start_ratio"],
            tr["batch_size"], tr["bn_group"]) == (0.1, 196, "cosine", 34, 0.1, 64, 8)
    sf = _lines("gta_fig4", "slowfast_r101_gta")
    for s in ("epochs", "lr", "warmup", "batch", "weight_decay", "bn", "schedule"):
        assert sf[s].verdict == SILENT and "SLOWFAST_8x8_R101_50_50.yaml:" in sf[s].detail, s
    assert _lines("gta_fig4", "r2d_gta")["epochs"].verdict == SAME  # the C2D recipe stays
    # FC3: gta_fig10's TSM row is judged against TSM's recipe; FC7: SSv2 test views unknowable.
    assert resolve(load_spec("gta_fig10"), "tsm_16f", "paper")["meta"]["recipe"] == "tsm"
    for table, row in [("gta_fig10", "tsm_16f"), ("gta_table1", "tsm_8f"), ("ssa_table3", "tsm_16f")]:
        assert _lines(table, row)["test_views"].verdict == UNKNOWABLE, (table, row)
    assert _lines("ssa_table1", "tsm_8f")["test_views"].verdict == SAME  # SSv1: README.md:142-145
    # FC4: the classifier is its own setting: silent (TSM) for GTA; SSAN diverges (TSM's lr not taken).
    gta = _lines("gta_table1", "gta_r50_8f")
    assert gta["init"].verdict == SAME and gta["classifier"].verdict == SILENT
    ssa = _lines("ssa_table2", "ssa")
    assert ssa["init"].verdict == SAME and ssa["classifier"].verdict == DIVERGES
    assert "train.lr_mult.fc_weight is null, reference 5" in ssa["classifier"].detail
    # FC5: TSM's e100 dense Kinetics hyper-parameters are not published.
    k = _lines("ssa_table4", "tsm_8f")
    assert {s for s in ("batch", "lr", "weight_decay", "dropout", "clipping", "schedule")
            if k[s].verdict == UNKNOWABLE} == {"batch", "lr", "weight_decay", "dropout", "clipping", "schedule"}
    assert k["epochs"].verdict == SAME  # *_e100_dense: main.py:38-40 names the file after --epochs
    # FC6: PySlowFast's SSv2 BN groups of 8 clips.
    assert _lines("gta_fig3", "slowfast_r50")["bn"].verdict == SAME
    assert _lines("gta_fig3", "slowfast_r50", {"train": {"bn_group": None}})["bn"].verdict == DIVERGES
    # SSv1 rows of GTA: the flip list names the same classes under SSv1's alphabetical order
    # (tests/test_ssv1_flip.py), so the line cites the word rule and SSv1's label list.
    assert _lines("gta_fig7", "sa_gta")["flip"].verdict == SAME
    assert "label_map.txt" in _lines("gta_fig7", "sa_gta")["flip"].source
    assert _lines("gta_table1", "gta_r50_8f")["flip"].verdict == SAME
    # Input normalisation: ImageNet's (TSM, RSA; silent for GTA/SSAN), PySlowFast's 0.45/0.225.
    assert _lines("rsa_main", "rsa_r50_8f")["normalization"].verdict == SAME
    assert _lines("ssa_table2", "ssa")["normalization"].verdict == SILENT
    sf50 = _lines("gta_fig3", "slowfast_r50")["normalization"]
    assert sf50.verdict == SAME and "data.mean=[0.45, 0.45, 0.45]" in sf50.harness


def _pyslowfast_lr(policy, base, max_epoch, epoch, warmup=0.0, warmup_start=0.0, steps=(), lrs=(),
                   cosine_end=0.0):
    """PySlowFast's get_lr_at_epoch (slowfast/utils/lr_policy.py:9-77 @287ec00, with
    COSINE_AFTER_WARMUP False): the warm-up rises linearly to the policy's value at its end."""
    def policy_lr(e):
        if policy == "cosine":
            return cosine_end + (base - cosine_end) * (math.cos(math.pi * e / max_epoch) + 1.0) * 0.5
        ind = [i for i, s in enumerate(list(steps) + [max_epoch]) if e < s][0] - 1
        return lrs[ind] * base
    if epoch < warmup:
        return epoch * (policy_lr(warmup) - warmup_start) / warmup + warmup_start
    return policy_lr(epoch)


def test_pyslowfast_recipes_schedules_against_lr_policy():
    ipe = 1000  # iterations per epoch; PySlowFast sets the lr at epoch + iter / ipe (train_net.py:104-105)
    ssv2 = LRSchedule(resolve(load_spec("gta_fig3"), "slowfast_r50", "paper")["train"], ipe)
    for e in (0.0, 0.1, 0.18, 0.19, 1.0, 13.9, 14.0, 17.5, 18.0, 21.9):
        ref = _pyslowfast_lr("steps", 0.03, 22, e, 0.19, 1e-4, [0, 14, 18], [1, 0.1, 0.01, 0.001])
        assert ssv2.lr(round(e * ipe)) == pytest.approx(ref, abs=2e-4), e  # warm-up: one iteration apart
    c2d = LRSchedule(resolve(load_spec("gta_fig4"), "r2d_gta", "paper")["train"], ipe)
    for e in (0.0, 43.9, 44.0, 87.9, 88.0, 117.9):
        assert c2d.lr(round(e * ipe)) == pytest.approx(
            _pyslowfast_lr("steps", 0.01, 118, e, steps=[0, 44, 88, 118], lrs=[1, 0.1, 0.01, 0.001])), e
    # SlowFast-R101: the cosine over all 196 epochs, the warm-up rising to its value at epoch 34.
    r101 = LRSchedule(resolve(load_spec("gta_fig4"), "slowfast_r101_gta", "paper")["train"], ipe)
    ref = lambda e: _pyslowfast_lr("cosine", 0.1, 196, e, 34.0, 0.01)  # noqa: E731
    assert ref(0) == pytest.approx(0.01) and ref(34) == pytest.approx(0.0928, abs=1e-4)
    for e in (0.0, 1.0, 17.0, 33.9, 34.0, 80.0, 100.0, 150.0, 195.9):
        assert r101.lr(round(e * ipe)) == pytest.approx(ref(e), abs=2e-4), e  # warm-up: one iteration apart
