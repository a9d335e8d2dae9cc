"""Builders: a resolved run config -> nn.Module, and ImageNet initialisation."""
from __future__ import annotations

import inspect
import os
from pathlib import Path

import torch
from torch import nn

from repro.errors import WeightsError
from repro.models.registry import get_module
from repro.models.resnet import STAGES, TSNResNet, tsn_resnet

IMAGENET_ENV = "REPRO_IMAGENET_WEIGHTS"


def build_from_config(cfg: dict, num_classes: int) -> TSNResNet:
    """The row's TSN ResNet with its video modules inserted (architecture only, no weights)."""
    m = cfg["model"]
    bb = m["backbone"]
    if bb.get("arch", "resnet") != "resnet":
        raise ValueError(f"backbone arch {bb['arch']!r} is not built yet; only resnet (TSN) is")
    model = tsn_resnet(num_classes, depth=bb.get("depth"), layers=bb["layers"],
                       width=bb.get("width", 64), num_frames=m.get("frames", 8),
                       dropout=m.get("dropout", 0.5))
    if bb.get("shift"):
        model.add_temporal_shift(bb.get("shift_div", 8))
    ins = m.get("insert") or {}
    if ins.get("module"):
        ctor = get_module(ins["module"])
        args = dict(ins.get("args") or {})
        # Modules with learned T x T maps (GTA) or temporal kernels need the clip length.
        if "num_frames" in inspect.signature(ctor).parameters:
            args.setdefault("num_frames", m.get("frames", 8))
        for stage, blocks in ins.get("stages", {}).items():
            for b in blocks:
                model.insert(stage, b, ins.get("position", "after_block"), lambda c: ctor(c, **args))
    return model


def build_model(table: str, row: str, profile: str = "paper", overrides: dict | None = None) -> nn.Module:
    """Public API: the ``nn.Module`` of one row of a paper table under a profile."""
    from repro.data.registry import num_classes
    from repro.spec.loader import load_spec, resolve

    cfg = resolve(load_spec(table), row, profile, overrides)
    return build_from_config(cfg, num_classes(cfg["data"]["dataset"]))


def load_imagenet(model: TSNResNet) -> list[str]:
    """Load ImageNet ResNet weights into the trunk; returns the keys left at their init.

    Source: the file named by $REPRO_IMAGENET_WEIGHTS, else torchvision's cached download.
    Only the trunk loads: ``fc`` (different classes) and inserted modules keep their init.
    """
    path = os.environ.get(IMAGENET_ENV)
    if path:
        if not Path(path).is_file():
            raise WeightsError(f"${IMAGENET_ENV}={path} does not exist; point it at a torchvision "
                               f"resnet50 state_dict (.pth).")
        state = torch.load(path, map_location="cpu", weights_only=True)
    else:
        try:
            from torchvision.models import ResNet50_Weights

            state = ResNet50_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
        except Exception as e:
            raise WeightsError(
                "ImageNet weights for ResNet-50 could not be downloaded "
                f"({type(e).__name__}). Download torchvision's resnet50-0676ba61.pth on a machine "
                f"with internet and set {IMAGENET_ENV}=/path/to/resnet50-0676ba61.pth, or run with "
                "--set model.backbone.pretrained=none to train from scratch.") from e
    own = model.state_dict()
    # fc has other classes. A block whose conv2 a video module replaced (RSA) keeps its own init
    # entirely, zeroed bn3 included, as the official RSA code does.
    fresh = tuple(f"{s}.{i}." for s in STAGES for i, blk in enumerate(getattr(model, s))
                  if not isinstance(blk.conv2, nn.Conv2d))
    state = {k: v for k, v in state.items()
             if not k.startswith("fc.") and k in own and not (fresh and k.startswith(fresh))}
    bad = [k for k, v in state.items() if v.shape != own[k].shape]
    if bad:
        raise WeightsError(f"ImageNet weights do not fit this backbone ({bad[0]}: "
                           f"{tuple(state[bad[0]].shape)} vs {tuple(own[bad[0]].shape)}); "
                           "they need depth 50 and width 64.")
    missing, _ = model.load_state_dict(state, strict=False)
    return missing
