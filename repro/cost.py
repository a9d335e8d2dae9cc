"""Model cost in the papers' convention: GFLOPs = 1e9 multiply-accumulates, params in millions.

Counts conv / linear / matmul multiply-adds (torch's FlopCounterMode total / 2, which skips
batch norm, exactly like fvcore minus its batch_norm entry; docs/facts.md section 5) plus
softmax attention, which FlopCounterMode does not see through
``F.scaled_dot_product_attention`` on CPU: during counting that call is swapped for explicit
matmuls. Models are built on the ``meta`` device, so counting needs no memory for activations
and takes well under a second per model.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _explicit_sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **_):
    s = (q @ k.transpose(-2, -1)) * (scale if scale is not None else 1.0 / math.sqrt(q.shape[-1]))
    return s.softmax(-1) @ v


@contextlib.contextmanager
def _countable_attention() -> Iterator[None]:
    original = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = _explicit_sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = original


def count(model: nn.Module, clip: tuple[int, ...]) -> dict[str, float]:
    """GMACs of one forward pass on a clip of shape ``clip`` and parameters (M) of ``model``."""
    params = sum(p.numel() for p in model.parameters()) / 1e6
    device = next(model.parameters()).device
    x = torch.empty(clip, device=device)
    model.eval()
    with torch.no_grad(), _countable_attention(), FlopCounterMode(display=False) as fc:
        model(x)
    return {"gflops": fc.get_total_flops() / 2 / 1e9, "params_m": params}


def cost_of(build: Callable[[], nn.Module], frames: int, size: int = 224) -> dict[str, float]:
    """Build a model on the meta device and count it at ``frames x size x size``."""
    with torch.device("meta"):
        model = build()
    return count(model, (1, 3, frames, size, size))


def model_cost(model: nn.Module, frames: int, size: int = 224) -> dict[str, float]:
    """Cost of an already built model (on any device) at ``frames x size x size``."""
    return count(model, (1, 3, frames, size, size))
