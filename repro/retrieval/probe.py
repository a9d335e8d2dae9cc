"""Scoring the caption-retrieval probe on the synthetic validation split (issue 13, part 4).

A synthetic caption can describe more than one video (two validation videos may show the same
class with the same colour and shape; an appearance caption fits every video of that look), so
a caption's rank is that of its best-ranked matching video among the others. Order-only R@1
asks, for every ``order`` caption (see repro/retrieval/captions.py), whether its video scores
above the exact time reverse of the same draw, which the generator puts in the validation split
as the partner class's video of the same index: an order-blind feature scores the two alike and
gets 50 (a tie counts half).
"""
from __future__ import annotations

from collections import defaultdict

import torch

from repro.data.synthetic import CLASSES
from repro.retrieval.captions import Caption

_PARTNER = {c.template: c.partner_of for c in CLASSES if c.partner_of}


def matching_videos(entries: list[dict], captions: list[Caption]) -> list[list[int]]:
    """For each caption, the indices of the ``entries`` it describes: same class and look for an
    ``order``/``event`` caption, same look for an ``appearance`` one."""
    by_class, by_look, index = defaultdict(list), defaultdict(list), {}
    for i, e in enumerate(entries):
        by_class[(e["template"], e["placeholders"][0])].append(i)
        by_look[e["placeholders"][0]].append(i)
        index[str(e["id"])] = i
    out = []
    for c in captions:
        e = entries[index[c.video_id]]
        key = e["placeholders"][0]
        out.append(by_look[key] if c.kind == "appearance" else by_class[(e["template"], key)])
    return out


def best_ranks(sim: torch.Tensor, positives: list[list[int]]) -> torch.Tensor:
    """1-based rank of each caption's best-scored matching video among the non-matching ones;
    a non-matching video scored equal to it ranks ahead (as in repro.retrieval.metrics.ranks)."""
    out = []
    for row, pos in zip(sim, positives):
        mask = torch.zeros_like(row, dtype=torch.bool)
        mask[pos] = True
        best = row[mask].max()
        out.append(int((row[~mask] >= best).sum()) + 1)
    return torch.tensor(out)


def reverse_partners(entries: list[dict]) -> dict[int, int]:
    """Validation index -> index of its exact time reverse: the k-th video of a class whose
    partner is generated as its reverse pairs with the k-th video of the partner class."""
    per_class = defaultdict(list)
    for i, e in enumerate(entries):
        per_class[e["template"]].append(i)
    out = {}
    for rev, base in _PARTNER.items():
        for a, b in zip(per_class.get(base, []), per_class.get(rev, [])):
            if entries[a]["placeholders"] != entries[b]["placeholders"]:
                raise ValueError(f"videos {entries[a]['id']} and {entries[b]['id']} should be one draw "
                                 "and its reverse but look different: is this the validation split?")
            out[a], out[b] = b, a
    return out


def order_only_r1(sim: torch.Tensor, captions: list[Caption], entries: list[dict]) -> float | None:
    """Percent of ``order`` captions whose video outscores its reverse (ties count half); None
    without any such caption."""
    index = {str(e["id"]): i for i, e in enumerate(entries)}
    partner = reverse_partners(entries)
    wins = []
    for row, c in zip(sim, captions):
        v = index[c.video_id]
        if c.kind != "order" or v not in partner:
            continue
        a, b = float(row[v]), float(row[partner[v]])
        wins.append(1.0 if a > b else 0.5 if a == b else 0.0)
    return 100.0 * sum(wins) / len(wins) if wins else None
