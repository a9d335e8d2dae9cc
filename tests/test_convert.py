"""Checkpoint converters (repro.convert) against the publishers' key layouts.

tests/fixtures/checkpoints/*.json record the keys, shapes and dtypes of each publisher's file,
taken from the official code built with random weights (each file names the repo@commit and how).
Here a checkpoint of that layout, in the publisher's wrapping, is made with a distinct value per
tensor, converted, and loaded strictly into the row's model on the meta device; spot checks say
which tensor must land where. Broken files must be refused with the keys named.
"""
from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import repro
from repro.convert import CheckpointError, convert_checkpoint, guess_source, read_checkpoint, unwrap
from repro.convert.pyslowfast import caffe2_to_pyth

torch.set_num_threads(1)
FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints"
MANIFESTS = {p.stem: json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))}
CASES = [pytest.param(stem, conv, id=f"{stem}->{conv['table']}/{conv['row']}")
         for stem, doc in MANIFESTS.items() for conv in doc["convert"]]

# (publisher's key as in the file, our key): where a tensor must land, per manifest.
TSM, MM = "module.base_model.", "backbone."
SPOTS = {
    "tsm_r50_shift8_8f": [(TSM + "layer1.0.conv1.net.weight", "layer1.0.conv1.weight"),
                          (TSM + "layer4.0.downsample.1.running_var", "layer4.0.downsample.1.running_var"),
                          ("module.new_fc.weight", "fc.weight")],
    "tsm_r50_shift8_nl_8f_k400": [
        (TSM + "layer3.4.block.conv1.net.weight", "layer3.4.conv1.weight"),
        (TSM + "layer2.2.nl.g.0.bias", "layer2.2.post.module.g.bias"),
        (TSM + "layer2.0.nl.W.0.weight", "layer2.0.post.module.out.conv.weight"),
        (TSM + "layer3.4.nl.W.1.running_var", "layer3.4.post.module.out.bn.running_var")],
    "rsa_r50_8f": [(TSM + "conv1.weight", "conv1.weight"),
                   (TSM + "layer2.1.conv2.P1", "layer2.1.conv2.module.basic_kernel"),
                   (TSM + "layer3.5.conv2.I", "layer3.5.conv2.module.mix_identity"),
                   (TSM + "layer1.2.conv2.H1.weight", "layer1.2.conv2.module.key_relation.weight"),
                   ("module.new_fc.weight", "fc.weight")],
    "pyslowfast_slowfast_16x8_r50_nl": [
        ("s1.pathway1_stem.conv.weight", "fast_stem.conv.weight"),
        ("s2_fuse.conv_f2s.weight", "lateral1.conv.weight"),
        ("s4.pathway1_res5.branch2.a.weight", "fast3.5.conv_a.weight"),
        ("s3.pathway0_res0.branch1_bn.running_mean", "layer2.0.shortcut.1.running_mean"),
        ("s3.pathway0_nonlocal1.conv_out.weight", "layer2.1.post.out.conv.weight"),
        ("s4.pathway0_nonlocal5.bn.weight", "layer3.5.post.out.bn.weight"),
        ("head.projection.weight", "fc.weight")],
    "pyslowfast_c2_slowfast_8x8_r50_k400": [
        ("t_conv1_w", "fast_stem.conv.weight"), ("res_conv1_bn_riv", "slow_stem.bn.running_var"),
        ("t_pool1_subsample_w", "lateral0.conv.weight"),
        ("t_res4_5_branch2c_bn_subsample_bn_rm", "lateral3.bn.running_mean"),
        ("res5_2_branch2c_bn_s", "layer4.2.bn_c.weight"),
        ("t_res3_0_branch1_w", "fast2.0.shortcut.0.weight")],
    "mmaction2_tsm_r50_8f_sthv2": [(MM + "conv1.bn.weight", "bn1.weight"),
                                   (MM + "layer2.3.conv1.conv.net.weight", "layer2.3.conv1.weight"),
                                   (MM + "layer3.0.downsample.conv.weight", "layer3.0.downsample.0.weight"),
                                   ("cls_head.fc_cls.bias", "fc.bias")],
    "mmaction2_tsm_r50_nl_8f_k400": [
        (MM + "layer2.0.block.conv1.conv.net.weight", "layer2.0.conv1.weight"),
        (MM + "layer3.2.non_local_block.phi.0.conv.weight", "layer3.2.post.module.phi.weight"),
        (MM + "layer3.4.non_local_block.theta.conv.bias", "layer3.4.post.module.theta.bias"),
        (MM + "layer2.2.non_local_block.conv_out.bn.weight", "layer2.2.post.module.out.bn.weight")],
    "mmaction2_slowfast_r50_8x8_k400": [
        (MM + "slow_path.layer3_lateral.bn.bias", "lateral3.bn.bias"),
        (MM + "fast_path.layer4.0.conv1.conv.weight", "fast4.0.conv_a.weight"),
        (MM + "slow_path.layer1.0.downsample.bn.weight", "layer1.0.shortcut.1.weight")],
    "torchvision_resnet50": [("layer3.4.bn2.bias", "layer3.4.bn2.bias")],
}

# One layout per source for the broken-file and guessing tests.
PER_SOURCE = {"tsm": "tsm_r50_shift8_8f", "rsa": "rsa_r50_8f", "pyslowfast": "pyslowfast_slowfast_16x8_r50",
              "pyslowfast-caffe2": "pyslowfast_c2_slowfast_8x8_r50_k400",
              "mmaction2": "mmaction2_tsm_r50_8f_sthv2", "torchvision": "torchvision_resnet50"}


def _value(i: int, shape: list[int], dtype: str, numpy: bool):
    """Tensor ``i`` of a checkpoint: filled with ``i + 1`` (expanded, so R101 files cost no memory)."""
    if numpy:
        return np.broadcast_to(np.asarray(i + 1, dtype=dtype), shape)
    dt = getattr(torch, dtype)
    return torch.tensor(i + 1 if dt.is_floating_point else 0, dtype=dt).expand(shape)


def make_checkpoint(doc: dict, keys: list | None = None) -> object:
    """A checkpoint of ``doc``'s layout, wrapped as the publisher's file object is."""
    numpy = doc["tensor_type"] == "numpy"
    state = {k: _value(i, s, d, numpy) for i, (k, s, d) in enumerate(keys or doc["keys"])}
    return {**doc["top_level"], doc["container"]: state} if doc["container"] else state


def _meta_model(conv: dict) -> torch.nn.Module:
    """The row's model (keys and shapes, no memory); ``overrides`` move inserted modules to where
    a publisher has them (TSM's and mmaction2's NL after blocks 0,2 / 0,2,4)."""
    with torch.device("meta"):
        return repro.build_model(conv["table"], conv["row"], "paper", conv.get("overrides"))


@pytest.mark.parametrize("stem, conv", CASES)
def test_manifest_converts_and_loads_strictly(stem, conv):
    doc = MANIFESTS[stem]
    ck = make_checkpoint(doc)
    trunk_only = conv.get("trunk_only", False)
    built = _meta_model(conv) if conv.get("overrides") else None
    sd = convert_checkpoint(ck, doc["source"], conv["table"], conv["row"], model=built, trunk_only=trunk_only)
    model = _meta_model(conv)
    missing, unexpected = model.load_state_dict(sd, strict=not trunk_only, assign=True)
    assert not unexpected
    if trunk_only:  # exactly the classifier and the inserted modules stay at their init
        assert {"fc.weight", "fc.bias"} <= set(missing)
        assert all(k.startswith("fc.") or re.search(r"\.(post|mid)\.", k) for k in missing), missing
    numpy = doc["tensor_type"] == "numpy"
    index = {k: i for i, (k, _, _) in enumerate(doc["keys"])}
    for src, ours in SPOTS.get(stem, []):
        assert sd[ours].shape == model.state_dict()[ours].shape
        assert sd[ours].flatten()[0].item() == index[src] + 1, f"{src} should fill {ours}"
    # every value went somewhere once: the distinct fills of the placed tensors are all there
    # (mmcv's NL conv_out has no bias: ours is filled with zeros)
    zeros = [k for k in sd if k.endswith("post.module.out.conv.bias")] if doc["source"] == "mmaction2" else []
    assert all(not sd[k].any() for k in zeros)
    filled = [v for k, v in sd.items() if v.is_floating_point() and v.numel() and k not in zeros]
    assert len({round(v.flatten()[0].item()) for v in filled}) == len(filled)
    assert numpy or all(sd[k].dtype == model.state_dict()[k].dtype for k in sd)


@pytest.mark.parametrize("which", sorted(PER_SOURCE))
def test_guess_source(which):
    doc = MANIFESTS[PER_SOURCE[which]]
    ck = make_checkpoint(doc)
    assert guess_source(ck) == doc["source"]
    assert guess_source(unwrap(ck)) == doc["source"]  # the bare state dict too
    said = []
    conv = doc["convert"][0]
    convert_checkpoint(ck, None, conv["table"], conv["row"], model=_meta_model(conv),
                       trunk_only=conv.get("trunk_only", False), say=said.append)
    assert len(said) == 1 and repr(doc["source"]) in said[0]


def test_unknown_layout_is_not_guessed():
    with pytest.raises(CheckpointError, match="cannot tell the source"):
        guess_source({"encoder.blocks.0.attn.weight": torch.zeros(2)})


@pytest.mark.parametrize("which", sorted(PER_SOURCE))
def test_broken_checkpoint_names_the_keys(which):
    """One file per source with a tensor dropped, one added and one of another shape."""
    doc = MANIFESTS[PER_SOURCE[which]]
    keys = [list(k) for k in doc["keys"]]
    numpy = doc["tensor_type"] == "numpy"
    convs = [i for i, (k, s, _) in enumerate(keys) if len(s) >= 4 and not k.endswith("_momentum")]
    dropped = keys.pop(convs[3])
    reshaped = keys[convs[5] - 1]
    reshaped[1] = [reshaped[1][0] + 1] + reshaped[1][1:]
    extra = keys[0][0].rsplit(".", 1)[0] + ".extra_gain" if not numpy else "extra_gain_w"
    keys.append([extra, [3, 5], "float32"])
    conv = doc["convert"][0]
    with pytest.raises(CheckpointError) as err:
        convert_checkpoint(make_checkpoint(doc, keys), doc["source"], conv["table"], conv["row"],
                           trunk_only=conv.get("trunk_only", False))
    msg = str(err.value)
    assert f"{extra} (3, 5)" in msg  # the tensor left over, in the publisher's name
    rows = reshaped[1][0]
    assert re.search(rf"{re.escape(reshaped[0])} \({rows}, .*\) -> \S+ \({rows - 1}, ", msg)
    m = re.search(r"not filled in \S+ \(1\): (\S+) \((.*?)\)", msg)  # our key, with its shape
    assert m, msg
    ours = [int(d) for d in m.group(2).split(",") if d.strip()]
    assert [d for d in ours if d != 1] == [d for d in dropped[1] if d != 1], msg
    assert "1 checkpoint tensor(s) not placed, 1 of ours not filled, 1 shape mismatch(es)" in msg


def test_class_count_mismatch_names_both_counts():
    doc = MANIFESTS["pyslowfast_c2_slowfast_8x8_r50_k400"]  # Kinetics: 400 classes
    with pytest.raises(CheckpointError, match=r"has 400 classes .* gta_fig3/slowfast_r50 has 174 \(ssv2\)"):
        convert_checkpoint(make_checkpoint(doc), "pyslowfast", "gta_fig3", "slowfast_r50")


def test_wrong_architecture_and_shift_are_refused():
    tsm = make_checkpoint(MANIFESTS["tsm_r50_shift8_8f"])
    with pytest.raises(CheckpointError, match="holds a 2D ResNet .* gta_fig3/slowfast_r50 is a SlowFast"):
        convert_checkpoint(tsm, "tsm", "gta_fig3", "slowfast_r50")
    # the weights of a shifted and an unshifted ResNet fit each other, the functions differ
    with pytest.raises(CheckpointError, match="has TSM's temporal shift .* ssa_table3/tsn_8f does not shift"):
        convert_checkpoint(tsm, "tsm", "ssa_table3", "tsn_8f")
    tsn = make_checkpoint(MANIFESTS["mmaction2_tsn_r50_8f_sthv2"])
    with pytest.raises(CheckpointError, match="has no temporal shift"):
        convert_checkpoint(tsn, "mmaction2", "gta_table1", "tsm_8f")


def test_functions_we_cannot_compute_are_refused():
    doc = MANIFESTS["pyslowfast_slowfast_16x8_r50_nl"]
    ck = make_checkpoint(doc)
    # gta_fig3's NL row computes PySlowFast's SSv2 dot_product NL; a softmax file is refused
    ck["cfg"] = "NONLOCAL:\n  INSTANTIATION: softmax\nSLOWFAST:\n  ALPHA: 4\n"
    with pytest.raises(CheckpointError, match="INSTANTIATION 'softmax'.*use dot_product"):
        convert_checkpoint(ck, "pyslowfast", "gta_fig3", "slowfast_r50_nl")
    ck["cfg"] = "NONLOCAL:\n  INSTANTIATION: dot_product\nSLOWFAST:\n  ALPHA: 8\n"
    with pytest.raises(CheckpointError, match="ALPHA 8"):
        convert_checkpoint(ck, "pyslowfast", "gta_fig3", "slowfast_r50_nl")
    ck["cfg"] = "NONLOCAL:\n  INSTANTIATION: dot_product\nSLOWFAST:\n  ALPHA: 4\n"
    assert convert_checkpoint(ck, "pyslowfast", "gta_fig3", "slowfast_r50_nl")
    # mmaction2's default SlowFast fuses with a bare conv (no lateral BN, no ReLU)
    doc = MANIFESTS["mmaction2_slowfast_r50_8x8_k400"]
    bare = [k for k in doc["keys"] if "_lateral.bn." not in k[0]]
    with pytest.raises(CheckpointError, match="bare conv"):
        convert_checkpoint(make_checkpoint(doc, bare), "mmaction2", "gta_fig3", "slowfast_r50",
                           trunk_only=True)


def test_nonlocal_settings_the_weights_cannot_show_must_match():
    conv = MANIFESTS["tsm_r50_shift8_nl_8f_k400"]["convert"][0]
    scaled = json.loads(json.dumps(conv))
    del scaled["overrides"]["model"]["insert"]["args"]  # nl3d's default: softmax scaled by 1/sqrt(C)
    ck = make_checkpoint(MANIFESTS["tsm_r50_shift8_nl_8f_k400"])
    with pytest.raises(CheckpointError, match=r"scaled: false, pool_input: false; .*layer2.0.* scaled: true"):
        convert_checkpoint(ck, "tsm", model=_meta_model(scaled))
    mm = make_checkpoint(MANIFESTS["mmaction2_tsm_r50_nl_8f_k400"])
    assert convert_checkpoint(mm, "mmaction2", model=_meta_model(conv))  # no config saved: not checked
    mm["meta"]["cfg"] = "model = dict(backbone=dict(non_local_cfg=dict(use_scale=True)))"
    with pytest.raises(CheckpointError, match="scaled: true"):
        convert_checkpoint(mm, "mmaction2", model=_meta_model(conv))


def test_mmaction2_slowfast_head_columns_follow_our_order():
    """mmaction2's SlowFastHead concatenates (fast, slow); ours (PySlowFast's) (slow, fast)."""
    from repro.models.slowfast import slowfast_resnet

    doc = MANIFESTS["mmaction2_slowfast_r50_8x8_k400"]
    ck = make_checkpoint(doc)
    w = torch.arange(400 * 2304, dtype=torch.float32).view(400, 2304)
    ck["state_dict"]["cls_head.fc_cls.weight"] = w
    with torch.device("meta"):
        model = slowfast_resnet(400, depth=50, alpha=4, beta_inv=8, fusion_kernel=7, fusion_ratio=2)
    fc = convert_checkpoint(ck, "mmaction2", model=model)["fc.weight"]
    assert torch.equal(fc[:, :2048], w[:, 256:]) and torch.equal(fc[:, 2048:], w[:, :256])


def test_caffe2_names_are_pyslowfast_names():
    """The Caffe2 table gives exactly the .pyth keys of the same network (SlowFast-R50, fusion 7)."""
    c2 = MANIFESTS["pyslowfast_c2_slowfast_8x8_r50_k400"]["keys"]
    pyth = MANIFESTS["pyslowfast_slowfast_16x8_r50"]["keys"]
    named = {caffe2_to_pyth(k) for k, _, _ in c2 if not re.search(r"_momentum$|^lr$|^model_iter$", k)}
    assert None not in named
    assert named == {k for k, _, _ in pyth if not k.endswith("num_batches_tracked")}


def test_read_checkpoint_files(tmp_path):
    blobs = {"blobs": {"pred_w": np.ones((3, 4), np.float32), "model_iter": np.array([5])}}
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(blobs, protocol=2))
    got = read_checkpoint(tmp_path / "m.pkl")
    assert got["blobs"]["pred_w"].shape == (3, 4)

    class Evil:  # a pickle that would run code when loaded
        def __reduce__(self):
            return (print, ("ran",))

    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"blobs": {"x": Evil()}}, protocol=2))
    with pytest.raises(CheckpointError, match=r"print is not an array.*trusted=True"):
        read_checkpoint(tmp_path / "evil.pkl")
    pyth = {"model_state": {"head.projection.weight": torch.ones(2, 3)}, "cfg": "x: 1"}
    torch.save(pyth, tmp_path / "m.pyth")
    assert guess_source(read_checkpoint(tmp_path / "m.pyth")) == "pyslowfast"
