"""TSN ResNet: a 2D bottleneck ResNet applied per frame, with per-frame logits averaged.

Parameter names match torchvision's ``resnet50`` (``conv1``, ``layer2.1.conv1``, ``fc`` ...),
so ImageNet weights load with ``load_state_dict(strict=False)``; inserted modules live under
extra names (``layerS.B.mid`` inside a block, ``layerS.B.post`` after it).

Stage names: torchvision's ``layer1..layer4`` are the papers' res2..res5 (GTA, NL). SSAN's
"Res2/Res3" are torchvision's ``layer2/layer3`` (see docs/facts.md section 3).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from repro.models.depths import DEPTHS, STAGES  # noqa: F401 -- re-exported for callers


def drop_path(x: torch.Tensor, p: float, training: bool, frames: int = 1) -> torch.Tensor:
    """Stochastic depth: in training, zero the residual branch ``x`` of a whole sample with
    probability ``p`` and scale the kept ones by ``1 / (1 - p)``; the identity in evaluation.

    ``x`` is ``(N * frames, ...)`` (TSN folds frames into the batch) or ``(N, ...)``: one draw
    per video, shared by its frames.
    """
    if p <= 0 or not training:
        return x
    keep = 1.0 - p
    mask = x.new_empty(x.shape[0] // frames, *([1] * (x.dim() - 1))).bernoulli_(keep)
    return x * mask.repeat_interleave(frames, 0) / keep


def set_drop_path(model: nn.Module, rate: float) -> list[float]:
    """Give the residual blocks of ``model`` (in order) drop probabilities rising linearly from
    0 in the first to ``rate`` in the last, and return them."""
    blocks = [m for m in model.modules() if hasattr(m, "drop_path") and not callable(m.drop_path)]
    n = len(blocks)
    rates = [rate * i / (n - 1) if n > 1 else rate for i in range(n)]
    for m, r in zip(blocks, rates):
        m.drop_path = r
    return rates


class Bottleneck(nn.Module):
    """torchvision-compatible bottleneck with optional hooks, all on ``(N*T, C, H, W)``.

    ``shift`` runs on the residual branch's input only (TSM's residual shift); ``mid`` right
    after ``relu(bn1(conv1(x)))`` on ``planes`` channels (where SSA sits); ``post`` on the block
    output (where NL blocks sit). ``conv2`` itself may be replaced by a video module (RSA).
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.shift: nn.Module | None = None
        self.mid: nn.Module | None = None
        self.post: nn.Module | None = None
        self.drop_path = 0.0  # stochastic depth of the residual branch (set_drop_path)
        self.num_frames = 1  # frames per video in the batch, so a drop takes a whole clip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = x if self.shift is None else self.shift(x)
        out = self.relu(self.bn1(self.conv1(out)))
        if self.mid is not None:
            out = self.mid(out)
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = drop_path(out, self.drop_path, self.training, self.num_frames)
        out = self.relu(out + identity)
        if self.post is not None:
            out = self.post(out)
        return out


class TSNResNet(nn.Module):
    """TSN over a bottleneck ResNet.

    Input ``(N, C, T, H, W)``; output class logits ``(N, K)``: the mean over the T per-frame
    logits (TSN's average consensus). Frames interact only inside inserted modules.
    """

    def __init__(self, num_classes: int, layers: list[int], width: int = 64,
                 num_frames: int = 8, dropout: float = 0.5) -> None:
        super().__init__()
        self.num_frames = num_frames
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        for i, (name, n) in enumerate(zip(STAGES, layers)):
            setattr(self, name, self._make_stage(width * 2 ** i, n, stride=1 if i == 0 else 2))
            for blk in getattr(self, name):
                blk.num_frames = num_frames
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(width * 8 * Bottleneck.expansion, num_classes)
        self._init_weights()

    def _make_stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion))
        mods = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        mods += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def blocks(self, stage: str) -> nn.Sequential:
        """The blocks of ``stage`` (``layer1`` .. ``layer4``), in order (:class:`repro.models.backbone.Backbone`)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}")
        return getattr(self, stage)

    def block(self, stage: str, index: int) -> Bottleneck:
        """The ``index``-th bottleneck of ``stage`` (``layer1`` .. ``layer4``)."""
        layer = getattr(self, stage)
        if not 0 <= index < len(layer):
            raise IndexError(f"{stage} has {len(layer)} blocks; block {index} does not exist")
        return layer[index]

    def insert(self, stage: str, index: int, position: str,
               factory: Callable[[int], nn.Module]) -> nn.Module:
        """Insert ``factory(channels)`` into a block.

        ``position``: ``in_block`` (after conv1, on its channels), ``after_block`` (on the block
        output) or ``replace_conv2`` (instead of the 3x3 conv, planes -> planes, bn3 zeroed).
        """
        blk = self.block(stage, index)
        if position == "in_block":
            mod = factory(blk.conv1.out_channels)
            blk.mid = TemporalAdapter(mod, self.num_frames)
        elif position == "after_block":
            mod = factory(blk.conv3.out_channels)
            blk.post = TemporalAdapter(mod, self.num_frames)
        elif position == "replace_conv2":
            stride = blk.conv2.stride[0]
            mod = factory(blk.conv2.in_channels)
            new: nn.Module = TemporalAdapter(mod, self.num_frames)
            if stride != 1:  # a strided block keeps its downsampling, as RSA's code does: pool after
                new = nn.Sequential(new, nn.AvgPool2d(3, stride=stride, padding=1))
            blk.conv2 = new
            # The replaced block starts as an identity: its residual branch is zeroed at bn3.
            nn.init.zeros_(blk.bn3.weight)
        else:
            raise ValueError(f"unknown insertion position {position!r}; "
                             "use in_block, after_block or replace_conv2")
        return mod

    def add_temporal_shift(self, fold_div: int = 8) -> None:
        """TSM: shift 1/fold_div of the channels each way in time in every block's residual branch."""
        from repro.models.tsm import TemporalShift

        for stage in STAGES:
            for blk in getattr(self, stage):
                blk.shift = TemporalShift(self.num_frames, fold_div)

    def set_num_frames(self, t: int) -> None:
        self.num_frames = t
        for m in self.modules():
            if isinstance(m, TemporalAdapter) or hasattr(m, "num_frames") and m is not self:
                m.num_frames = t

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N*T, 3, H, W)`` -> pooled per-frame features ``(N*T, D)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for name in STAGES:
            x = getattr(self, name)(x)
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        if t != self.num_frames:
            self.set_num_frames(t)
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        logits = self.fc(self.dropout(self.features(frames)))
        return logits.view(n, t, -1).mean(dim=1)


class TemporalAdapter(nn.Module):
    """Reshapes the trunk's ``(N*T, C, H, W)`` to ``(N, C, T, H, W)`` for a video module and back."""

    def __init__(self, module: nn.Module, num_frames: int) -> None:
        super().__init__()
        self.module = module
        self.num_frames = num_frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nt, c, h, w = x.shape
        t = self.num_frames
        y = self.module(x.view(nt // t, t, c, h, w).transpose(1, 2))
        return y.transpose(1, 2).reshape(nt, c, h, w)


def tsn_resnet(num_classes: int, depth: int | None = 50, layers: list[int] | None = None,
               width: int = 64, num_frames: int = 8, dropout: float = 0.5) -> TSNResNet:
    """Build a TSN ResNet from a depth (26/50/101/152) or explicit per-stage block counts."""
    if layers is None:
        if depth not in DEPTHS:
            raise ValueError(f"unsupported ResNet depth {depth}; use one of {sorted(DEPTHS)} or give layers")
        layers = DEPTHS[depth]
    return TSNResNet(num_classes, list(layers), width, num_frames, dropout)
