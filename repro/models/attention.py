"""Attention helpers shared by the video modules: layout changes and a zero-initialised output."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scaled: bool = True) -> torch.Tensor:
    """Softmax attention over token sets: q ``(B, L, D)``, k ``(B, S, D)``, v ``(B, S, E)`` -> ``(B, L, E)``.

    ``scaled`` divides logits by sqrt(D) (original NL default); ``False`` is TSM/mmaction2's variant.
    """
    return F.scaled_dot_product_attention(q, k, v, scale=None if scaled else 1.0)


def to_tokens(x: torch.Tensor, scope: str) -> torch.Tensor:
    """``(N, C, T, H, W)`` -> tokens ``(B, L, C)`` for one attention scope.

    ``3d``: one set of T*H*W tokens per clip; ``2d``: H*W tokens per frame (B = N*T);
    ``1d``: T tokens per pixel (B = N*H*W); ``frame``: T tokens of size C*H*W per clip.
    """
    n, c, t, h, w = x.shape
    if scope == "3d":
        return x.flatten(2).transpose(1, 2)
    if scope == "2d":
        return x.permute(0, 2, 3, 4, 1).reshape(n * t, h * w, c)
    if scope == "1d":
        return x.permute(0, 3, 4, 2, 1).reshape(n * h * w, t, c)
    if scope == "frame":
        return x.transpose(1, 2).reshape(n, t, c * h * w)
    raise ValueError(f"unknown attention scope {scope!r}")


def from_tokens(y: torch.Tensor, scope: str, shape: tuple[int, int, int, int, int]) -> torch.Tensor:
    """Inverse of :func:`to_tokens` for a query set of the given ``(N, C, T, H, W)`` shape."""
    n, c, t, h, w = shape
    if scope == "3d":
        return y.transpose(1, 2).reshape(n, c, t, h, w)
    if scope == "2d":
        return y.reshape(n, t, h, w, c).permute(0, 4, 1, 2, 3)
    if scope == "1d":
        return y.reshape(n, h, w, t, c).permute(0, 4, 3, 1, 2)
    if scope == "frame":
        return y.reshape(n, t, c, h, w).transpose(1, 2)
    raise ValueError(f"unknown attention scope {scope!r}")


class ZeroInitOut(nn.Module):
    """1x1x1 conv back to the block's channels, then BN with gamma 0: the block starts as identity."""

    def __init__(self, inter: int, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(inter, channels, 1)
        self.bn = nn.BatchNorm3d(channels)
        nn.init.zeros_(self.bn.weight)
        nn.init.zeros_(self.bn.bias)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(y))
