"""Global Temporal Attention (GTA, He et al. BMVC 2021, arXiv 2012.08510) and its ablations.

Every module works on ``(N, C, T, H, W)``, returns the same shape, sits after a residual block
and starts as an exact identity (its output conv ends in a zero-initialised BN, ``ZeroInitOut``).

Registered names (GTA Figure 7 rows in brackets):

- ``gta_sa`` (+SA): spatial self-attention within each frame (eq. 3). It is the 2D non-local
  block at C' = C * inter_ratio = C/4 inter channels, keys and values max-pooled 2x2, logits
  scaled by 1/sqrt(C'): :class:`SpatialAttention`.
- ``gta_ta`` (+TA, +TAPE with ``pe=True``): self-attention over T per pixel (eq. 4) at C/4,
  not pooled: :class:`TemporalAttention`. TAPE adds one positional embedding per frame, shared
  by all pixels; by default a learned (T, C') one on the queries and keys (values are left
  alone, so the order cue enters only through *where* each frame attends). ``pe_type``,
  ``pe_at`` and ``pe_std`` choose a fixed sinusoidal table, the block's input instead of q and
  k, and the learned one's scale (:class:`TemporalAttention` says why they matter).
- ``dnl`` (+SA+TA, the "decoupled NL"): ``gta_sa`` then ``gta_ta``.
- ``gta`` (+SA+GTA): ``gta_sa`` (``spatial=True``) then :class:`GlobalTemporalAttention`
  (eqs. 5-8), which replaces the dot-product map by learned T x T matrices.

Reading of the paper used for ``GlobalTemporalAttention`` (no official code exists); where the
text leaves a choice, the one that reproduces GTA Figure 7's cost (50.2 GMACs, 31.2 M params
for R2D-50 + 5 blocks) was taken:

- Pixel GTA: a value 1x1x1 conv V_P = X W_V^P to C' = C/4, mixed over time per pixel by the
  learned matrices, A_P = M_P V_P.
- Region GTA: its own value conv V_R = X W_V^R to C'. Regions are formed on V_R, i.e. the "X"
  and "C" of G_R(t) = W_G X(t)^T are the C'-channel value map: W_G is K x C' with
  K = C' / region_div (region_div 8 -> K = C/32: 16 regions on layer2, 32 on layer3). Forming
  them on the C-channel input instead (W_G K x C, K = C/8) adds 0.46 M params (31.7 M).
  X_G(t) = G_R(t) V_R(t) / HW (a mean rather than a sum over pixels, so the region features keep
  a pixel's scale whatever the frame size), then A_R = G_R^T (M_R X_G) back on the pixels.
  G_R is linear (no softmax), as the paper writes it, but divided by sqrt(C') like attention
  logits: A_R is cubic in V, and this keeps its magnitude down (a constant rescaling of W_G).
- Output: eq. 5's A_P W_P^O + A_R W_R^O with one 1x1x1 conv (C' -> C) and one zero-initialised
  BN per branch, summed, residual add. Separate BNs, because Region GTA is cubic in the input
  (G_R and X_G both grow with V): its size relative to the pixel branch follows the cube of
  the input's (on a random-init R50, from 1/100 to 10x the pixel branch across the five
  blocks), and one BN over the sum would let the larger branch drown the other.
- The learned matrices are raw weights (no softmax: Figure 15 visualises their absolute
  values), drawn from N(0, 1/fan_in) with fan_in the number of (group, frame) terms summed.
- CCMH (eqs. 7-8): C' is split into G groups of c = C'/G channels; head k of group g owns
  M_g^k (T x T); output head k is sum_g M_g^k V_g, and the G heads (N_h = G) are concatenated
  back to C'. Written as one (G*T) -> (G*T) matrix product over (group, frame) per channel
  slot, which is what it is. ``ccmh=False``: plain multi-head, head g mixes only group g.
- ``num_frames`` fixes the size of M (and of TAPE's embedding). A clip of another length is
  accepted: M is resampled bilinearly over TSN's segment centres and scaled by T0/T (so each
  output frame's weights keep their total), TAPE linearly. The paper trains and tests at one T.

Cost of one block on C channels at T x H x W (multiply-accumulates, C' = C/4): SA and TA each
T*H*W*C^2 in convs plus their attention products; GTA T*H*W*C^2 in convs (two value and two
output convs) plus 3*T*H*W*C'*K for the region projections and G*T^2*C'*P for each branch's
CCMH mixing (P = H*W pixels or K regions). Measured for Figure 7 (tests/test_gta.py): +SA+GTA
50.28 GMACs (paper 50.2) and 31.32 M params (paper 31.2). The paper prints 31.2 M for DNL
(measured 31.24 M) and GTA alike; GTA's conv weights equal DNL's temporal block's, but the
learned matrices (0.041 M) and W_G (0.029 M) come on top, so 31.2 M is out of reach for any
reading that keeps eqs. 6-8 at G = 8 and the region projection.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from repro.models.attention import ZeroInitOut, attend, from_tokens, to_tokens
from repro.models.nonlocal_block import NonLocal


def _inter(channels: int, inter_ratio: float) -> int:
    return max(1, int(channels * inter_ratio))


class SpatialAttention(NonLocal):
    """GTA eq. 3: per-frame self-attention, i.e. a 2D non-local block at ``C * inter_ratio``."""

    def __init__(self, channels: int, inter_ratio: float = 0.25, pool_input: bool = False) -> None:
        super().__init__(channels, "2d", inter_ratio=inter_ratio, pool=True, scaled=True,
                         pool_input=pool_input)


class TemporalAttention(NonLocal):
    """GTA eq. 4: per-pixel self-attention over T at ``C * inter_ratio``; ``pe`` adds TAPE.

    ``pe``: a positional embedding, one row per frame, shared by all pixels. Without it the
    block is blind to frame order. ``pe_type``: ``learned`` (a parameter drawn from a normal of
    std ``pe_std``, truncated at +-2) or ``sinusoidal`` (Vaswani et al.'s fixed sin/cos
    table). ``pe_at``: ``qk`` adds a ``(T, C')`` embedding to the queries and keys (tokens
    ``(N*H*W, T, C')``), so the order cue enters only through *where* each frame attends;
    ``input`` adds a ``(T, C)`` one to the block's input ``(N, C, T, H, W)`` before the query,
    key and value convs (as a Transformer adds it to its input tokens), so the values carry
    position too. The residual path never sees the embedding: the block still starts as an
    exact identity.
    """

    def __init__(self, channels: int, num_frames: int = 8, inter_ratio: float = 0.25,
                 pe: bool = False, pe_type: str = "learned", pe_at: str = "qk",
                 pe_std: float = 0.02) -> None:
        super().__init__(channels, "1d", inter_ratio=inter_ratio, pool=False, scaled=True)
        if pe_type not in ("learned", "sinusoidal"):
            raise ValueError(f"TAPE pe_type must be learned or sinusoidal, got {pe_type!r}")
        if pe_at not in ("qk", "input"):
            raise ValueError(f"TAPE pe_at must be qk or input, got {pe_at!r}")
        self.pe_at = pe_at
        dim = self.theta.out_channels if pe_at == "qk" else channels
        if not pe:
            self.pos: torch.Tensor | None = None
        elif pe_type == "learned":
            # ViT-style learned embedding. At q/k its scale decides what it does: at std 0.02
            # its rows stay ~40x shorter than the queries and keys (per-token norms 4-7 on the
            # synthetic probe), shift the logits by ~0.05, barely train, and the block stays
            # order-blind there; at std 1 the random rows add |p|^2/sqrt(C') to the diagonal of
            # the logits and every frame attends to itself. At the input it must match the
            # features' scale (std 1), not 0.02.
            self.pos = nn.Parameter(torch.empty(num_frames, dim))
            nn.init.trunc_normal_(self.pos, std=pe_std)
        else:
            self.register_buffer("pos", sinusoidal(num_frames, dim), persistent=False)

    def _pos(self, t: int) -> torch.Tensor:
        """The ``(t, dim)`` embedding; linearly resampled when ``t`` is not ``num_frames``."""
        pos = self.pos
        if pos.shape[0] != t:
            pos = F.interpolate(pos.t()[None], size=t, mode="linear", align_corners=False)[0].t()
        return pos

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xin = x
        if self.pos is not None and self.pe_at == "input":
            xin = x + self._pos(x.shape[2]).t()[None, :, :, None, None]  # (1, C, T, 1, 1)
        q, k, v = (to_tokens(f(xin), "1d") for f in (self.theta, self.phi, self.g))
        if self.pos is not None and self.pe_at == "qk":
            pos = self._pos(x.shape[2])
            q, k = q + pos, k + pos
        y = attend(q, k, v, self.scaled)
        return x + self.out(from_tokens(y, "1d", (x.shape[0], v.shape[2], *x.shape[2:])))


def sinusoidal(num_frames: int, dim: int) -> torch.Tensor:
    """Vaswani et al.'s ``(num_frames, dim)`` table: sin/cos pairs at geometric frequencies.

    Entries lie in [-1, 1] (a row's norm is sqrt(dim/2)), the scale of the queries and keys.
    """
    t = torch.arange(num_frames, dtype=torch.float32)[:, None]
    freq = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    table = torch.zeros(num_frames, dim)
    table[:, 0::2] = torch.sin(t * freq)
    table[:, 1::2] = torch.cos(t * freq)[:, : dim // 2]
    return table


class TemporalMixer(nn.Module):
    """Learned global T x T attention with G groups (GTA eqs. 6-8), shared by all positions.

    Input and output ``(N, C', T, P)`` (P positions: pixels or regions). ``ccmh=True``:
    ``out[k] = sum_g M[k, g] @ V_g`` for heads k = 1..G (eq. 7-8); ``ccmh=False``:
    ``out[g] = M[g] @ V_g``.
    """

    def __init__(self, inter: int, num_frames: int, groups: int, ccmh: bool) -> None:
        super().__init__()
        if groups < 1 or inter % groups:
            raise ValueError(f"GTA groups={groups} must divide the {inter} value channels")
        self.groups, self.ccmh = groups, ccmh
        # (heads, groups read per head, T_out, T_in); a plain multi-head reads one group.
        reads = groups if ccmh else 1
        self.weight = nn.Parameter(torch.randn(groups, reads, num_frames, num_frames)
                                   / (reads * num_frames) ** 0.5)

    def matrices(self, t: int) -> torch.Tensor:
        """``(G, reads, t, t)``; resampled over segment centres when ``t`` is not ``num_frames``."""
        m = self.weight
        t0 = m.shape[-1]
        if t == t0:
            return m
        flat = m.flatten(0, 1)[:, None]
        flat = F.interpolate(flat, size=(t, t), mode="bilinear", align_corners=False) * (t0 / t)
        return flat[:, 0].view(*m.shape[:2], t, t)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        n, ci, t, p = v.shape
        g, c = self.groups, ci // self.groups
        m = self.matrices(t)
        vg = v.reshape(n, g, c, t, p).transpose(2, 3)  # (N, G, T, c, P)
        if self.ccmh:
            # One (G*T_out) x (G*T_in) matrix over (group, frame): every head sums every group.
            w = m.permute(0, 2, 1, 3).reshape(g * t, g * t)
            out = torch.matmul(w, vg.reshape(n, g * t, c * p))
        else:
            out = torch.matmul(m[:, 0], vg.reshape(n, g, t, c * p))
        return out.view(n, g, t, c, p).transpose(2, 3).reshape(n, ci, t, p)


class GlobalTemporalAttention(nn.Module):
    """Pixel and/or Region GTA (eqs. 5-8) on ``(N, C, T, H, W)``, residual; see module docstring."""

    def __init__(self, channels: int, num_frames: int = 8, inter_ratio: float = 0.25,
                 pixel: bool = True, region: bool = True, region_div: int = 8,
                 groups: int = 8, ccmh: bool = True) -> None:
        super().__init__()
        if not (pixel or region):
            raise ValueError("GTA needs pixel=True, region=True or both")
        if region_div < 1:
            raise ValueError(f"GTA region_div must be >= 1, got {region_div}")
        inter = _inter(channels, inter_ratio)
        self.pixel = self.region = None
        if pixel:
            self.pixel_value = nn.Conv3d(channels, inter, 1)
            self.pixel = TemporalMixer(inter, num_frames, groups, ccmh)
            self.pixel_out = ZeroInitOut(inter, channels)
        if region:
            self.num_regions = max(1, inter // region_div)
            self.region_value = nn.Conv3d(channels, inter, 1)
            # W_G: K x C' region assignment, linear as in G_R(t) = W_G X(t)^T.
            self.region_proj = nn.Conv3d(inter, self.num_regions, 1, bias=False)
            self.region = TemporalMixer(inter, num_frames, groups, ccmh)
            self.region_out = ZeroInitOut(inter, channels)

    def pixel_gta(self, x: torch.Tensor) -> torch.Tensor:
        """A_P ``(N, C', T, H, W)``: each pixel's value sequence mixed over time."""
        v = self.pixel_value(x)
        n, ci, t, h, w = v.shape
        return self.pixel(v.view(n, ci, t, h * w)).view(n, ci, t, h, w)

    def region_gta(self, x: torch.Tensor) -> torch.Tensor:
        """A_R ``(N, C', T, H, W)``: K regions per frame mixed over time, projected back."""
        v = self.region_value(x)
        n, ci, t, h, w = v.shape
        k = self.num_regions
        g = self.region_proj(v).permute(0, 2, 1, 3, 4).reshape(n * t, k, h * w) * ci ** -0.5
        vt = to_tokens(v, "2d")  # (N*T, HW, C'); g above is G_R(t), (N*T, K, HW)
        xg = torch.matmul(g, vt) / (h * w)  # X_G(t) = G_R(t) V_R(t), (N*T, K, C')
        z = self.region(xg.view(n, t, k, ci).permute(0, 3, 1, 2))  # (N, C', T, K)
        z = z.permute(0, 2, 3, 1).reshape(n * t, k, ci)
        back = torch.matmul(g.transpose(1, 2), z)  # G_R(t)^T (M_R X_G)(t), (N*T, HW, C')
        return from_tokens(back, "2d", (n, ci, t, h, w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.pixel is not None:
            y = y + self.pixel_out(self.pixel_gta(x))
        if self.region is not None:
            y = y + self.region_out(self.region_gta(x))
        return y


class DecoupledBlock(nn.Sequential):
    """Spatial attention (optional) then a temporal block: the shape of ``dnl`` and ``gta``."""

    def __init__(self, spatial: nn.Module | None, temporal: nn.Module) -> None:
        mods = OrderedDict() if spatial is None else OrderedDict(spatial=spatial)
        mods["temporal"] = temporal
        super().__init__(mods)


def gta_sa(channels: int, num_frames: int = 8, inter_ratio: float = 0.25,
           pool_input: bool = False) -> nn.Module:
    """+SA: per-frame self-attention (``num_frames`` unused: the block never mixes frames)."""
    return SpatialAttention(channels, inter_ratio, pool_input)


def gta_ta(channels: int, num_frames: int = 8, inter_ratio: float = 0.25,
           pe: bool = False, pe_type: str = "learned", pe_at: str = "qk",
           pe_std: float = 0.02) -> nn.Module:
    """+TA / +TAPE: per-pixel self-attention over time, with a positional embedding if ``pe``."""
    return TemporalAttention(channels, num_frames, inter_ratio, pe, pe_type, pe_at, pe_std)


def dnl(channels: int, num_frames: int = 8, inter_ratio: float = 0.25, pe: bool = False,
        pool_input: bool = False, pe_type: str = "learned", pe_at: str = "qk",
        pe_std: float = 0.02) -> nn.Module:
    """+SA+TA (decoupled NL) / +SA+TAPE."""
    return DecoupledBlock(SpatialAttention(channels, inter_ratio, pool_input),
                          TemporalAttention(channels, num_frames, inter_ratio, pe, pe_type, pe_at,
                                            pe_std))


def gta(channels: int, num_frames: int = 8, spatial: bool = True, pixel: bool = True,
        region: bool = True, region_div: int = 8, groups: int = 8, ccmh: bool = True,
        inter_ratio: float = 0.25, pool_input: bool = False) -> nn.Module:
    """+SA+GTA: spatial attention (if ``spatial``) then global temporal attention."""
    return DecoupledBlock(
        SpatialAttention(channels, inter_ratio, pool_input) if spatial else None,
        GlobalTemporalAttention(channels, num_frames, inter_ratio, pixel, region, region_div,
                                groups, ccmh))
