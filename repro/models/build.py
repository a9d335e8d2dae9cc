"""Builders: a resolved run config -> nn.Module, and ImageNet initialisation."""
from __future__ import annotations

import inspect
import os
from pathlib import Path

import torch
from torch import nn

from repro.errors import ModuleError, WeightsError
from repro.models.fc_init import fc_init
from repro.models.registry import get_module
from repro.models.resnet import STAGES, TSNResNet, set_drop_path, tsn_resnet
from repro.models.slowfast import SlowFastResNet, slowfast_resnet

IMAGENET_ENV = "REPRO_IMAGENET_WEIGHTS"


def build_from_config(cfg: dict, num_classes: int) -> nn.Module:
    """The row's backbone with its video modules inserted (architecture only, no weights).

    ``model.backbone.arch``: ``resnet`` (default; TSN over a 2D ResNet) or ``slowfast``.
    ``model.frames`` is always the number of frames the data pipeline feeds per clip: for
    SlowFast that is the Fast pathway's count (64 for "16x8"); the Slow pathway and every
    inserted module see ``ceil(frames / alpha)`` of them (16). SlowFast-only settings go under
    ``model.backbone.args`` (``alpha``, ``beta_inv``, ``fusion_kernel``, ``fusion_ratio``,
    ``temp_kernel_blocks``; see :func:`repro.models.slowfast.slowfast_resnet`).
    """
    m = cfg["model"]  # resolved (repro.config.loader.resolve): every key present
    bb = m["backbone"]
    arch = bb["arch"]
    frames = m["frames"]
    if arch == "resnet":
        model: nn.Module = tsn_resnet(num_classes, depth=bb.get("depth"), layers=bb["layers"],
                                      width=bb["width"], num_frames=frames, dropout=m["dropout"])
        if bb.get("shift"):
            model.add_temporal_shift(bb["shift_div"])
        module_frames = frames
    elif arch == "slowfast":
        model = _build_slowfast(bb, num_classes, frames, m["dropout"])
        if bb.get("shift"):
            raise ValueError("model.backbone.shift (TSM) is only defined for arch resnet")
        module_frames = model.slow_frames
    else:
        raise ValueError(f"unknown backbone arch {arch!r}; use resnet or slowfast")
    init_classifier(model, m["fc_init"])
    # The statistics its input is normalised with (data.mean/std): a property of the weights
    # (PySlowFast's were trained on 0.45 / 0.225), read by repro.engine.inputs.to_input.
    model.input_stats = (tuple(cfg["data"]["mean"]), tuple(cfg["data"]["std"]))
    if m["drop_path"]:
        set_drop_path(model, m["drop_path"])
    ins = m.get("insert") or {}
    if ins.get("module"):
        name = ins["module"]
        ctor = get_module(name)
        args = dict(ins.get("args") or {})
        # Modules with learned T x T maps (GTA) or temporal kernels need the clip length they
        # see: all frames for TSN, the Slow pathway's for SlowFast.
        if "num_frames" in inspect.signature(getattr(ctor, "builds", ctor)).parameters:
            args.setdefault("num_frames", module_frames)
        for stage, blocks in ins["stages"].items():
            for b in blocks:
                place = f"{stage}.{b} ({ins['position']})"
                mod = model.insert(stage, b, ins["position"],
                                   lambda c, place=place: _construct(name, ctor, c, args, place))
                if ":" in name:  # the user's own module: its errors must say whose they are
                    _guard_forward(mod, name, place)
    return model


def init_classifier(model: nn.Module, how: str) -> None:
    """``model.fc_init``: ``default`` leaves the builder's init (torch's Linear; PySlowFast's
    N(0, 0.01) for SlowFast), ``normal:<std>`` (TSM 0.001), ``xavier`` (RSA); biases 0."""
    kind, std = fc_init(how) or ("default", 0.0)
    if kind == "default":
        return
    fc = model.fc
    if kind == "normal":
        nn.init.normal_(fc.weight, 0.0, std)
    else:
        nn.init.xavier_uniform_(fc.weight)
    nn.init.zeros_(fc.bias)


def _construct(name: str, ctor, channels: int, args: dict, place: str) -> nn.Module:
    try:
        mod = ctor(channels, **args)
    except Exception as e:  # noqa: BLE001 -- any failure of a module's constructor is reported as its own
        raise ModuleError(f"video module {name} at {place}: {name}({channels}, **{args}) raised "
                          f"{type(e).__name__}: {e}") from e
    if not isinstance(mod, nn.Module):
        raise ModuleError(f"video module {name} at {place}: {name}({channels}, **{args}) returned "
                          f"{type(mod).__name__}, not a torch.nn.Module")
    return mod


def _guard_forward(mod: nn.Module, name: str, place: str) -> None:
    """Make ``mod``'s forward name the module and place when it raises or changes the shape.

    Replaces the instance's ``forward`` (not a wrapper module), so parameter names stay as they are.
    """
    inner = mod.forward

    def forward(x, *a, **kw):
        try:
            y = inner(x, *a, **kw)
        except ModuleError:
            raise
        except Exception as e:  # noqa: BLE001
            raise ModuleError(f"video module {name} at {place} raised {type(e).__name__} on an input of "
                              f"shape {tuple(x.shape)}: {e}") from e
        if not isinstance(y, torch.Tensor) or y.shape != x.shape:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ModuleError(f"video module {name} at {place} returned {got} for an input of shape "
                              f"{tuple(x.shape)}; a video module must return (N, C, T, H, W) unchanged")
        return y

    mod.forward = forward


def _build_slowfast(bb: dict, num_classes: int, frames: int, dropout: float) -> nn.Module:
    """SlowFast from ``model.backbone`` (depth or layers, width, args); unknown args are an error."""
    args = dict(bb.get("args") or {})
    known = set(inspect.signature(SlowFastResNet.__init__).parameters) - {
        "self", "num_classes", "layers", "width", "num_frames", "dropout"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise ValueError(f"model.backbone.args: unknown SlowFast setting(s) {unknown} "
                         f"(known: {', '.join(sorted(known))})")
    return slowfast_resnet(num_classes, depth=bb.get("depth"), layers=bb.get("layers"),
                           width=bb["width"], num_frames=frames, dropout=dropout, **args)


def load_imagenet(model: TSNResNet) -> list[str]:
    """Load ImageNet ResNet weights into the trunk; returns the keys left at their init.

    Source: the file named by $REPRO_IMAGENET_WEIGHTS, else torchvision's cached download.
    Only the trunk loads: ``fc`` (different classes) and inserted modules keep their init.
    """
    if not isinstance(model, TSNResNet):
        # SlowFast's 3D kernels and lateral channels do not match a 2D ImageNet ResNet; the
        # papers start it from a Kinetics-trained SlowFast, which this harness does not load.
        raise WeightsError(f"ImageNet initialisation is defined for the TSN ResNet only, not "
                           f"{type(model).__name__}; set model.backbone.pretrained: none.")
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
