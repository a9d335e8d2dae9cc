"""Text-to-video retrieval metrics from a caption x video similarity matrix: R@K and median rank.

As HowTo100M's metrics.py computes them (docs/retrieval-facts.md section 6): rows are captions
(the queries), columns are videos; a caption's rank is the 1-based position of its true video
in the row sorted by descending similarity.
"""
from __future__ import annotations

import torch

KS = (1, 5, 10)


def ranks(sim: torch.Tensor, target: torch.Tensor | None = None,
          positives: list[list[int]] | None = None) -> torch.Tensor:
    """1-based rank of each caption's true video. ``sim`` is ``(captions, videos)``; ``target``
    holds each caption's video column (default: the diagonal, caption i describes video i), or
    ``positives`` every video a caption describes, ranked by the best-scored one of them.

    Ties count against the caption (a non-matching video scored equal to the true one ranks
    ahead of it), so a constant similarity gives the worst rank rather than a lucky one.
    """
    n_cap, n_vid = sim.shape
    mask = torch.zeros_like(sim, dtype=torch.bool)
    if positives is not None:
        for row, pos in enumerate(positives):
            mask[row, pos] = True
    else:
        if target is None:
            if n_cap != n_vid:
                raise ValueError(f"a {n_cap} x {n_vid} similarity matrix has no diagonal: give the "
                                 "true video of every caption")
            target = torch.arange(n_cap)
        mask[torch.arange(n_cap), target] = True
    best = sim.masked_fill(~mask, float("-inf")).max(1, keepdim=True).values
    return ((sim >= best) & ~mask).sum(1) + 1


def retrieval_metrics(sim: torch.Tensor, target: torch.Tensor | None = None) -> dict[str, float]:
    """``r@1``, ``r@5``, ``r@10`` (percent of captions whose video ranks within K) and
    ``median_rank``, text-to-video."""
    r = ranks(sim.float(), target).float()
    out = {f"r@{k}": 100.0 * (r <= k).float().mean().item() for k in KS}
    # torch.median returns the lower middle for an even count; numpy's (and HowTo100M's) mean of
    # the two middles is the usual median rank.
    out["median_rank"] = float(r.sort().values[(len(r) - 1) // 2: len(r) // 2 + 1].mean())
    return out
