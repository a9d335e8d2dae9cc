"""Strict placement of a publisher's tensors into one of our models, shared by every source.

A source module turns each checkpoint key into one of our keys (a :class:`Move`); :func:`fill`
then checks the result both ways (every checkpoint tensor placed, every parameter and buffer of
ours filled, shapes equal) and raises one :class:`CheckpointError` that lists whatever does not
fit, with shapes, instead of letting ``load_state_dict`` fail on the first key.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import numpy as np
import torch

from repro.errors import CheckpointError

SHOWN = 12  # entries listed per kind of mismatch; the rest are counted


@dataclass
class Move:
    """One checkpoint tensor and the key of ours it goes to (``None``: no rule knows the name)."""

    source: str
    target: str | None
    tensor: torch.Tensor


@dataclass
class Target:
    """What a converter needs to know of the model it fills (built on the meta device).

    ``shapes``: our state-dict keys (parameters and persistent buffers) -> (shape, dtype).
    ``inserted``: key prefixes of video modules inserted into the backbone (``layer2.1.post.``,
    an RSA ``conv2``), which ``trunk_only`` leaves at their init like the classifier.
    """

    name: str
    arch: str  # "tsn" (2D ResNet, TSN/TSM) or "slowfast"
    shapes: dict[str, tuple[torch.Size, torch.dtype]]
    classes: int
    dataset: str = ""
    shift: bool = False  # TSM's residual shift in the blocks
    alpha: int | None = None  # SlowFast's frame-rate ratio
    inserted: tuple[str, ...] = field(default_factory=tuple)
    # (key prefix, scaled, pool_input) of each NonLocal: settings that weights cannot show
    nonlocal_blocks: tuple[tuple[str, bool, bool], ...] = field(default_factory=tuple)
    nonlocal_instantiations: tuple[str, ...] = ()  # softmax / dot_product of the row's NL blocks

    def is_inserted(self, key: str) -> bool:
        return key.startswith(self.inserted) if self.inserted else False


def as_tensor(value) -> torch.Tensor:
    """A checkpoint value as a tensor: Caffe2 files hold numpy arrays."""
    if isinstance(value, torch.Tensor):
        return value

    return torch.from_numpy(np.ascontiguousarray(value))


def fit_unit_dims(t: torch.Tensor, shape: torch.Size | None) -> torch.Tensor:
    """``t`` reshaped to ``shape`` when the two differ only by dimensions of size 1.

    A 1x1x1 Conv3d, a Conv1d with kernel 1 and a Linear hold the same numbers in the same order
    (RSA keeps 2D convs as ``(out, in, 1, k, k)`` Conv3d and its classifier as a Conv1d); any
    other difference is left for :func:`fill` to report.
    """
    if shape is None or t.shape == shape:
        return t
    if [d for d in t.shape if d != 1] == [d for d in shape if d != 1]:
        return t.reshape(shape)
    return t


def rename(key: str, rules: Iterable[tuple[str, str | Callable[[re.Match], str]]]) -> str:
    """Apply every ``(pattern, replacement)`` rule in order (``re.sub``, first match of each)."""
    for pattern, repl in rules:
        key = re.sub(pattern, repl, key, count=1)
    return key


def _shape(t) -> str:
    return "(" + ", ".join(str(d) for d in tuple(t)) + ")"


def _listing(label: str, items: list[str]) -> str:
    more = f", ... and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return f"\n  {label} ({len(items)}): " + "; ".join(items[:SHOWN]) + more


def fill(moves: list[Move], target: Target, *, what: str, exempt: Callable[[str], bool] = lambda k: False,
         hint: str = "") -> "OrderedDict[str, torch.Tensor]":
    """Our state dict from ``moves``, in our key order; raises one CheckpointError listing every
    checkpoint tensor left over, every key of ours not filled and every shape that differs.

    ``exempt(key)``: keys of ours that may stay unfilled (``trunk_only``). Floating tensors are
    cast to our dtype (a half-precision file fills a float32 model).
    """
    out: dict[str, torch.Tensor] = {}
    left: list[str] = []
    bad_shape: list[str] = []
    twice: list[str] = []
    by_target: dict[str, str] = {}
    for mv in moves:
        t = mv.tensor
        if mv.target is None or mv.target not in target.shapes:
            where = "" if mv.target is None else f" -> {mv.target}, which {target.name} does not have"
            left.append(f"{mv.source} {_shape(t.shape)}{where}")
            continue
        if mv.target in by_target:
            twice.append(f"{mv.source} and {by_target[mv.target]} -> {mv.target}")
            continue
        by_target[mv.target] = mv.source
        shape, dtype = target.shapes[mv.target]
        if t.shape != shape:
            bad_shape.append(f"{mv.source} {_shape(t.shape)} -> {mv.target} {_shape(shape)}")
            continue
        if t.is_floating_point() and dtype.is_floating_point:
            t = t.to(dtype)
        out[mv.target] = t
    missing: list[str] = []
    for key, (shape, dtype) in target.shapes.items():
        if key in out or key in by_target or exempt(key):
            continue
        if key.endswith("num_batches_tracked"):
            # BN's count of training batches: used only with momentum=None (a cumulative
            # average), never in evaluation. Caffe2 files and some publishers do not save it.
            out[key] = torch.zeros((), dtype=torch.long)
            continue
        missing.append(f"{key} {_shape(shape)}")
    if left or missing or bad_shape or twice:
        counts = [f"{len(left)} checkpoint tensor(s) not placed" if left else "",
                  f"{len(missing)} of ours not filled" if missing else "",
                  f"{len(bad_shape)} shape mismatch(es)" if bad_shape else "",
                  f"{len(twice)} filled twice" if twice else ""]
        msg = f"{what} does not fit: " + ", ".join(c for c in counts if c) + "."
        if left:
            msg += _listing("not placed", left)
        if missing:
            msg += _listing(f"not filled in {target.name}", missing)
        if bad_shape:
            msg += _listing("shape differs", bad_shape)
        if twice:
            msg += _listing("filled twice", twice)
        raise CheckpointError(msg + (f"\n  {hint}" if hint else ""))
    return OrderedDict((k, out[k]) for k in target.shapes if k in out)


def strip_prefix(state: Mapping[str, object], prefix: str) -> dict[str, object]:
    """``state`` without ``prefix`` when every key has it (DataParallel's ``module.``)."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return dict(state)
