"""Clip transforms on uint8 frames: resize, crop, flip with a label-swap map, normalise."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ClipTransform:
    """``(T, H, W, 3)`` uint8 -> ``(3, T, crop, crop)`` float, plus the (possibly swapped) label.

    Training: resize the short side to ``resize``, random crop, horizontal flip with
    probability ``flip_p`` only where ``flip_swap`` is given (a left/right class flips into its
    partner, facts.md). Evaluation: resize and centre crop; with ``crops=3`` the three crops
    (left/centre/right, or top/centre/bottom for portrait frames) along the long side that
    TSM's 'accurate' protocol averages, returned stacked as ``(3, 3, T, crop, crop)``.
    """

    def __init__(self, resize: int, crop: int, train: bool, flip_swap: dict[int, int] | None = None,
                 flip_p: float = 0.5, mean=IMAGENET_MEAN, std=IMAGENET_STD, crops: int = 1) -> None:
        if crops not in (1, 3):
            raise ValueError(f"eval.crops={crops}: use 1 (centre crop) or 3 (three crops along the "
                             "long side)")
        if train and crops != 1:
            raise ValueError("several crops per clip are an evaluation protocol; training takes one")
        self.resize, self.crop, self.train, self.crops = resize, crop, train, crops
        self.flip_swap = flip_swap
        self.flip_p = flip_p if flip_swap is not None else 0.0
        self.mean = torch.tensor(mean).view(3, 1, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1, 1)

    def __call__(self, frames: np.ndarray, label: int,
                 rng: np.random.Generator | None = None) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # T,3,H,W
        h, w = x.shape[-2:]
        scale = self.resize / min(h, w)
        if scale != 1.0:
            x = F.interpolate(x, size=(round(h * scale), round(w * scale)), mode="bilinear",
                              align_corners=False, antialias=scale < 1)
        h, w = x.shape[-2:]
        rng = rng or np.random.default_rng()
        if self.train:
            offsets = [(int(rng.integers(0, h - self.crop + 1)), int(rng.integers(0, w - self.crop + 1)))]
        else:
            offsets = crop_offsets(h, w, self.crop, self.crops)
        views = []
        for top, left in offsets:
            v = x[..., top : top + self.crop, left : left + self.crop]
            if self.train and self.flip_p > 0 and rng.random() < self.flip_p:
                v = v.flip(-1)
                label = self.flip_swap.get(label, label)
            v = v.permute(1, 0, 2, 3) / 255.0  # 3,T,h,w
            views.append((v - self.mean) / self.std)
        # One crop keeps the (3, T, h, w) shape that training and 1-view evaluation always had.
        return (views[0] if len(views) == 1 else torch.stack(views)), label


def crop_offsets(h: int, w: int, crop: int, crops: int) -> list[tuple[int, int]]:
    """``(top, left)`` of the evaluation crops of an ``h x w`` frame: the centre for 1 crop; for
    3, both ends and the centre of the long side (TSM's GroupFullResSample), centred across it."""
    if crop > h or crop > w:
        raise ValueError(f"crop {crop} is larger than the resized frame {h}x{w}; lower the crop "
                         "size or raise the resize")
    top, left = (h - crop) // 2, (w - crop) // 2
    if crops == 1:
        return [(top, left)]
    if w >= h:
        return [(top, 0), (top, left), (top, w - crop)]
    return [(0, left), (top, left), (h - crop, left)]
