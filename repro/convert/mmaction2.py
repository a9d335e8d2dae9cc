"""mmaction2 recognizer checkpoints (open-mmlab/mmaction2) -> our TSN ResNet or SlowFast.

The file is ``{'meta', 'state_dict', ...}``; keys carry the recognizer's ``backbone.`` and
``cls_head.`` (``cls_head.fc_cls`` is the classifier of the TSN, TSM and SlowFast heads). mmcv's
``ConvModule`` names a conv ``X.conv`` and its norm ``X.bn``.

- 2D ResNet (TSN ``ResNet``, TSM ``ResNetTSM``): ``conv1.conv/.bn`` -> ``conv1``/``bn1``;
  ``layerS.B.convK.conv/.bn`` -> ``layerS.B.convK``/``bnK``, with TSM's shift wrapping the conv
  (``conv1.conv.net``); ``downsample.conv/.bn`` -> ``downsample.0/.1``. TSM's non-local option
  wraps a block (``.block.``) and adds ``.non_local_block``: mmcv's ``NonLocal3d`` (g and phi with
  a max-pool when sub-sampled, ``conv_out`` a conv without bias + BN) -> our NonLocal under
  ``post.module``. mmcv's conv_out has no bias; ours has one, filled with zeros, which is exactly
  mmcv's function.
- SlowFast (``ResNet3dSlowFast``): ``slow_path``/``fast_path`` -> our Slow stages ``layer1..4`` and
  ``fast1..4``; ``conv1`` -> ``slow_stem``/``fast_stem``; ``conv1_lateral`` and ``layerS_lateral``
  -> ``lateral0`` and ``lateralS``; in blocks conv1/2/3 -> conv_a/b/c, downsample -> shortcut.
  Its head concatenates the pooled Fast features before the Slow ones; ours (PySlowFast's) puts
  Slow first, so the classifier's input columns are rotated.
  Only configs with ``lateral_norm=True`` have our (PySlowFast's) conv + BN + ReLU laterals; the
  default ones fuse with a bare conv, which our model cannot compute.
"""
from __future__ import annotations

import re

import torch

from repro.errors import CheckpointError
from repro.convert.match import Move, Target, as_tensor, rename

NAME = "mmaction2"
ARCHS = ("tsn", "slowfast")
# mmcv NonLocal3d pools g and phi after their convs; its scaling (use_scale, default True, False
# in mmaction2's TSM NL configs) is read from the config saved in the file's meta when there.
NONLOCAL = {"pool_input": False}
BLOCK = r"^(layer\d+\.\d+)\."
NL = BLOCK + r"post\.module\."
RULES_2D = [
    (r"^backbone\.", ""),
    (r"^cls_head\.fc_cls\.", "fc."),
    (r"^conv1\.conv\.", "conv1."),
    (r"^conv1\.bn\.", "bn1."),
    (BLOCK + r"block\.", r"\1."),  # TSM's non-local wrapper: the wrapped bottleneck
    (BLOCK + r"conv(\d)\.conv\.(net\.)?", r"\1.conv\2."),  # net: the shift wrapping conv1
    (BLOCK + r"conv(\d)\.bn\.", r"\1.bn\2."),
    (BLOCK + r"downsample\.conv\.", r"\1.downsample.0."),
    (BLOCK + r"downsample\.bn\.", r"\1.downsample.1."),
    (BLOCK + r"non_local_block\.(g|phi)\.0\.conv\.", r"\1.post.module.\2."),  # sub-sampled
    (BLOCK + r"non_local_block\.(g|phi|theta)\.conv\.", r"\1.post.module.\2."),
    (BLOCK + r"non_local_block\.conv_out\.conv\.", r"\1.post.module.out.conv."),
    (BLOCK + r"non_local_block\.conv_out\.bn\.", r"\1.post.module.out.bn."),
]
RULES_SLOWFAST = [
    (r"^backbone\.", ""),
    (r"^cls_head\.fc_cls\.", "fc."),
    (r"^slow_path\.conv1\.", "slow_stem."),
    (r"^fast_path\.conv1\.", "fast_stem."),
    (r"^slow_path\.conv1_lateral\.", "lateral0."),
    (r"^slow_path\.layer(\d)_lateral\.", r"lateral\1."),
    (r"^slow_path\.layer(\d)\.(\d+)\.", r"layer\1.\2."),
    (r"^fast_path\.layer(\d)\.(\d+)\.", r"fast\1.\2."),
    (r"\.conv1\.conv\.", ".conv_a."),
    (r"\.conv1\.bn\.", ".bn_a."),
    (r"\.conv2\.conv\.", ".conv_b."),
    (r"\.conv2\.bn\.", ".bn_b."),
    (r"\.conv3\.conv\.", ".conv_c."),
    (r"\.conv3\.bn\.", ".bn_c."),
    (r"\.downsample\.conv\.", ".shortcut.0."),
    (r"\.downsample\.bn\.", ".shortcut.1."),
]


def nonlocal_settings(meta) -> dict:
    """``{"scaled": use_scale}`` from the config text mmengine saves in ``meta['cfg']``, if any."""
    text = meta.get("cfg") if isinstance(meta, dict) else None
    m = re.search(r"use_scale\s*[=:]\s*(True|False|true|false)", text) if isinstance(text, str) else None
    return {"scaled": m.group(1).lower() == "true"} if m else {}


def claims(keys: list[str]) -> bool:
    return any(k.startswith("backbone.") for k in keys) and any(k.startswith("cls_head.") for k in keys)


def is_slowfast(keys: list[str]) -> bool:
    return any(k.startswith("backbone.slow_path.") for k in keys)


def shift(keys: list[str]) -> bool | None:
    return None if is_slowfast(keys) else any(".conv.net." in k for k in keys)


def arch(keys: list[str]) -> str:
    return "slowfast" if is_slowfast(keys) else "tsn"


def moves(state: dict, target: Target) -> list[Move]:
    keys = list(state)
    if is_slowfast(keys):
        lateral = [k for k in keys if "_lateral.conv." in k]
        if lateral and not any("_lateral.bn." in k for k in keys):
            raise CheckpointError(
                "mmaction2 SlowFast checkpoint fuses Fast into Slow with a bare conv "
                f"({lateral[0]}; lateral_norm=False, mmaction2's default); our SlowFast, as "
                "PySlowFast's, has conv + BN + ReLU there, so no conversion computes the same "
                "function. Checkpoints of configs with lateral_norm=True convert.")
        out = [Move(k, rename(k, RULES_SLOWFAST), as_tensor(v)) for k, v in state.items()]
        fast = max((m.tensor.shape[0] for m in out if re.match(r"fast4\.\d+\.conv_c\.", m.target)), default=0)
        for mv in out:
            if mv.target == "fc.weight" and mv.tensor.dim() == 2:
                # SlowFastHead: cat((fast, slow)); ours: cat((slow, fast)).
                mv.tensor = torch.cat([mv.tensor[:, fast:], mv.tensor[:, :fast]], dim=1)
        return out
    out = [Move(k, rename(k, RULES_2D), as_tensor(v)) for k, v in state.items()]
    if any(re.match(r"^backbone\.layer\d+\.\d+\.net\.", k) for k in keys):
        raise CheckpointError(
            "mmaction2 TSM checkpoint was trained with shift_place 'block' (the whole block input "
            "shifted, identity included); our TSM shifts the residual branch only ('blockres').")
    for mv in list(out):
        if mv.source.endswith("non_local_block.conv_out.conv.weight"):
            bias = mv.target[: -len("weight")] + "bias"
            if bias not in {m.target for m in out}:
                # mmcv's conv_out has no bias (a BN follows); zero is its exact equivalent.
                out.append(Move(f"(no {mv.source[:-len('weight')]}bias in mmcv: zeros)", bias,
                                torch.zeros(mv.tensor.shape[0], dtype=mv.tensor.dtype)))
    return out
