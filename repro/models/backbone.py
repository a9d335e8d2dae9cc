"""The interface every backbone offers to the rest of the harness (TSN ResNet, SlowFast).

Specs place video modules by ``(stage, block index, position)``; :func:`repro.models.build.build_from_config`
needs nothing else from a backbone than what is written here, and a new backbone that offers it
can host every module of the registry.
"""
from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

from torch import nn

from repro.models.depths import STAGES  # noqa: F401 -- the stage names: layer1 .. layer4


@runtime_checkable
class Backbone(Protocol):
    """A video classifier ``(N, 3, T, H, W) -> (N, classes)`` with four stages of blocks."""

    num_frames: int  # frames per clip the model is built for (SlowFast: the Fast pathway's)

    def blocks(self, stage: str) -> Sequence[nn.Module]:
        """The blocks of ``stage`` (``layer1`` .. ``layer4``), in order; their count bounds the indices."""

    def insert(self, stage: str, index: int, position: str,
               factory: Callable[[int], nn.Module]) -> nn.Module:
        """Build ``factory(channels)`` and insert it into block ``index`` of ``stage``.

        ``position``: ``after_block`` (on the block output), ``in_block`` (after the first conv) or
        ``replace_conv2`` (instead of the 3x3 conv; TSN only). The module maps
        ``(N, C, T, H, W)`` to the same shape. Returns the module.
        """

    def set_num_frames(self, t: int) -> None:
        """Rebuild nothing, but tell every frame-aware part (and inserted module) the clip length."""
