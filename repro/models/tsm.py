"""Temporal shift (TSM, Lin et al. ICCV 2019): move a fraction of channels one frame back and
one frame forward, zero-filled at the clip ends. No parameters; it costs no multiply-adds."""
from __future__ import annotations

import torch
from torch import nn


class TemporalShift(nn.Module):
    """On ``(N*T, C, H, W)``: channels ``[0, C/d)`` take the next frame's values, ``[C/d, 2C/d)``
    the previous frame's, the rest stay (TSM's residual shift, d = ``fold_div``)."""

    def __init__(self, num_frames: int, fold_div: int = 8) -> None:
        super().__init__()
        self.num_frames, self.fold_div = num_frames, fold_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nt, c, h, w = x.shape
        t = self.num_frames
        x = x.view(nt // t, t, c, h, w)
        fold = c // self.fold_div
        out = torch.zeros_like(x)
        out[:, :-1, :fold] = x[:, 1:, :fold]
        out[:, 1:, fold : 2 * fold] = x[:, :-1, fold : 2 * fold]
        out[:, :, 2 * fold :] = x[:, :, 2 * fold :]
        return out.view(nt, c, h, w)
