"""Non-local blocks (Wang et al. 2018) over space-time (3D), space within a frame (2D), time per
pixel (1D), and the sequential 2D+1D variant that SSAN Table 2 compares against.

Conventions (shared/reference/facts.md): embedded Gaussian, theta/phi/g 1x1x1 convs to C/2,
phi and g max-pooled by (1,2,2) where the scope has space, logits scaled by 1/sqrt(C/2),
output 1x1x1 conv + zero-initialised BN, residual add. None of these blocks has a notion of
frame order: permuting the input frames permutes the output the same way.
"""
from __future__ import annotations

import torch
from torch import nn

from repro.models.attention import ZeroInitOut, attend, from_tokens, to_tokens


class NonLocal(nn.Module):
    """Residual non-local block on ``(N, C, T, H, W)``; ``scope`` is ``3d``, ``2d`` or ``1d``."""

    def __init__(self, channels: int, scope: str = "3d", inter_ratio: float = 0.5,
                 pool: bool = True, scaled: bool = True, pool_input: bool = False) -> None:
        super().__init__()
        if scope not in ("3d", "2d", "1d"):
            raise ValueError(f"NonLocal scope must be 3d, 2d or 1d, got {scope!r}")
        inter = max(1, int(channels * inter_ratio))
        # pool_input: pool x before phi/g (PySlowFast) instead of their outputs (video-nonlocal-net):
        # same parameters and outputs' shapes, 4x fewer MACs in phi/g. GTA's SlowFast costs use it.
        self.scope, self.scaled, self.pool_input = scope, scaled, pool_input
        self.theta = nn.Conv3d(channels, inter, 1)
        self.phi = nn.Conv3d(channels, inter, 1)
        self.g = nn.Conv3d(channels, inter, 1)
        # Per-pixel attention over time has no spatial neighbours to pool.
        self.pool = nn.MaxPool3d((1, 2, 2)) if pool and scope != "1d" else nn.Identity()
        self.out = ZeroInitOut(inter, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.theta(x)
        can_pool = min(x.shape[-2:]) >= 2  # a 1x1 map (small inputs, late stages) has nothing to pool
        if self.pool_input:
            xp = self.pool(x) if can_pool else x
            k, v = self.phi(xp), self.g(xp)
        else:
            k, v = self.phi(x), self.g(x)
            if can_pool:
                k, v = self.pool(k), self.pool(v)
        y = attend(to_tokens(q, self.scope), to_tokens(k, self.scope), to_tokens(v, self.scope),
                   self.scaled)
        return x + self.out(from_tokens(y, self.scope, tuple(q.shape)))


class NonLocal2D1D(nn.Sequential):
    """A 2D non-local block followed by a 1D one (SSAN Table 2's "2D+1D NL")."""

    def __init__(self, channels: int, inter_ratio: float = 0.5, pool: bool = True,
                 scaled: bool = True, pool_input: bool = False) -> None:
        super().__init__(NonLocal(channels, "2d", inter_ratio, pool, scaled, pool_input),
                         NonLocal(channels, "1d", inter_ratio, False, scaled))


# Explicit keyword lists, so that a spec's misspelled argument fails validation by name.
def nl3d(channels: int, inter_ratio: float = 0.5, pool: bool = True, scaled: bool = True,
         pool_input: bool = False) -> nn.Module:
    return NonLocal(channels, "3d", inter_ratio, pool, scaled, pool_input)


def nl2d(channels: int, inter_ratio: float = 0.5, pool: bool = True, scaled: bool = True,
         pool_input: bool = False) -> nn.Module:
    return NonLocal(channels, "2d", inter_ratio, pool, scaled, pool_input)


def nl1d(channels: int, inter_ratio: float = 0.5, scaled: bool = True) -> nn.Module:
    return NonLocal(channels, "1d", inter_ratio, False, scaled)


def nl2d1d(channels: int, inter_ratio: float = 0.5, pool: bool = True, scaled: bool = True,
           pool_input: bool = False) -> nn.Module:
    return NonLocal2D1D(channels, inter_ratio=inter_ratio, pool=pool, scaled=scaled,
                        pool_input=pool_input)
