"""Clip transforms on uint8 frames: resize, train crops (random, multi-scale, scale jitter),
flip rules (swap or skip the left/right classes), evaluation crops, normalise.

Geometry follows the reference code: TSN/TSM/RSA's ``GroupMultiScaleCrop`` (scales 1, .875,
.75, .66, max distortion 1, a fixed grid of 13 offsets, then a resize to the crop size) and
PySlowFast's short-side scale jitter followed by a random crop.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# TSN's multi-scale crop (TSM ops/models.py ``get_augmentation``; RSA the same).
MULTISCALE_SCALES = (1.0, 0.875, 0.75, 0.66)
CROP_MODES = ("random", "multiscale", "jitter", "jitter_inverse")
JITTER_MODES = ("jitter", "jitter_inverse")


def resize_to(x: torch.Tensor, size: int | Sequence[int]) -> torch.Tensor:
    """``(T, 3, H, W)`` resized: ``size`` int = the short side (aspect kept), ``[H, W]`` = fixed."""
    h, w = x.shape[-2:]
    if isinstance(size, (list, tuple)):
        out = (int(size[0]), int(size[1]))
    else:
        scale = size / min(h, w)
        out = (round(h * scale), round(w * scale))
    if out == (h, w):
        return x
    return F.interpolate(x, size=out, mode="bilinear", align_corners=False,
                         antialias=out[0] * out[1] < h * w)


def multiscale_sizes(h: int, w: int, crop: int, scales: Sequence[float] = MULTISCALE_SCALES,
                     max_distort: int = 1) -> list[tuple[int, int]]:
    """Candidate ``(crop_h, crop_w)`` of TSN's multi-scale crop on an ``h x w`` frame: the short
    side times each scale, snapped to ``crop`` within 3 px, paired where the two scale indices
    differ by at most ``max_distort``."""
    base = min(h, w)
    sizes = [int(base * s) for s in scales]
    snap = [crop if abs(s - crop) < 3 else s for s in sizes]
    return [(ch, cw) for i, ch in enumerate(snap) for j, cw in enumerate(snap) if abs(i - j) <= max_distort]


def multiscale_offsets(h: int, w: int, crop_h: int, crop_w: int) -> list[tuple[int, int]]:
    """The fixed ``(top, left)`` grid of TSN's multi-scale crop (``more_fix_crop``): corners,
    centre, edge midpoints and the four quarter points, in quarters of the free space."""
    hs, ws = (h - crop_h) // 4, (w - crop_w) // 4
    grid = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2),  # (row, col) in quarter steps
            (2, 0), (2, 4), (4, 2), (0, 2), (1, 1), (1, 3), (3, 1), (3, 3)]
    return [(r * hs, c * ws) for r, c in grid]


def jitter_side(bounds: Sequence[int], inverse: bool, rng: np.random.Generator) -> int:
    """A short side in ``[lo, hi]``: uniform, or with ``inverse`` ``1 / U(1/hi, 1/lo)`` as
    PySlowFast's ``random_short_side_scale_jitter(inverse_uniform_sampling=True)`` draws it."""
    lo, hi = bounds
    if inverse:
        return int(round(1.0 / rng.uniform(1.0 / hi, 1.0 / lo)))
    return int(round(rng.uniform(lo, hi)))


class ClipTransform:
    """``(T, H, W, 3)`` uint8 -> ``(3, T, crop, crop)`` float, plus the (possibly swapped) label.

    ``resize``: the short side (int) or a fixed ``[H, W]``. Training crops by ``crop_mode``:
    ``random`` (a random ``crop`` square), ``multiscale`` (TSN's, resized to ``crop``) or
    ``jitter`` (short side drawn uniformly from ``jitter = [lo, hi]``, then a random crop; the
    resize is not used) or ``jitter_inverse`` (its inverse drawn uniformly from [1/hi, 1/lo],
    PySlowFast's INV_UNIFORM_SAMPLE, which favours the small sides). Flip, with probability ``flip_p``, only where ``flip_swap`` is given:
    the label becomes its partner in ``flip_swap`` (``swap``), and labels in ``flip_keep`` are
    never flipped (``skip``). Evaluation: resize and centre crop; with ``crops=3`` the three
    crops along the long side of TSM's 'accurate' protocol, stacked as ``(3, 3, T, crop, crop)``.
    """

    def __init__(self, resize: int | Sequence[int], crop: int, train: bool,
                 flip_swap: dict[int, int] | None = None, flip_p: float = 0.5, mean=IMAGENET_MEAN,
                 std=IMAGENET_STD, crops: int = 1, crop_mode: str = "random",
                 jitter: Sequence[int] | None = None, flip_keep: Sequence[int] = (),
                 single_crop: str = "centre") -> None:
        if crops not in (1, 3):
            raise ValueError(f"eval.crops={crops}: use 1 (centre crop) or 3 (three crops along the "
                             "long side)")
        if train and crops != 1:
            raise ValueError("several crops per clip are an evaluation protocol; training takes one")
        if crop_mode not in CROP_MODES:
            raise ValueError(f"crop mode {crop_mode!r}: use one of {', '.join(CROP_MODES)}")
        if crop_mode in JITTER_MODES and not jitter:
            raise ValueError(f"crop mode {crop_mode!r} needs the short-side range jitter=[lo, hi]")
        self.resize, self.crop, self.train, self.crops = resize, crop, train, crops
        self.crop_mode, self.jitter, self.single_crop = crop_mode, jitter, single_crop
        self.flip_swap, self.flip_keep = flip_swap, frozenset(flip_keep)
        self.flip_p = flip_p if flip_swap is not None else 0.0
        self.mean = torch.tensor(mean).view(3, 1, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1, 1)

    def _train_view(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        c = self.crop
        if self.crop_mode in JITTER_MODES:
            x = resize_to(x, jitter_side(self.jitter, self.crop_mode == "jitter_inverse", rng))
        else:
            x = resize_to(x, self.resize)
        h, w = x.shape[-2:]
        if self.crop_mode != "multiscale":
            top, left = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
            return x[..., top:top + c, left:left + c]
        sizes = multiscale_sizes(h, w, c)
        ch, cw = sizes[int(rng.integers(len(sizes)))]
        offsets = multiscale_offsets(h, w, ch, cw)
        top, left = offsets[int(rng.integers(len(offsets)))]
        v = x[..., top:top + ch, left:left + cw]
        return v if (ch, cw) == (c, c) else F.interpolate(v, size=(c, c), mode="bilinear",
                                                          align_corners=False)

    def __call__(self, frames: np.ndarray, label: int,
                 rng: np.random.Generator | None = None) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # T,3,H,W
        rng = rng or np.random.default_rng()
        if self.train:
            views = [self._train_view(x, rng)]
        else:
            x = resize_to(x, self.resize)
            views = [x[..., t:t + self.crop, l:l + self.crop]
                     for t, l in crop_offsets(*x.shape[-2:], self.crop, self.crops, self.single_crop)]
        out = []
        for v in views:
            # The draw comes first, as it always did, so that a flip rule that keeps a class
            # leaves every other clip's random stream unchanged.
            if self.train and self.flip_p > 0 and rng.random() < self.flip_p \
                    and label not in self.flip_keep:
                v = v.flip(-1)
                label = self.flip_swap.get(label, label)
            v = v.permute(1, 0, 2, 3) / 255.0  # 3,T,h,w
            out.append((v - self.mean) / self.std)
        # One crop keeps the (3, T, h, w) shape that training and 1-view evaluation always had.
        return (out[0] if len(out) == 1 else torch.stack(out)), label


def crop_offsets(h: int, w: int, crop: int, crops: int, single: str = "centre") -> list[tuple[int, int]]:
    """``(top, left)`` of the evaluation crops of an ``h x w`` frame: for 3, both ends and the
    centre of the long side (TSM's GroupFullResSample), centred across it; for 1, the centre, or
    with ``single="first"`` the first of those three (left or top: PySlowFast's ssv2.py tests
    spatial index 0 when it takes one crop)."""
    if crop > h or crop > w:
        raise ValueError(f"crop {crop} is larger than the resized frame {h}x{w}; lower the crop "
                         "size or raise the resize")
    top, left = (h - crop) // 2, (w - crop) // 2
    three = [(top, 0), (top, left), (top, w - crop)] if w >= h else [(0, left), (top, left), (h - crop, left)]
    if crops == 1:
        return [three[0]] if single == "first" else [(top, left)]
    return three
