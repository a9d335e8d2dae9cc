"""Relational self-attention (RSA; Kim et al., NeurIPS 2021, arXiv 2111.01673).

RSA is a dynamic replacement for the 3x3 ``conv2`` of a bottleneck: for every position p of a
clip it builds a kernel from the query at p and the keys around p, and applies it to a context
built from the values around p, over a 5x7x7 (T x H x W) neighbourhood. Details follow the
official code (github KimManjin/RSA, ``ops/rsa.py``, ``ops/ResNet.py``, ``opts.py``,
``scripts/train_Something_v*.sh``); nothing of it is copied here.

With C input channels, ``heads`` = 8, dk = dv = D = C / 8 (the official defaults dk = dv = dd = 0
resolve to these) and M the neighbourhood (5*7*7 = 245 taps), at each position:

- one 1x1x1 projection gives 8 queries q_h (dk each), one key k (dk) and one value v (dv),
  all shared by the heads except q; q_h, k and v are each L2-normalised over channels
  (``x / sqrt(sum x^2 + 1e-6)``). There is no softmax anywhere.
- kernel (``kernel="both"``): kappa_h = q_h^T (R_k + B), a D-vector per head, where R_k[j, :]
  is a 5x7x7 conv of key channel j alone to D outputs (a grouped conv, one group per key
  channel: the relational part, how the key at p relates to the keys around it) and B is a
  learned dk x D matrix (the basic part, a static "key"). ``"basic"`` uses q_h itself as the
  kernel (needs D = dk); ``"relational"`` drops B.
- context (``context="both"``): X = (Gv + I)^T E_v, a dv x D matrix, where E_v[c, :] is the
  neighbourhood of value channel c projected to D latent dims (one 5x7x7 conv 1 -> D shared by
  all value channels) and Gv[c, :] a 5x7x7 conv 1 -> dv of the same channel: a position-
  dependent mixing of the value channels, plus the identity. ``"basic"`` uses E_v alone,
  ``"relational"`` drops I.
- output: y[c, h] = X[c, :] . kappa_h, for dv x 8 = C channels; the channel index is
  ``c * heads + h`` (value-major), the order of the official code, so its weights map 1:1.

Parameter names here -> official names: ``proj`` -> ``projection``, ``key_relation`` -> ``H1``,
``basic_kernel`` -> ``P1``, ``value_embed`` -> ``H2``, ``value_mix`` -> ``G``,
``mix_identity`` -> ``I``.

In a ResNet-50 (``ops/ResNet.py``, ``opts.py`` position ``[[2],[1,3],[1,3,5],[1]]``) RSA replaces
conv2 of layer1[2], layer2[1,3], layer3[1,3,5] and layer4[1], all stride 1; bn3 of those blocks
is zero-initialised and none of their weights come from ImageNet (:func:`init_rsa_blocks`).
"""
from __future__ import annotations

import math

import torch
from torch import nn


KINDS = ("basic", "relational", "both")
# The official code's names for the same switches (opts.py -ktype / -ftype).
OFFICIAL_KIND = {"V": "basic", "R": "relational", "VplusR": "both"}
# Stages and block indices of the official RSA-R50 (opts.py default of --position).
RSA_R50_PLACES: dict[str, list[int]] = {"layer1": [2], "layer2": [1, 3], "layer3": [1, 3, 5],
                                        "layer4": [1]}


def l2_normalize(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``x / sqrt(sum(x^2, dim) + 1e-6)``: the official epsilon sits inside the square root."""
    return x * torch.rsqrt(x.square().sum(dim, keepdim=True) + 1e-6)


class RelationalSelfAttention(nn.Module):
    """RSA on ``(N, C, T, H, W)`` -> ``(N, C, T, H, W)``, a drop-in for a stride-1 3x3 conv.

    ``heads`` queries of ``key_dim`` channels share one key and one value; ``latent_dim`` is D.
    ``key_dim``/``value_dim``/``latent_dim`` of 0 mean C / heads, C / heads and key_dim.
    ``kernel`` and ``context`` pick the basic, relational or both (the default) parts.
    ``num_frames`` is recorded only: the 5x7x7 neighbourhood works for any clip length.
    """

    def __init__(self, channels: int, num_frames: int = 8, heads: int = 8,
                 kernel_size: tuple[int, int, int] | list[int] = (5, 7, 7), key_dim: int = 0,
                 value_dim: int = 0, latent_dim: int = 0, kernel: str = "both",
                 context: str = "both") -> None:
        super().__init__()
        kernel = OFFICIAL_KIND.get(kernel, kernel)
        context = OFFICIAL_KIND.get(context, context)
        if kernel not in KINDS or context not in KINDS:
            raise ValueError(f"RSA kernel/context must be one of {KINDS}, got {kernel!r}/{context!r}")
        if value_dim == 0 and channels % heads:
            raise ValueError(f"RSA needs channels ({channels}) divisible by heads ({heads})")
        self.num_frames = num_frames
        self.heads = heads
        self.dv = value_dim or channels // heads
        self.dk = key_dim or self.dv
        self.dd = latent_dim or self.dk
        self.kernel, self.context = kernel, context
        if kernel == "basic" and self.dd != self.dk:
            raise ValueError("RSA kernel='basic' uses the query as the kernel: needs latent_dim == key_dim")
        ks = tuple(int(k) for k in kernel_size)
        if len(ks) != 3 or any(k % 2 == 0 for k in ks):
            raise ValueError(f"RSA kernel_size must be three odd sizes (T, H, W), got {kernel_size!r}")
        self.kernel_size = ks
        pad = tuple(k // 2 for k in ks)
        taps = math.prod(ks)
        self.out_channels = self.dv * heads
        if self.out_channels != channels:  # it stands in for conv2: planes in, planes out
            raise ValueError(f"RSA outputs value_dim x heads = {self.out_channels} channels, "
                             f"not the {channels} it replaces")
        # The key exists only for the relational kernel (the official projection omits it too).
        self.key_channels = 0 if kernel == "basic" else self.dk
        self.proj = nn.Conv3d(channels, heads * self.dk + self.key_channels + self.dv, 1, bias=False)
        if kernel != "basic":
            # Each key channel alone -> D outputs: how that channel varies around p.
            self.key_relation = nn.Conv3d(self.dk, self.dk * self.dd, ks, padding=pad,
                                          groups=self.dk, bias=False)
        if kernel == "both":
            self.basic_kernel = nn.Parameter(torch.randn(self.dk, self.dd) / math.sqrt(taps * self.dd))
        # One filter bank for all value channels: the neighbourhood of one channel -> D dims.
        self.value_embed = nn.Conv3d(1, self.dd, ks, padding=pad, bias=False)
        if context != "basic":
            self.value_mix = nn.Conv3d(1, self.dv, ks, padding=pad, bias=False)
        if context == "both":
            self.mix_identity = nn.Parameter(torch.eye(self.dv))
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                # The official ResNet's init loop reaches these convs too (kaiming, fan_out, relu).
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def relational_kernel(self, q: torch.Tensor, k: torch.Tensor | None) -> torch.Tensor:
        """Queries ``(N, heads, dk, P)`` and key map ``(N, dk, T, H, W)`` -> kernels ``(N, heads, D, P)``."""
        if self.kernel == "basic":
            return q
        n, p = q.shape[0], q.shape[-1]
        rel = self.key_relation(k).view(n, self.dk, self.dd, p)  # (N, dk, D, P)
        if self.kernel == "both":
            rel = rel + self.basic_kernel[None, :, :, None]
        return torch.einsum("nhkp,nkdp->nhdp", q, rel)

    def relational_context(self, v: torch.Tensor) -> torch.Tensor:
        """Value map ``(N, dv, T, H, W)`` -> contexts ``(N, dv, D, P)`` (value channel x latent)."""
        n, dv, t, h, w = v.shape
        p = t * h * w
        planes = v.reshape(n * dv, 1, t, h, w)  # each value channel filtered on its own
        emb = self.value_embed(planes).view(n, dv, self.dd, p)
        if self.context == "basic":
            return emb
        mix = self.value_mix(planes).view(n, dv, dv, p)  # (N, c_in, c_out, P)
        if self.context == "both":
            mix = mix + self.mix_identity[None, :, :, None]
        return torch.einsum("ncep,ncdp->nedp", mix, emb)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, h, w = x.shape
        p = t * h * w
        q, k, v = torch.split(self.proj(x), [self.heads * self.dk, self.key_channels, self.dv], dim=1)
        q = l2_normalize(q.reshape(n, self.heads, self.dk, p), dim=2)
        k = l2_normalize(k, dim=1) if self.key_channels else None
        kappa = self.relational_kernel(q, k)                    # (N, heads, D, P)
        ctx = self.relational_context(l2_normalize(v, dim=1))   # (N, dv, D, P)
        y = torch.einsum("nhdp,ncdp->nchp", kappa, ctx)         # (N, dv, heads, P)
        return y.reshape(n, self.out_channels, t, h, w)

    def extra_repr(self) -> str:
        return (f"heads={self.heads}, dk={self.dk}, dv={self.dv}, D={self.dd}, "
                f"kernel_size={self.kernel_size}, kernel={self.kernel}, context={self.context}")


def rsa(channels: int, num_frames: int = 8, **kwargs) -> nn.Module:
    """RSA for a ``replace_conv2`` insertion: ``channels`` in and out (conv2's planes)."""
    return RelationalSelfAttention(channels, num_frames=num_frames, **kwargs)


# Where RSA goes: instead of conv2, not as a residual block (see init_rsa_blocks).
rsa.position = "replace_conv2"
rsa.builds = RelationalSelfAttention  # its keyword arguments, for spec checks


def rsa_block_names(model: nn.Module) -> list[str]:
    """Names (``layer2.1`` ...) of the bottlenecks whose conv2 holds an RSA module."""
    out = []
    for name, mod in model.named_modules():
        conv2 = getattr(mod, "conv2", None)
        if isinstance(conv2, nn.Module) and any(isinstance(m, RelationalSelfAttention)
                                                for m in conv2.modules()):
            out.append(name)
    return out


def init_rsa_blocks(model: nn.Module) -> list[str]:
    """Zero bn3's weight in every RSA bottleneck, so each starts with its residual branch at 0.

    Returns the blocks' parameter-name prefixes (``layer2.1.`` ...): the official code loads
    nothing of these blocks from ImageNet (``ops/ResNet.py`` resnet50), so an ImageNet loader
    must skip every key under them, bn3 included, or it would undo the zero-init.
    """
    names = rsa_block_names(model)
    for name in names:
        nn.init.zeros_(model.get_submodule(name).bn3.weight)
    return [f"{name}." for name in names]
