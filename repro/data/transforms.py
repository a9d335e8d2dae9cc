"""Clip transforms on uint8 frames: train crops (random, multi-scale, scale jitter), flip rules
(swap or skip the left/right classes), evaluation crops; and :func:`normalize`, which the engine
applies on the device.

Geometry follows the reference code: TSN/TSM/RSA's ``GroupMultiScaleCrop`` (scales 1, .875,
.75, .66, max distortion 1, a fixed grid of 13 offsets, then a resize to the crop size) and
PySlowFast's short-side scale jitter followed by a random crop. The reference code resizes
whole frames and then crops; here every crop is drawn in the coordinates of the resized frame
(the same draws, from the same random stream), mapped back to the decoded frame, cut there and
resized once, on uint8. That resizes only the pixels that are kept, in a quarter of the bytes,
and leaves the float conversion and normalisation to the device (``normalize``): a clip stays
uint8 from the decoder to the GPU. tests/test_transforms.py bounds the difference from the
resize-then-crop float path.
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

Box = tuple[int, int, int, int]  # (top, left, height, width)


def resized_shape(h: int, w: int, size: int | Sequence[int]) -> tuple[int, int]:
    """``(H, W)`` of an ``h x w`` frame resized to ``size``: an int is the short side (aspect
    kept, as TSN's GroupScale and PySlowFast round it), ``[H, W]`` a fixed size."""
    if isinstance(size, (list, tuple)):
        return int(size[0]), int(size[1])
    scale = size / min(h, w)
    return round(h * scale), round(w * scale)


def source_box(box: Box, src: tuple[int, int], resized: tuple[int, int]) -> Box:
    """``box`` of the resized frame in the pixels of the ``src`` frame it was resized from,
    rounded to whole pixels (at most half a source pixel off on each side)."""
    top, left, bh, bw = box
    sy, sx = src[0] / resized[0], src[1] / resized[1]
    y0, x0 = round(top * sy), round(left * sx)
    y1 = min(src[0], max(y0 + 1, round((top + bh) * sy)))
    x1 = min(src[1], max(x0 + 1, round((left + bw) * sx)))
    return y0, x0, y1 - y0, x1 - x0


def cut_and_resize(x: torch.Tensor, box: Box, out: tuple[int, int]) -> torch.Tensor:
    """``(T, 3, H, W)`` uint8 -> the ``box`` resized to ``out`` (bilinear, antialiased when it
    shrinks), uint8; a box already of size ``out`` is returned as a view."""
    top, left, h, w = box
    v = x[..., top:top + h, left:left + w]
    if (h, w) == tuple(out):
        return v
    if v.device.type == "cpu":
        # torch's uint8 bilinear kernel (channels-last input, as decoded frames are) rounds once.
        return F.interpolate(v, size=out, mode="bilinear", align_corners=False, antialias=True)
    # Elsewhere (CUDA) the antialiased kernel takes floats: the same filter, rounded back once.
    y = F.interpolate(v.float(), size=out, mode="bilinear", align_corners=False, antialias=True)
    return y.round_().clamp_(0, 255).to(torch.uint8)


def normalize(x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """uint8 clips ``(..., 3, T, H, W)`` -> float, scaled to [0, 1] and normalised per channel,
    on ``x``'s device (call it after the copy to the GPU: a quarter of the bytes cross the bus).
    Float input is taken as already normalised. Either way the result is contiguous: batches
    arrive in the decoders' channels-last memory order (:func:`stack_clips`)."""
    if x.dtype != torch.uint8:
        return x.contiguous()
    m = torch.tensor(mean, device=x.device).view(3, 1, 1, 1)
    s = torch.tensor(std, device=x.device).view(3, 1, 1, 1)
    return x.float().div_(255).sub_(m).div_(s).contiguous()


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
    """``(T, H, W, 3)`` uint8 -> ``(3, T, crop, crop)`` uint8, plus the (possibly swapped) label;
    :func:`normalize` turns it into the network's input on the device.

    ``resize``: the short side (int) or a fixed ``[H, W]``. Training crops by ``crop_mode``:
    ``random`` (a random ``crop`` square), ``multiscale`` (TSN's, resized to ``crop``) or
    ``jitter`` (short side drawn uniformly from ``jitter = [lo, hi]``, then a random crop; the
    resize is not used) or ``jitter_inverse`` (its inverse drawn uniformly from [1/hi, 1/lo],
    PySlowFast's INV_UNIFORM_SAMPLE, which favours the small sides). Flip, with probability
    ``flip_p``, only where ``flip_swap`` is given: the label becomes its partner in ``flip_swap``
    (``swap``), and labels in ``flip_keep`` are never flipped (``skip``). Evaluation: resize and
    centre crop; with ``crops=3`` the three crops along the long side of TSM's 'accurate'
    protocol, stacked as ``(3, 3, T, crop, crop)``. Every crop is cut from the decoded frame and
    resized once (see the module docstring).
    """

    def __init__(self, resize: int | Sequence[int], crop: int, train: bool,
                 flip_swap: dict[int, int] | None = None, flip_p: float = 0.5, crops: int = 1,
                 crop_mode: str = "random", jitter: Sequence[int] | None = None,
                 flip_keep: Sequence[int] = (), single_crop: str = "centre") -> None:
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

    def _train_box(self, h: int, w: int, rng: np.random.Generator) -> tuple[Box, tuple[int, int]]:
        """The training crop as the reference code draws it on the resized frame: the box in
        that frame's pixels, and the resized frame's shape."""
        c = self.crop
        side = (jitter_side(self.jitter, self.crop_mode == "jitter_inverse", rng)
                if self.crop_mode in JITTER_MODES else self.resize)
        rh, rw = resized_shape(h, w, side)
        if self.crop_mode != "multiscale":
            top, left = int(rng.integers(0, rh - c + 1)), int(rng.integers(0, rw - c + 1))
            return (top, left, c, c), (rh, rw)
        sizes = multiscale_sizes(rh, rw, c)
        ch, cw = sizes[int(rng.integers(len(sizes)))]
        offsets = multiscale_offsets(rh, rw, ch, cw)
        top, left = offsets[int(rng.integers(len(offsets)))]
        return (top, left, ch, cw), (rh, rw)

    def plan(self, h: int, w: int, label: int, rng: np.random.Generator) -> tuple[list[Box], list[bool], int]:
        """The random draws of one clip of ``h x w`` frames, without its pixels: the boxes to cut
        from the decoded frames, whether each is flipped, and the (possibly swapped) label. The
        CPU path (:meth:`__call__`) and the GPU decode path (:mod:`repro.data.jpeg_batch`) both
        draw here, so a clip's crop is the same on either."""
        c = self.crop
        if self.train:
            box, resized = self._train_box(h, w, rng)
            boxes = [box]
        else:
            resized = resized_shape(h, w, self.resize)
            boxes = [(t, l, c, c) for t, l in crop_offsets(*resized, c, self.crops, self.single_crop)]
        cuts, flips = [], []
        for box in boxes:
            cuts.append(source_box(box, (h, w), resized))
            # The draw comes first, as it always did, so that a flip rule that keeps a class
            # leaves every other clip's random stream unchanged.
            flip = bool(self.train and self.flip_p > 0 and rng.random() < self.flip_p
                        and label not in self.flip_keep)
            if flip:
                label = self.flip_swap.get(label, label)
            flips.append(flip)
        return cuts, flips, label

    def __call__(self, frames: np.ndarray, label: int,
                 rng: np.random.Generator | None = None) -> tuple[torch.Tensor, int]:
        # (T, 3, H, W) over the decoder's (T, H, W, 3) memory: channels-last, what the uint8
        # resize kernel is fastest on.
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        cuts, flips, label = self.plan(*x.shape[-2:], label, rng or np.random.default_rng())
        return apply_cuts(x, cuts, flips, self.crop), label


def apply_cuts(x: torch.Tensor, cuts: list[Box], flips: list[bool], crop: int) -> torch.Tensor:
    """``(T, 3, H, W)`` uint8 frames, on any device -> each box cut, resized to ``crop`` and
    flipped where planned (:meth:`ClipTransform.plan`): ``(3, T, crop, crop)`` for one box,
    ``(n, 3, T, crop, crop)`` for n."""
    out = []
    for box, flip in zip(cuts, flips):
        v = cut_and_resize(x, box, (crop, crop))
        # Compact, so that a worker sends the crop and not the decoded frames it may view.
        v = v.contiguous(memory_format=torch.channels_last)
        if flip:
            v = v.flip(-1)
        out.append(v.permute(1, 0, 2, 3))  # 3,T,h,w over (T, h, w, 3) memory
    # One crop keeps the (3, T, h, w) shape that training and 1-view evaluation always had.
    return out[0] if len(out) == 1 else stack_clips(out)


def stack_clips(clips: Sequence[torch.Tensor]) -> torch.Tensor:
    """Clips ``(..., 3, T, H, W)`` stacked along a new first dimension, in the decoders'
    ``(T, H, W, 3)`` memory order: copying them into the usual contiguous order is a transpose
    that costs as much as the resize, and :func:`normalize` does it on the device instead."""
    return torch.stack([c.movedim(-4, -1) for c in clips]).movedim(-1, -4)


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
