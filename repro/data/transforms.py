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
    partner, facts.md). Evaluation: resize and centre crop.
    """

    def __init__(self, resize: int, crop: int, train: bool, flip_swap: dict[int, int] | None = None,
                 flip_p: float = 0.5, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> None:
        self.resize, self.crop, self.train = resize, crop, train
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
            top, left = int(rng.integers(0, h - self.crop + 1)), int(rng.integers(0, w - self.crop + 1))
        else:
            top, left = (h - self.crop) // 2, (w - self.crop) // 2
        x = x[..., top : top + self.crop, left : left + self.crop]
        if self.train and self.flip_p > 0 and rng.random() < self.flip_p:
            x = x.flip(-1)
            label = self.flip_swap.get(label, label)
        x = x.permute(1, 0, 2, 3) / 255.0  # 3,T,h,w
        return (x - self.mean) / self.std, label
