"""The bidirectional max-margin ranking loss of HowTo100M (loss.py:33-39 of its code).

For a batch of B matched (caption, video) pairs with similarity matrix S and diagonal d, every
other entry of the batch is a negative in both directions:
``mean_ij [relu(m + S_ij - d_i) + relu(m + S_ij - d_j)]``, the mean over all B^2 entries
(the diagonal adds the constant 2m and no gradient). Margin 0.1 (its args.py:72). HowTo100M's
intra-video negative weighting applies to its pre-training batches only, not to the MSR-VTT or
YouCook2 training that SSAN's rows need (docs/retrieval-facts.md section 5).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

MARGIN = 0.1


def max_margin_ranking_loss(sim: torch.Tensor, margin: float = MARGIN) -> torch.Tensor:
    """``sim``: ``(B, B)`` caption x video similarities of B matched pairs (pair i on the diagonal)."""
    if sim.dim() != 2 or sim.shape[0] != sim.shape[1]:
        raise ValueError(f"the ranking loss needs a square matrix of matched pairs, got {tuple(sim.shape)}")
    d = sim.diagonal()
    return (F.relu(margin + sim - d.view(-1, 1)) + F.relu(margin + sim - d.view(1, -1))).mean()
