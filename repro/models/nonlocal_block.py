"""Non-local blocks (Wang et al. 2018) over space-time (3D), space within a frame (2D), time per
pixel (1D), and the sequential 2D+1D variant that SSAN Table 2 compares against.

Conventions (docs/facts.md section 4): embedded Gaussian, theta/phi/g 1x1x1 convs to C/2,
phi and g max-pooled by (1,2,2) where the scope has space, logits scaled by 1/sqrt(C/2),
output 1x1x1 conv + zero-initialised BN, residual add. None of these blocks has a notion of
frame order: permuting the input frames permutes the output the same way.

``instantiation`` picks how the affinity ``theta^T phi`` becomes attention weights, with the
names of PySlowFast's ``NONLOCAL.INSTANTIATION`` (slowfast/models/nonlocal_helper.py,
``Nonlocal.forward``): ``softmax`` (default; the embedded Gaussian above, scaled by 1/sqrt(C')
when ``scaled``) or ``dot_product``, the affinity divided by the number of key positions S and
no softmax, ``y = (q k^T / S) v`` (no 1/sqrt(C') either: ``scaled`` does not apply). PySlowFast's
default config and its SSv2 SlowFast config set ``dot_product``.
"""
from __future__ import annotations

import torch
from torch import nn

from repro.models.attention import ZeroInitOut, attend, from_tokens, to_tokens

INSTANTIATIONS = ("softmax", "dot_product")


def dot_product_attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``dot_product`` non-local weights: q ``(B, L, D)``, k ``(B, S, D)``, v ``(B, S, E)`` -> ``(B, L, E)``.

    ``(q k^T / S) v``: the affinity divided by the number of key positions S, no softmax and no
    1/sqrt(D). Computed in that order (not ``q (k^T v)``, which is cheaper but counts other
    MACs than PySlowFast's einsums, see repro.cost).
    """
    return torch.matmul(torch.matmul(q, k.transpose(1, 2)) / k.shape[1], v)


class NonLocal(nn.Module):
    """Residual non-local block on ``(N, C, T, H, W)``; ``scope`` is ``3d``, ``2d`` or ``1d``.

    ``instantiation``: ``softmax`` (default) or ``dot_product`` (see the module docstring).
    """

    def __init__(self, channels: int, scope: str = "3d", inter_ratio: float = 0.5,
                 pool: bool = True, scaled: bool = True, pool_input: bool = False,
                 instantiation: str = "softmax") -> None:
        super().__init__()
        if scope not in ("3d", "2d", "1d"):
            raise ValueError(f"NonLocal scope must be 3d, 2d or 1d, got {scope!r}")
        if instantiation not in INSTANTIATIONS:
            raise ValueError(f"NonLocal instantiation must be softmax or dot_product, got "
                             f"{instantiation!r}")
        self.instantiation = instantiation
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
        qt, kt, vt = (to_tokens(t, self.scope) for t in (q, k, v))
        if self.instantiation == "dot_product":
            y = dot_product_attend(qt, kt, vt)
        else:
            y = attend(qt, kt, vt, self.scaled)
        return x + self.out(from_tokens(y, self.scope, tuple(q.shape)))


class NonLocal2D1D(nn.Sequential):
    """A 2D non-local block followed by a 1D one (SSAN Table 2's "2D+1D NL")."""

    def __init__(self, channels: int, inter_ratio: float = 0.5, pool: bool = True,
                 scaled: bool = True, pool_input: bool = False,
                 instantiation: str = "softmax") -> None:
        super().__init__(NonLocal(channels, "2d", inter_ratio, pool, scaled, pool_input,
                                  instantiation),
                         NonLocal(channels, "1d", inter_ratio, False, scaled,
                                  instantiation=instantiation))


# Explicit keyword lists, so that a spec's misspelled argument fails validation by name.
# ``instantiation``: ``softmax`` (default) or ``dot_product`` (PySlowFast's NONLOCAL.INSTANTIATION;
# a spec sets it as ``model.insert.args.instantiation``).
def nl3d(channels: int, inter_ratio: float = 0.5, pool: bool = True, scaled: bool = True,
         pool_input: bool = False, instantiation: str = "softmax") -> nn.Module:
    return NonLocal(channels, "3d", inter_ratio, pool, scaled, pool_input, instantiation)


def nl2d(channels: int, inter_ratio: float = 0.5, pool: bool = True, scaled: bool = True,
         pool_input: bool = False, instantiation: str = "softmax") -> nn.Module:
    return NonLocal(channels, "2d", inter_ratio, pool, scaled, pool_input, instantiation)


def nl1d(channels: int, inter_ratio: float = 0.5, scaled: bool = True,
         instantiation: str = "softmax") -> nn.Module:
    return NonLocal(channels, "1d", inter_ratio, False, scaled, instantiation=instantiation)


def nl2d1d(channels: int, inter_ratio: float = 0.5, pool: bool = True, scaled: bool = True,
           pool_input: bool = False, instantiation: str = "softmax") -> nn.Module:
    return NonLocal2D1D(channels, inter_ratio=inter_ratio, pool=pool, scaled=scaled,
                        pool_input=pool_input, instantiation=instantiation)
