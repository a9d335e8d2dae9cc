"""Checkpoint converters: a published checkpoint -> the state dict of a row's model.

Sources, one module each: ``tsm`` (mit-han-lab/temporal-shift-module), ``rsa`` (KimManjin/RSA),
``pyslowfast`` (facebookresearch/SlowFast, ``.pyth`` and Caffe2 ``.pkl``), ``mmaction2``
(open-mmlab/mmaction2 recognizers) and ``torchvision`` (ImageNet ResNets). Each renames and
reshapes the publisher's keys into ours; :func:`repro.convert.match.fill` then checks the result
both ways and lists, in one :class:`CheckpointError`, whatever does not fit. The key layouts were
taken from the official code (tests/fixtures/checkpoints/*.json record them, with the commit).
"""
from __future__ import annotations

import pickle
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import nn

from repro.config.loader import load_spec, resolve
from repro.convert import mmaction2, pyslowfast, rsa, torchvision, tsm
from repro.convert.match import Target, fill, strip_prefix
from repro.data.registry import num_classes
from repro.errors import CheckpointError
from repro.models.build import build_from_config
from repro.models.nonlocal_block import NonLocal
from repro.models.resnet import Bottleneck, TSNResNet
from repro.models.slowfast import Bottleneck3D, SlowFastResNet

SOURCES = {m.NAME: m for m in (tsm, rsa, pyslowfast, mmaction2, torchvision)}
# Most specific layout first: RSA's keys are TSM's plus RSA modules, and torchvision's bare
# names are what every other layout would be without its prefixes.
GUESS_ORDER = ("pyslowfast", "mmaction2", "rsa", "tsm", "torchvision")
# Where each publisher keeps the weights in the file: TSM, RSA, mmaction2 'state_dict';
# PySlowFast 'model_state'; Caffe2 'blobs'; 'model' for others that wrap a bare state dict.
CONTAINERS = ("state_dict", "model_state", "blobs", "model")
CLASSIFIER = ("fc.weight", "fc.bias")


def convert_checkpoint(checkpoint, source: str | None = None, table: str | None = None,
                       row: str | None = None, profile: str = "paper", *, model: nn.Module | None = None,
                       trunk_only: bool = False,
                       say: Callable[[str], None] | None = None) -> "OrderedDict[str, torch.Tensor]":
    """A state dict that ``repro.build_model(table, row, profile)`` loads with ``strict=True``.

    ``checkpoint``: the object read from the publisher's file (see :func:`read_checkpoint`) or
    the state dict inside it; wrappers (``state_dict``, ``model_state``, ``blobs``, ``model``)
    and DataParallel's ``module.`` prefix are removed. ``source``: one of :data:`SOURCES`; when
    None it is guessed from the keys and the guess is said (``say``, default stderr).
    ``model``: the row's model if the caller has it (else it is built on the meta device).

    Strict both ways: every checkpoint tensor placed, every parameter and buffer of ours filled,
    shapes equal; BN's ``num_batches_tracked``, which Caffe2 files lack, starts at 0. A classifier
    with another class count than the row's dataset is an error naming both counts.
    ``trunk_only=True`` (initialising a row, e.g. from Kinetics or ImageNet weights): the
    checkpoint's classifier is dropped, and the result holds no ``fc.*`` nor the keys of the
    row's inserted video modules, which keep their init; load it with ``strict=False`` and
    expect exactly those keys missing. Everything else stays strict.
    """
    if model is None:
        if table is None or row is None:
            raise TypeError("convert_checkpoint needs the row (table and row) or its model")
        model, dataset = _build(table, row, profile)
    else:
        dataset = ""
    name = f"{table}/{row}" if table and row else type(model).__name__
    target = describe(model, name, dataset)
    state, prefix = _unwrap(checkpoint)
    keys = list(state)
    if source is None:
        source = guess_source(state)
        (say or _stderr)(f"checkpoint source not given: guessed {source!r} from its keys (e.g. "
                         f"{_example(keys, source, prefix)}); pass source= to choose another")
    if source not in SOURCES:
        raise CheckpointError(f"unknown checkpoint source {source!r}; use one of {', '.join(SOURCES)}")
    mod = SOURCES[source]
    _check_arch(mod, keys, target, source)
    kwargs = {}
    if source == "pyslowfast" and isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("cfg"), str):
        kwargs["cfg"] = checkpoint["cfg"]
    moves = mod.moves(state, target, **kwargs)
    for mv in moves:  # errors name the keys as they are in the file
        if not mv.source.startswith("("):
            mv.source = prefix + mv.source
    _check_nonlocal(mod, moves, target, source, checkpoint)
    head = {mv.target: mv for mv in moves if mv.target in CLASSIFIER}
    if "fc.weight" in head and not trunk_only:
        rows = head["fc.weight"].tensor.shape[0]
        if rows != target.classes:
            raise CheckpointError(
                f"{source} checkpoint has {rows} classes ({head['fc.weight'].source} "
                f"{tuple(head['fc.weight'].tensor.shape)}), {target.name} has {target.classes}"
                f"{f' ({dataset})' if dataset else ''}: evaluate it on a {rows}-class dataset, or "
                "pass trunk_only=True to start the row from its backbone with a fresh classifier.")
    if trunk_only:
        moves = [mv for mv in moves if mv.target not in CLASSIFIER]
    exempt = (lambda k: k in CLASSIFIER or target.is_inserted(k)) if trunk_only else (lambda k: False)
    hint = ("Check source= and the row (a checkpoint converts only to a row with the same backbone, "
            "frames aside, and the same inserted modules at the same places)"
            + ("" if trunk_only else "; trunk_only=True leaves the classifier and inserted modules "
               "at their init") + ".")
    return fill(moves, target, what=f"{source} checkpoint -> {target.name}", exempt=exempt, hint=hint)


def guess_source(checkpoint) -> str:
    """The source whose key layout ``checkpoint`` (a file object or state dict) has."""
    keys = list(unwrap(checkpoint))
    for name in GUESS_ORDER:
        if SOURCES[name].claims(keys):
            return name
    raise CheckpointError(f"cannot tell the source of a checkpoint with keys like "
                          f"{', '.join(keys[:3])}; pass source= (one of {', '.join(SOURCES)}).")


def unwrap(checkpoint) -> dict:
    """The flat ``{name: tensor or ndarray}`` inside a checkpoint object, ``module.`` stripped."""
    return _unwrap(checkpoint)[0]


def _unwrap(checkpoint) -> tuple[dict, str]:
    obj = checkpoint
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    while isinstance(obj, Mapping) and not _is_flat(obj):
        inner = next((obj[c] for c in CONTAINERS if isinstance(obj.get(c), Mapping)), None)
        if inner is None:
            raise CheckpointError(
                f"no state dict in a checkpoint with top-level keys {sorted(map(str, obj))[:8]}; "
                f"expected tensors, or one of {', '.join(CONTAINERS)} holding them.")
        obj = inner
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"a checkpoint must be a mapping of tensors, got {type(obj).__name__}")
    state = strip_prefix(obj, "module.")
    return state, ("module." if state.keys() != obj.keys() else "")


def read_checkpoint(path: str | Path, trusted: bool = False):
    """The object in a checkpoint file: ``torch.load`` for ``.pth``/``.pyth``/``.tar``, pickle
    for Caffe2 ``.pkl``. Untrusted files are read without running code from them (tensors,
    arrays and plain containers only); ``trusted=True`` reads any object (mmaction2 files with a
    ``message_hub`` need it)."""
    path = Path(path)
    try:
        if path.suffix == ".pkl":
            with open(path, "rb") as f:
                return pickle.load(f, encoding="latin1") if trusted else _ArrayUnpickler(f).load()
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path} holds objects other than tensors and plain containers "
                              f"({str(e).splitlines()[0]}); if you trust the file, read it with "
                              "trusted=True.") from e
    except (RuntimeError, EOFError, OSError, ValueError) as e:  # truncated, not a checkpoint at all
        raise CheckpointError(_unreadable(path, e)) from e


def _unreadable(path: Path, e: Exception) -> str:
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return (f"{path} is not a readable checkpoint ({type(e).__name__}: {first[:160]}); expected a complete "
            "torch .pth/.pth.tar/.pyth file or a Caffe2 .pkl: download it again")


def describe(model: nn.Module, name: str = "the model", dataset: str = "") -> Target:
    """The facts of ``model`` a converter checks against (keys and shapes, arch, classes, shift)."""
    if isinstance(model, SlowFastResNet):
        arch = "slowfast"
    elif isinstance(model, TSNResNet):
        arch = "tsn"
    else:
        raise CheckpointError(f"checkpoints convert to TSN ResNet and SlowFast rows; {name} is a "
                              f"{type(model).__name__}")
    inserted = []
    for mname, m in model.named_modules():
        if isinstance(m, (Bottleneck, Bottleneck3D)):
            inserted += [f"{mname}.{hook}." for hook in ("mid", "post") if getattr(m, hook) is not None]
            if isinstance(m, Bottleneck) and not isinstance(m.conv2, nn.Conv2d):
                inserted.append(f"{mname}.conv2.")  # RSA in place of conv2
    shift = any(isinstance(m, Bottleneck) and m.shift is not None for m in model.modules())
    nl = tuple((f"{n}.", m.scaled, m.pool_input) for n, m in model.named_modules() if isinstance(m, NonLocal))
    shapes = {k: (v.shape, v.dtype) for k, v in model.state_dict().items()}
    return Target(name=name, arch=arch, shapes=shapes, classes=model.fc.out_features, dataset=dataset,
                  shift=shift, alpha=getattr(model, "alpha", None), inserted=tuple(inserted),
                  nonlocal_blocks=nl,
                  nonlocal_instantiations=tuple(sorted({getattr(m, "instantiation", "softmax")
                                                        for m in model.modules() if isinstance(m, NonLocal)})))


def _build(table: str, row: str, profile: str) -> tuple[nn.Module, str]:
    """The row's model on the meta device (keys and shapes only, no memory) and its dataset."""
    cfg = resolve(load_spec(table), row, profile, None)
    dataset = cfg["data"]["dataset"]
    with torch.device("meta"):
        model = build_from_config(cfg, num_classes(dataset))
    return model, dataset


def _check_arch(mod, keys: list[str], target: Target, source: str) -> None:
    arch = mod.arch(keys) if hasattr(mod, "arch") else mod.ARCHS[0]
    kinds = {"tsn": "a 2D ResNet (TSN/TSM)", "slowfast": "a SlowFast"}
    if arch != target.arch:
        raise CheckpointError(f"{source} checkpoint holds {kinds[arch]}, {target.name} is "
                              f"{kinds[target.arch]}: convert it to a row with {kinds[arch]}.")
    shift = mod.shift(keys)
    if target.arch == "tsn" and shift is not None and shift != target.shift:
        has = "has TSM's temporal shift" if shift else "has no temporal shift"
        row = "shifts" if target.shift else "does not shift"
        raise CheckpointError(f"{source} checkpoint {has} in its blocks, {target.name} {row}: the "
                              "weights would fit but compute another function; choose a row that "
                              f"{'shifts' if shift else 'does not shift'}.")


def _check_nonlocal(mod, moves: list, target: Target, source: str, checkpoint) -> None:
    """A publisher's NL softmax scaling and pooling order are not in its weights: compare the
    source's (``NONLOCAL`` of its module) with the row's NL settings where the weights go."""
    kind = dict(getattr(mod, "NONLOCAL", {}))
    if source == "mmaction2" and isinstance(checkpoint, Mapping):
        kind.update(mmaction2.nonlocal_settings(checkpoint.get("meta")))
    filled = {mv.target for mv in moves if mv.target}
    for prefix, scaled, pool_input in target.nonlocal_blocks:
        if not any(k.startswith(prefix) for k in filled):
            continue
        ours = {"scaled": scaled, "pool_input": pool_input}
        bad = {k: v for k, v in kind.items() if ours[k] != v}
        if bad:
            want = ", ".join(f"{k}: {str(v).lower()}" for k, v in kind.items())
            raise CheckpointError(
                f"{source} checkpoint's non-local blocks compute with {want}; {target.name}'s NL at "
                f"{prefix.rstrip('.')} has {', '.join(f'{k}: {str(ours[k]).lower()}' for k in bad)}. "
                f"Set model.insert.args to {{{want}}} for the weights to mean the same.")


def _is_flat(obj: Mapping) -> bool:
    return bool(obj) and all(hasattr(v, "shape") and hasattr(v, "dtype") for v in obj.values())


# A key fragment that shows each layout, for the "guessed" line.
_MARKS = {"tsm": ".conv1.net.", "rsa": ".conv2.projection.", "pyslowfast": "pathway0",
          "mmaction2": "backbone.", "torchvision": "layer1.0.conv1."}


def _example(keys: list[str], source: str, prefix: str) -> str:
    return repr(prefix + next((k for k in keys if _MARKS[source] in k or k.startswith("res_conv1")), keys[0]))


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers only (a Caffe2 .pkl), never other code."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict"),
               ("_codecs", "encode")}  # protocol-2 pickles store an array's bytes as text + encode

    def __init__(self, f):
        super().__init__(f, encoding="latin1")

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not an array")
