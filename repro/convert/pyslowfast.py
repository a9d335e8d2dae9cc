"""PySlowFast checkpoints (facebookresearch/SlowFast), ``.pyth`` and Caffe2 ``.pkl`` -> our SlowFast.

``.pyth``: ``torch.save({'epoch', 'model_state', 'optimizer_state', 'cfg'})``, keys without a
prefix (``slowfast/utils/checkpoint.py``). Its names -> ours (``repro.models.slowfast``):

- ``s1.pathway0_stem`` / ``s1.pathway1_stem`` -> ``slow_stem`` / ``fast_stem``;
- ``s{i}_fuse.conv_f2s`` / ``.bn`` -> ``lateral{i-1}.conv`` / ``.bn`` (fusion after stem and res2-4);
- ``s{i}.pathway0_res{b}`` / ``pathway1_res{b}`` -> ``layer{i-1}.{b}`` / ``fast{i-1}.{b}``
  (PySlowFast's s2..s5 are res2..res5, our layer1..layer4), with ``branch1`` / ``branch1_bn`` ->
  ``shortcut.0`` / ``shortcut.1`` and ``branch2.{a,b,c}`` / ``branch2.{a,b,c}_bn`` ->
  ``conv_{a,b,c}`` / ``bn_{a,b,c}``;
- ``s{i}.pathway0_nonlocal{b}`` (the NL after Slow block b) -> ``layer{i-1}.{b}.post`` with
  ``conv_theta/phi/g`` -> ``theta/phi/g``, ``conv_out`` -> ``out.conv``, ``bn`` -> ``out.bn``;
- ``head.projection`` -> ``fc``.

Caffe2 ``.pkl`` (the Kinetics model zoo): a pickle of ``{'blobs': {name: ndarray}}`` with Caffe2
names, which PySlowFast renames with ``slowfast/utils/c2_model_loading.py``. The same renaming is
written below as one table (:data:`C2_RULES`): ``t_`` marks the Fast pathway, ``res{s}_{b}_branch..``
a bottleneck, ``t_pool1_subsample`` and ``t_res{s}_{b}_branch2c_bn_subsample`` the fusions after
the stem and after stage s, ``nonlocal_conv{s}_{b}_..`` an NL, ``pred`` the classifier; BN blobs
end in ``_s`` (scale), ``_b``, ``_rm`` (running mean), ``_riv`` (running variance, loaded as
PySlowFast loads it). Blobs named ``*_momentum``, ``lr`` and ``model_iter`` are optimizer state
and counters, which PySlowFast's loader skips too.
"""
from __future__ import annotations

import re

import yaml

from repro.convert.match import Move, Target, as_tensor, fit_unit_dims, rename
from repro.errors import CheckpointError

NAME = "pyslowfast"
# The input statistics PySlowFast's weights were trained with: RGB frames in [0, 1] normalised
# by 0.45 / 0.225 on every channel (slowfast/config/defaults.py:687,693 at 287ec00, DATA.MEAN and
# DATA.STD; SSv2's BGR decode is reversed to RGB by REVERSE_INPUT_CHANNEL, datasets/utils.py:89).
INPUT_STATS = ((0.45, 0.45, 0.45), (0.225, 0.225, 0.225))
ARCHS = ("slowfast",)
# nonlocal_helper.py, softmax instantiation: logits scaled by dim_inner^-0.5, input max-pooled
# before phi and g.
NONLOCAL = {"scaled": True, "pool_input": True}

_BN = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_WB = {"w": "weight", "b": "bias"}


def _path(m: re.Match) -> str:
    return "1" if m.group("fast") else "0"


# (pattern, builder of the .pyth name); patterns are exclusive, the first match wins.
C2_RULES: list[tuple[str, object]] = [
    (r"^(?P<fast>t_)?conv1_w$", lambda m: f"s1.pathway{_path(m)}_stem.conv.weight"),
    (r"^(?P<fast>t_)?res_conv1_bn_(?P<p>s|b|rm|riv)$",
     lambda m: f"s1.pathway{_path(m)}_stem.bn.{_BN[m['p']]}"),
    (r"^t_pool1_subsample_w$", lambda m: "s1_fuse.conv_f2s.weight"),
    (r"^t_pool1_subsample_bn_(?P<p>s|b|rm|riv)$", lambda m: f"s1_fuse.bn.{_BN[m['p']]}"),
    (r"^t_res(?P<s>\d+)_\d+_branch2c_bn_subsample_w$", lambda m: f"s{m['s']}_fuse.conv_f2s.weight"),
    (r"^t_res(?P<s>\d+)_\d+_branch2c_bn_subsample_bn_(?P<p>s|b|rm|riv)$",
     lambda m: f"s{m['s']}_fuse.bn.{_BN[m['p']]}"),
    (r"^(?P<fast>t_)?res(?P<s>\d+)_(?P<b>\d+)_branch1_w$",
     lambda m: f"s{m['s']}.pathway{_path(m)}_res{m['b']}.branch1.weight"),
    (r"^(?P<fast>t_)?res(?P<s>\d+)_(?P<b>\d+)_branch1_bn_(?P<p>s|b|rm|riv)$",
     lambda m: f"s{m['s']}.pathway{_path(m)}_res{m['b']}.branch1_bn.{_BN[m['p']]}"),
    (r"^(?P<fast>t_)?res(?P<s>\d+)_(?P<b>\d+)_branch2(?P<c>[abc])_w$",
     lambda m: f"s{m['s']}.pathway{_path(m)}_res{m['b']}.branch2.{m['c']}.weight"),
    (r"^(?P<fast>t_)?res(?P<s>\d+)_(?P<b>\d+)_branch2(?P<c>[abc])_bn_(?P<p>s|b|rm|riv)$",
     lambda m: f"s{m['s']}.pathway{_path(m)}_res{m['b']}.branch2.{m['c']}_bn.{_BN[m['p']]}"),
    (r"^nonlocal_conv(?P<s>\d+)_(?P<b>\d+)_(?P<c>theta|phi|g|out)_(?P<p>w|b)$",
     lambda m: f"s{m['s']}.pathway0_nonlocal{m['b']}.conv_{m['c']}.{_WB[m['p']]}"),
    (r"^nonlocal_conv(?P<s>\d+)_(?P<b>\d+)_bn_(?P<p>s|b|rm|riv)$",
     lambda m: f"s{m['s']}.pathway0_nonlocal{m['b']}.bn.{_BN[m['p']]}"),
    (r"^pred_(?P<p>w|b)$", lambda m: f"head.projection.{_WB[m['p']]}"),
]
C2_SKIP = re.compile(r"(_momentum|^lr|^model_iter)$")

_STAGE = lambda m: int(m.group(1)) - 1  # noqa: E731 -- PySlowFast's s2..s5 are our layer1..layer4
PYTH_RULES = [
    (r"^s1\.pathway0_stem\.", "slow_stem."),
    (r"^s1\.pathway1_stem\.", "fast_stem."),
    (r"^s(\d)_fuse\.conv_f2s\.", lambda m: f"lateral{_STAGE(m)}.conv."),
    (r"^s(\d)_fuse\.bn\.", lambda m: f"lateral{_STAGE(m)}.bn."),
    (r"^s(\d)\.pathway0_res(\d+)\.", lambda m: f"layer{_STAGE(m)}.{m.group(2)}."),
    (r"^s(\d)\.pathway1_res(\d+)\.", lambda m: f"fast{_STAGE(m)}.{m.group(2)}."),
    (r"^s(\d)\.pathway0_nonlocal(\d+)\.", lambda m: f"layer{_STAGE(m)}.{m.group(2)}.post."),
    (r"\.branch1\.", ".shortcut.0."),
    (r"\.branch1_bn\.", ".shortcut.1."),
    (r"\.branch2\.([abc])\.", r".conv_\1."),
    (r"\.branch2\.([abc])_bn\.", r".bn_\1."),
    (r"\.post\.conv_(theta|phi|g)\.", r".post.\1."),
    (r"\.post\.conv_out\.", ".post.out.conv."),
    (r"\.post\.bn\.", ".post.out.bn."),
    (r"^head\.projection\.", "fc."),
]


def is_caffe2(keys: list[str]) -> bool:
    return "pred_w" in keys or "conv1_w" in keys or any(k.startswith("res_conv1_bn_") for k in keys)


def claims(keys: list[str]) -> bool:
    return is_caffe2(keys) or any(k.startswith(("s1.pathway0_stem.", "head.projection.")) for k in keys)


def shift(keys: list[str]) -> bool:
    return False


def caffe2_to_pyth(name: str) -> str | None:
    """PySlowFast's name of a Caffe2 blob; None for a name no rule knows."""
    for pattern, build in C2_RULES:
        m = re.match(pattern, name)
        if m:
            return build(m)
    return None


def moves(state: dict, target: Target, cfg: str | None = None) -> list[Move]:
    """``cfg``: the ``.pyth``'s own config dump, checked against what our model computes."""
    keys = list(state)
    caffe2 = is_caffe2(keys)
    if cfg and any("nonlocal" in k for k in keys):
        _check_nonlocal(cfg, target)
    if cfg and target.alpha is not None:
        alpha = _cfg_value(cfg, "SLOWFAST", "ALPHA")
        if alpha is not None and int(alpha) != target.alpha:
            raise CheckpointError(f"PySlowFast checkpoint has SLOWFAST.ALPHA {alpha}, {target.name} "
                                  f"has alpha {target.alpha}: the laterals would fuse other frames.")
    out = []
    for k, v in state.items():
        if caffe2:
            if C2_SKIP.search(k):
                continue  # optimizer momentum, learning rate, iteration: not weights
            pyth = caffe2_to_pyth(k)
            ours = rename(pyth, PYTH_RULES) if pyth else None
        else:
            ours = rename(k, PYTH_RULES)
        t = as_tensor(v)
        if caffe2:  # PySlowFast's loader also pads Caffe2 blobs with unit dims to fit
            t = fit_unit_dims(t, target.shapes.get(ours, (None,))[0])
        out.append(Move(k, ours, t))
    return out


def _cfg_value(cfg: str, section: str, key: str):
    try:
        return (yaml.safe_load(cfg) or {}).get(section, {}).get(key)
    except (yaml.YAMLError, AttributeError):
        return None


def _check_nonlocal(cfg: str, target: Target) -> None:
    """The file's NONLOCAL.INSTANTIATION must be the row's NL ``instantiation``: the weights do
    not say whether the affinity goes through a softmax or is divided by the positions."""
    how = _cfg_value(cfg, "NONLOCAL", "INSTANTIATION")
    ours = set(target.nonlocal_instantiations) or {"softmax"}
    if how is not None and ours != {how}:  # a dump that does not say cannot be checked
        raise CheckpointError(
            f"PySlowFast checkpoint's non-local blocks use NONLOCAL.INSTANTIATION {how!r}; "
            f"{target.name}'s NL blocks use {', '.join(sorted(ours))}, so the converted model would "
            f"compute another function. Set model.insert.args.instantiation: {how} on the row.")
