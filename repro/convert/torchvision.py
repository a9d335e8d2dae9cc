"""torchvision ResNet state dicts (and this harness's own TSN layout) -> our TSN ResNet.

Our TSN ResNet keeps torchvision's names (``repro.models.resnet``), so keys map to themselves.
An ImageNet file has a 1000-class ``fc``: it fits a row only with ``trunk_only=True``, which
drops that classifier and leaves the row's own ``fc`` and inserted modules at their init.
"""
from __future__ import annotations

from repro.convert.match import Move, Target, as_tensor

NAME = "torchvision"
ARCHS = ("tsn",)


def claims(keys: list[str]) -> bool:
    return "conv1.weight" in keys and "layer1.0.conv1.weight" in keys


def shift(keys: list[str]) -> bool | None:
    return None  # the shift has no weights: a file of this layout cannot say


def moves(state: dict, target: Target) -> list[Move]:
    return [Move(k, k, as_tensor(v)) for k, v in state.items()]
