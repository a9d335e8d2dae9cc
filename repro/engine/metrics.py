"""Accuracy metrics from per-video class scores: top-k, per class family, on reversal pairs."""
from __future__ import annotations

import torch

from repro.metrics import computed


def topk(scores: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Percent of videos whose label is among the ``k`` highest scores."""
    k = min(k, scores.shape[1])
    hit = (scores.topk(k, dim=1).indices == labels[:, None]).any(dim=1)
    return 100.0 * hit.float().mean().item()


def family_accuracy(scores: torch.Tensor, labels: torch.Tensor, families: list[str]) -> dict[str, float]:
    """Top-1 percent over the videos of each class family."""
    pred = scores.argmax(1)
    out = {}
    for fam in sorted(set(families)):
        sel = torch.tensor([families[int(l)] == fam for l in labels])
        if sel.any():
            out[fam] = 100.0 * (pred[sel] == labels[sel]).float().mean().item()
    return out


def reversal_pair_accuracy(scores: torch.Tensor, labels: torch.Tensor,
                           pairs: list[list[int]]) -> float | None:
    """Percent of reversal-pair videos scored higher for their class than for its time reverse.

    A model blind to frame order scores a video and its reverse the same, so over a pair whose
    two classes share one frame distribution it cannot beat 50% here.
    """
    partner = {}
    for a, b in pairs:
        partner[a], partner[b] = b, a
    hits = [float(scores[i, int(l)] > scores[i, partner[int(l)]])
            for i, l in enumerate(labels) if int(l) in partner]
    return 100.0 * sum(hits) / len(hits) if hits else None


def summarize(scores: torch.Tensor, labels: torch.Tensor, info: dict) -> dict:
    """A trained row's metrics: top-1/5, the probe's per-family and reversal-pair accuracies,
    then every metric registered with a ``compute`` function (:mod:`repro.metrics`)."""
    out = {"top1": topk(scores, labels, 1), "top5": topk(scores, labels, 5)}
    if info.get("families"):
        out["family"] = family_accuracy(scores, labels, info["families"])
    if info.get("reversal_pairs"):
        out["reversal_pairs"] = reversal_pair_accuracy(scores, labels, info["reversal_pairs"])
    for name, fn in computed():
        value = fn(scores, labels, info)
        if value is not None:
            out[name] = float(value)
    return out
