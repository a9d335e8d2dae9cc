"""Separable self-attention (SSAN, Guo et al. CVPR 2021, section 3.2), with its ablation switches.

Reading of the paper used here (no official code exists):
- Spatial attention per frame on query/key/value 1x1 embeddings of C' = C/2 channels.
  ``sa=True``: position branch (HW x HW, eq. 4) plus channel branch (C' x C', eq. 5), summed
  (eq. 6). ``sa=False``: position branch only, i.e. a 2D NL inside the block.
- Temporal attention on the stacked spatial maps X^ (eq. 7-8). ``ta=True``: query and key come
  from 3x1x1 convs (short-range order); ``ta=False``: from 1x1x1 convs, as in a 1D NL.
- ``sve=True``: the temporal value is the spatial value X_v (shared value embedding);
  ``sve=False``: a separate 1x1x1 conv on X^ gives it.
- ``temporal_scope="pixel"`` (default): one T x T matrix M_T per position, as in the 1D NL
  that Table 5 starts from, so that TA changes only the 1x1x1 embeddings into 3x1x1 ones.
  ``"frame"``: one T x T matrix per clip over the flattened C'HW map, the other reading of
  eq. 7. Both separate the synthetic reversal pairs (bench/results/ssa_temporal_scope.json);
  the paper's real-data numbers cannot tell them apart here.
- Output 1x1x1 conv + zero-initialised BN, added to the input (eq. 3).
"""
from __future__ import annotations

import torch
from torch import nn

from repro.models.attention import ZeroInitOut, attend, from_tokens, to_tokens


class SSA(nn.Module):
    """Separable self-attention on ``(N, C, T, H, W)``; returns the same shape."""

    def __init__(self, channels: int, inter_ratio: float = 0.5, sa: bool = True,
                 sve: bool = True, ta: bool = True, temporal_scope: str = "pixel") -> None:
        super().__init__()
        if temporal_scope not in ("frame", "pixel"):
            raise ValueError(f"SSA temporal_scope must be 'frame' or 'pixel', got {temporal_scope!r}")
        inter = max(1, int(channels * inter_ratio))
        self.sa, self.sve, self.ta = sa, sve, ta
        self.temporal_scope = "frame" if temporal_scope == "frame" else "1d"
        self.query = nn.Conv3d(channels, inter, 1)
        self.key = nn.Conv3d(channels, inter, 1)
        self.value = nn.Conv3d(channels, inter, 1)
        kt, pt = ((3, 1, 1), (1, 0, 0)) if ta else (1, 0)
        self.t_query = nn.Conv3d(inter, inter, kt, padding=pt)
        self.t_key = nn.Conv3d(inter, inter, kt, padding=pt)
        self.t_value = None if sve else nn.Conv3d(inter, inter, 1)
        self.out = ZeroInitOut(inter, channels)

    def spatial(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Per-frame attention maps X^ ``(N, C', T, H, W)`` from embeddings of the same shape."""
        shape = tuple(q.shape)
        qs, ks, vs = (to_tokens(z, "2d") for z in (q, k, v))  # (N*T, HW, C')
        y = attend(qs, ks, vs)
        if self.sa:
            # Channel branch: channels are the tokens, positions the feature dimension.
            y = y + attend(qs.transpose(1, 2), ks.transpose(1, 2), vs.transpose(1, 2)).transpose(1, 2)
        return from_tokens(y, "2d", shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.value(x)
        xs = self.spatial(self.query(x), self.key(x), v)
        tq, tk = self.t_query(xs), self.t_key(xs)
        tv = v if self.t_value is None else self.t_value(xs)
        s = self.temporal_scope
        y = attend(to_tokens(tq, s), to_tokens(tk, s), to_tokens(tv, s))
        return x + self.out(from_tokens(y, s, tuple(tv.shape)))


def ssa(channels: int, **kwargs) -> nn.Module:
    return SSA(channels, **kwargs)
