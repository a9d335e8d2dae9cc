"""SlowFast ResNet (Feichtenhofer et al., ICCV 2019) with the insertion API of the TSN ResNet.

Written from the facts of PySlowFast (facebookresearch/SlowFast) and its SSv2
``SLOWFAST_16x8_R50`` config; no code taken from it. Input is one clip ``(N, 3, T, H, W)`` whose
``T`` frames feed the Fast pathway (64 for "16x8"); the Slow pathway sees every ``alpha``-th of
them (``T_slow = ceil(T / alpha)``, 16), or with ``slow_sampling="linspace"`` the frames
PySlowFast's loader picks. Output is class logits ``(N, K)`` (with ``head_pool="fixed"`` in eval
mode at a test crop larger than ``train_crop``: log class probabilities, see below).

Architecture (PySlowFast ``SlowFast`` with arch "slowfast"):

- Stems: Slow conv 1x7x7 (3 -> W), Fast conv 5x7x7 (3 -> W/beta_inv), both spatial stride 2,
  BN, ReLU, max-pool 1x3x3 stride (1,2,2).
- Four residual stages ``layer1..layer4`` (res2..res5) per pathway, 3D bottlenecks
  ``Tx1x1 -> 1x3x3 (spatial stride) -> 1x1x1`` with a projection shortcut on the first block.
  Temporal kernel of the first conv: Slow 1, 1, 3, 3; Fast 3, 3, 3, 3, applied to the first
  ``temp_kernel_blocks[i]`` blocks of stage i and 1 after them (PySlowFast's
  NUM_BLOCK_TEMP_KERNEL; the R50 configs cover every block, the R101 Kinetics configs only the
  first 3/4/6/3). Spatial strides 1, 2, 2, 2; no temporal striding anywhere.
- Lateral connections Fast -> Slow after the stem and after res2..res4: a ``k x 1 x 1`` conv with
  temporal stride ``alpha`` (C_fast -> fusion_ratio * C_fast), BN, ReLU, concatenated to the
  Slow features along channels (so Slow stage i takes ``C_slow + fusion_ratio * C_fast`` in).
- Head: global average pool of each pathway, concat (8W*4 + 8W*4/beta_inv = 2304 for W=64),
  dropout, linear. PySlowFast pools with a fixed 7x7 window sized for 224 crops and applies the
  linear layer fully convolutionally at 256 (2x2 positions, averaged after softmax); a global
  pool is the same at 224; at 256 the two differ in cost only by 3 extra linear evaluations
  (1.2 M MACs, 0.001 G), but they change predictions (docs/facts.md section 10: rel 0.16).
  ``head_pool="fixed"`` is PySlowFast's head (see :class:`SlowFastResNet`).

Options that follow PySlowFast (facebookresearch/SlowFast) where the default keeps the
harness's earlier behaviour:

- ``slow_sampling``: ``stride`` (default, Fast frames 0, alpha, 2 alpha, ...) or ``linspace``
  (``linspace(0, T - 1, T // alpha)`` truncated to integers, as slowfast/datasets/utils.py
  ``pack_pathway_output`` does; for T=64, alpha=4: 0, 4, 8, 12, 16, 21, 25, ...).
- ``head_pool``: ``global`` (default) or ``fixed`` with ``train_crop`` (PySlowFast's
  ``ResNetBasicHead`` built with ``pool_size`` from ``DATA.TRAIN_CROP_SIZE // 32``,
  slowfast/models/video_model_builder.py, head_helper.py).
- Non-local ``instantiation`` is an argument of the inserted module (``nl3d``), not of the
  backbone.

Video modules are inserted on the Slow pathway, by the stage names of the TSN ResNet
(``layer1..layer4``) and block index, ``after_block`` (on the block output) or ``in_block``
(after the first conv's BN+ReLU, on the inner channels). They see ``(N, C, T_slow, H, W)``:
SlowFast is already 5D, so there is no reshaping adapter; constructors that take ``num_frames``
must be given ``T_slow`` (``repro.models.build`` does).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from repro.models.depths import DEPTHS, STAGES
from repro.models.resnet import drop_path

# The Slow pathway has no temporal kernel before res4 (temporal conv early hurt in the
# SlowFast paper); the Fast pathway has one everywhere and a 5-frame stem.
SLOW_TEMPORAL = (1, 1, 3, 3)
FAST_TEMPORAL = (3, 3, 3, 3)
SLOW_STEM_T, FAST_STEM_T = 1, 5
EXPANSION = 4


def _bn(c: int) -> nn.BatchNorm3d:
    return nn.BatchNorm3d(c)


class Bottleneck3D(nn.Module):
    """3D bottleneck on ``(N, C, T, H, W)``: ``kt x1x1`` -> ``1x3x3`` (stride s) -> ``1x1x1``, residual.

    Hooks as in the TSN bottleneck: ``mid`` after ``relu(bn_a(conv_a(x)))`` (inner channels),
    ``post`` on the block output. Output ``(N, 4 * planes, T, H/s, W/s)``.
    """

    def __init__(self, inplanes: int, planes: int, temporal: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * EXPANSION
        self.conv_a = nn.Conv3d(inplanes, planes, (temporal, 1, 1), padding=(temporal // 2, 0, 0),
                                bias=False)
        self.bn_a = _bn(planes)
        # Stride on the 3x3 (STRIDE_1X1 False in the configs).
        self.conv_b = nn.Conv3d(planes, planes, (1, 3, 3), stride=(1, stride, stride),
                                padding=(0, 1, 1), bias=False)
        self.bn_b = _bn(planes)
        self.conv_c = nn.Conv3d(planes, out, 1, bias=False)
        self.bn_c = _bn(out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module | None = None
        if stride != 1 or inplanes != out:
            self.shortcut = nn.Sequential(
                nn.Conv3d(inplanes, out, 1, stride=(1, stride, stride), bias=False), _bn(out))
        self.mid: nn.Module | None = None
        self.post: nn.Module | None = None
        self.drop_path = 0.0  # stochastic depth of the residual branch (resnet.set_drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        out = self.relu(self.bn_a(self.conv_a(x)))
        if self.mid is not None:
            out = self.mid(out)
        out = self.relu(self.bn_b(self.conv_b(out)))
        out = self.bn_c(self.conv_c(out))
        out = drop_path(out, self.drop_path, self.training)
        out = self.relu(out + identity)
        if self.post is not None:
            out = self.post(out)
        return out


class Stem(nn.Module):
    """``kt x7x7`` conv, spatial stride 2, BN, ReLU, 1x3x3 max-pool stride (1,2,2): H, W / 4."""

    def __init__(self, out: int, temporal: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, out, (temporal, 7, 7), stride=(1, 2, 2),
                              padding=(temporal // 2, 3, 3), bias=False)
        self.bn = _bn(out)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))


class Lateral(nn.Module):
    """Fast -> Slow fusion: ``(N, C_f, T, H, W)`` -> ``(N, ratio * C_f, ceil(T / alpha), H, W)``.

    A time-strided ``k x 1 x 1`` conv, BN, ReLU. With odd ``k`` and padding k//2 its output
    frames are the Fast frames 0, alpha, 2 alpha, ..., i.e. the Slow pathway's frames.
    """

    def __init__(self, channels: int, ratio: int, kernel: int, alpha: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(channels, channels * ratio, (kernel, 1, 1), stride=(alpha, 1, 1),
                              padding=(kernel // 2, 0, 0), bias=False)
        self.bn = _bn(channels * ratio)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


SLOW_SAMPLINGS = ("stride", "linspace")
HEAD_POOLS = ("global", "fixed")
TOTAL_STRIDE = 32  # stem 4 x stages 2, 2, 2: a 224 crop ends as a 7x7 map


class SlowFastResNet(nn.Module):
    """SlowFast ResNet; input ``(N, 3, T, H, W)`` (``T`` Fast frames), output logits ``(N, K)``.

    ``layer1..layer4`` are the Slow stages (where modules are inserted), ``fast1..fast4`` the
    Fast ones, ``lateral0..lateral3`` the fusions after the stem and after stages 1-3.
    ``num_frames`` is the Fast frame count ``T``; inserted modules see ``T_slow``.

    ``slow_sampling``: which Fast frames the Slow pathway takes: ``stride`` (default; every
    ``alpha``-th from frame 0, ``ceil(T / alpha)`` of them, exactly the frames the time-strided
    laterals land on) or ``linspace`` (PySlowFast's loader, :meth:`slow_indices`; needs ``T``
    divisible by ``alpha`` so that the laterals' ``T / alpha`` frames line up).

    ``head_pool``: ``global`` (default; average over the whole final maps, then dropout and the
    linear classifier) or ``fixed``: PySlowFast's ``ResNetBasicHead`` for a model built for
    ``train_crop`` (``DATA.TRAIN_CROP_SIZE``). Each pathway is average-pooled with a window of
    ``train_crop // 32`` pixels (7 for 224) and the whole clip in time, stride 1, and in eval
    mode the classifier runs at every window position left (2 x 2 at a 256 crop), each position
    gets a softmax, and the probabilities are averaged over the positions. What ``forward``
    then returns is ``log(mean_p softmax(z_p))``, the log of PySlowFast's eval output, and not
    probabilities: a softmax of it (what ``eval.average: softmax`` takes) is PySlowFast's output
    exactly, the cross-entropy of it is the NLL of those probabilities, and the output stays a
    "logits-like" score like every other model's. Averaging logits over positions instead
    would not be PySlowFast's prediction. Where one position is left (the train crop, or a
    smaller input, where the window is clipped to the map) and in training mode, ``fixed`` is
    the ``global`` head bit for bit and returns logits (PySlowFast applies a softmax in eval
    there too; a softmax of our logits is the same). In training mode at a larger crop
    PySlowFast's head has no defined output (its classifier output would be flattened to
    ``(N, positions * K)``), so ``fixed`` keeps the global pool there.
    """

    def __init__(self, num_classes: int, layers: list[int], width: int = 64, num_frames: int = 64,
                 alpha: int = 4, beta_inv: int = 8, fusion_kernel: int = 7, fusion_ratio: int = 2,
                 temp_kernel_blocks: list[int] | None = None, dropout: float = 0.5,
                 slow_sampling: str = "stride", head_pool: str = "global",
                 train_crop: int | None = None) -> None:
        super().__init__()
        if slow_sampling not in SLOW_SAMPLINGS:
            raise ValueError(f"SlowFast slow_sampling must be stride or linspace, got {slow_sampling!r}")
        if head_pool not in HEAD_POOLS:
            raise ValueError(f"SlowFast head_pool must be global or fixed, got {head_pool!r}")
        if head_pool == "fixed" and (train_crop is None or train_crop < TOTAL_STRIDE):
            raise ValueError(f"SlowFast head_pool 'fixed' needs train_crop, the training crop size "
                             f">= {TOTAL_STRIDE} that sizes its pool window (train_crop // "
                             f"{TOTAL_STRIDE}; PySlowFast's DATA.TRAIN_CROP_SIZE), got {train_crop!r}")
        if head_pool == "global" and train_crop is not None:
            raise ValueError("SlowFast train_crop only sizes the head_pool 'fixed' window; "
                             "set head_pool: fixed or drop train_crop")
        self.slow_sampling, self.head_pool, self.train_crop = slow_sampling, head_pool, train_crop
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"SlowFast needs 4 stages of >= 1 block, got layers={layers}")
        if width % beta_inv:
            raise ValueError(f"SlowFast width {width} must be divisible by beta_inv {beta_inv} "
                             "(the Fast pathway has width / beta_inv channels)")
        if fusion_kernel % 2 == 0:
            raise ValueError(f"SlowFast fusion_kernel must be odd, got {fusion_kernel}: an even "
                             "kernel misaligns the fused frames with the Slow frames")
        self.alpha, self.num_frames = alpha, num_frames
        tk = list(temp_kernel_blocks) if temp_kernel_blocks is not None else list(layers)
        fast_w = width // beta_inv
        self.slow_stem = Stem(width, SLOW_STEM_T)
        self.fast_stem = Stem(fast_w, FAST_STEM_T)
        slow_in, fast_in = width, fast_w
        for i, n in enumerate(layers):
            self.add_module(f"lateral{i}", Lateral(fast_in, fusion_ratio, fusion_kernel, alpha))
            slow_in += fast_in * fusion_ratio
            stride = 1 if i == 0 else 2
            planes_s, planes_f = width * 2 ** i, fast_w * 2 ** i
            setattr(self, STAGES[i], self._stage(slow_in, planes_s, n, SLOW_TEMPORAL[i], tk[i], stride))
            setattr(self, f"fast{i + 1}", self._stage(fast_in, planes_f, n, FAST_TEMPORAL[i], tk[i], stride))
            slow_in, fast_in = planes_s * EXPANSION, planes_f * EXPANSION
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(slow_in + fast_in, num_classes)
        self._init_weights()

    @staticmethod
    def _stage(inplanes: int, planes: int, blocks: int, temporal: int, temporal_blocks: int,
               stride: int) -> nn.Sequential:
        mods = []
        for b in range(blocks):
            kt = temporal if b < temporal_blocks else 1
            mods.append(Bottleneck3D(inplanes, planes, kt, stride if b == 0 else 1))
            inplanes = planes * EXPANSION
        return nn.Sequential(*mods)

    def _init_weights(self) -> None:
        # PySlowFast's init: MSRA convs, BN 1/0 except the last BN of every residual branch at 0
        # (each block starts as an identity), fc N(0, 0.01). Runs before any insertion, so
        # inserted modules keep their own (identity) init.
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, Bottleneck3D):
                nn.init.zeros_(m.bn_c.weight)
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    @property
    def slow_frames(self) -> int:
        """``T_slow = ceil(num_frames / alpha)``: the frames inserted modules see."""
        return -(-self.num_frames // self.alpha)

    def slow_indices(self, t: int) -> torch.Tensor:
        """Indices (CPU, int64) of the ``t`` Fast frames that the Slow pathway takes.

        ``stride``: ``0, alpha, 2 alpha, ...`` (``ceil(t / alpha)``). ``linspace``: PySlowFast's
        ``linspace(0, t - 1, t // alpha)`` truncated toward zero (computed on the CPU in float32,
        as its loader does, so the truncation lands on the same frames).
        """
        if self.slow_sampling == "stride":
            return torch.arange(0, t, self.alpha)
        if t < self.alpha or t % self.alpha:
            raise ValueError(f"SlowFast slow_sampling 'linspace' needs a frame count divisible by "
                             f"alpha={self.alpha} (it picks t // alpha frames, the laterals make "
                             f"ceil(t / alpha)), got {t} frames")
        return torch.linspace(0, t - 1, t // self.alpha).long()

    def blocks(self, stage: str) -> nn.Sequential:
        """The blocks of ``stage`` (``layer1`` .. ``layer4``), in order (:class:`repro.models.backbone.Backbone`)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}")
        return getattr(self, stage)

    def block(self, stage: str, index: int) -> Bottleneck3D:
        """The ``index``-th Slow bottleneck of ``stage`` (``layer1`` .. ``layer4``)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}")
        layer = getattr(self, stage)
        if not 0 <= index < len(layer):
            raise IndexError(f"{stage} has {len(layer)} blocks; block {index} does not exist")
        return layer[index]

    def insert(self, stage: str, index: int, position: str,
               factory: Callable[[int], nn.Module]) -> nn.Module:
        """Insert ``factory(channels)`` into a Slow block; it runs on ``(N, C, T_slow, H, W)``.

        ``position``: ``after_block`` (block output, 4 * planes channels) or ``in_block`` (after
        the first conv, planes channels). ``replace_conv2`` is a TSN-only position.
        """
        blk = self.block(stage, index)
        if position == "after_block":
            mod = factory(blk.conv_c.out_channels)
            blk.post = mod
        elif position == "in_block":
            mod = factory(blk.conv_a.out_channels)
            blk.mid = mod
        else:
            raise ValueError(f"insertion position {position!r} is not supported by SlowFast; "
                             "use after_block or in_block")
        return mod

    def set_num_frames(self, t: int) -> None:
        """Set the Fast frame count ``t``; inserted modules that record frames get ``ceil(t/alpha)``."""
        self.num_frames = t
        for name in STAGES:
            for blk in getattr(self, name):
                for hook in (blk.mid, blk.post):
                    if hook is None:
                        continue
                    for m in hook.modules():
                        if hasattr(m, "num_frames"):
                            m.num_frames = self.slow_frames

    def pathways(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, 3, T, H, W)`` -> the final Slow and Fast maps ``(N, C, T', H/32, W/32)``."""
        # stride: the Slow frames are Fast frames 0, alpha, 2 alpha, ...: exactly the frames the
        # time-strided laterals land on. linspace (PySlowFast's loader) drifts from these by up
        # to alpha - 1 frames; the cost is the same.
        if self.slow_sampling == "stride":
            slow_in = x[:, :, ::self.alpha]
        else:
            slow_in = x.index_select(2, self.slow_indices(x.shape[2]).to(x.device))
        slow = self.slow_stem(slow_in)
        fast = self.fast_stem(x)
        for i, name in enumerate(STAGES):
            slow = torch.cat([slow, getattr(self, f"lateral{i}")(fast)], dim=1)
            slow = getattr(self, name)(slow)
            fast = getattr(self, f"fast{i + 1}")(fast)
        return slow, fast

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, T, H, W)`` -> globally pooled, concatenated Slow+Fast features ``(N, D)``."""
        slow, fast = self.pathways(x)
        return self._global(slow, fast)

    def _global(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.avgpool(slow).flatten(1), self.avgpool(fast).flatten(1)], dim=1)

    def head_window(self, h: int, w: int) -> tuple[int, int]:
        """The ``fixed`` head's spatial pool window on an ``h x w`` final map: ``train_crop // 32``
        per side, clipped to the map (PySlowFast's window would not fit a smaller map)."""
        k = self.train_crop // TOTAL_STRIDE
        return min(k, h), min(k, w)

    def _fixed_head(self, slow: torch.Tensor, fast: torch.Tensor) -> torch.Tensor:
        """Eval-mode ``fixed`` head: ``log`` of the softmax averaged over the window positions."""
        kh, kw = self.head_window(*slow.shape[-2:])
        # Window: the whole clip in time (PySlowFast's NUM_FRAMES // ALPHA and NUM_FRAMES, as its
        # test clips have its train length), kh x kw in space, stride 1.
        pooled = [F.avg_pool3d(p, (p.shape[2], kh, kw), stride=1) for p in (slow, fast)]
        z = self.fc(self.dropout(torch.cat(pooled, dim=1).flatten(2).transpose(1, 2)))  # (N, P, K)
        # log(mean_p softmax(z_p)), computed stably in log space.
        return torch.logsumexp(F.log_softmax(z, dim=-1), dim=1) - math.log(z.shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] != self.num_frames:
            self.set_num_frames(x.shape[2])
        slow, fast = self.pathways(x)
        if self.head_pool == "fixed" and not self.training:
            kh, kw = self.head_window(*slow.shape[-2:])
            if (kh, kw) != tuple(slow.shape[-2:]):  # more than one window position
                return self._fixed_head(slow, fast)
        return self.fc(self.dropout(self._global(slow, fast)))


def slowfast_resnet(num_classes: int, depth: int | None = 50, layers: list[int] | None = None,
                    width: int = 64, num_frames: int = 64, dropout: float = 0.5,
                    **args) -> SlowFastResNet:
    """Build a SlowFast ResNet from a depth (50/101/...) or explicit per-stage block counts.

    ``args``: ``alpha`` (4), ``beta_inv`` (8), ``fusion_kernel`` (7, the SSv2 config; the
    Kinetics R101 configs use 5), ``fusion_ratio`` (2), ``temp_kernel_blocks`` (blocks per stage
    with a temporal kernel; default all), ``slow_sampling`` (``stride``; ``linspace`` as
    PySlowFast's loader), ``head_pool`` (``global``; ``fixed`` as PySlowFast's test head, with
    ``train_crop``, e.g. 224). See :class:`SlowFastResNet`.
    """
    if layers is None:
        if depth not in DEPTHS:
            raise ValueError(f"unsupported SlowFast depth {depth}; use one of {sorted(DEPTHS)} or give layers")
        layers = DEPTHS[depth]
    return SlowFastResNet(num_classes, list(layers), width, num_frames, dropout=dropout, **args)
