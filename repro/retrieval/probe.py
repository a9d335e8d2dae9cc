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
from types import SimpleNamespace

import torch

from repro.data.synthetic import CLASSES
from repro.retrieval.captions import Caption, captions_for
from repro.retrieval.config import DEFAULTS
from repro.retrieval.metrics import ranks
from repro.retrieval.train import Queries, run_network

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


def score_probe(sim: torch.Tensor, captions: list[Caption], entries: list[dict]) -> dict:
    """Metrics of the caption probe from a (captions, videos) similarity matrix: ``r@1``,
    ``r@5``, ``r@10`` and ``median_rank`` of the captions that say what happens (``order`` and
    ``event``), ``appearance_r@1`` of the ``appearance`` ones, and ``order_only_r@1``."""
    rank = ranks(sim, positives=matching_videos(entries, captions)).float()
    said = torch.tensor([c.kind != "appearance" for c in captions])
    out = {f"r@{k}": 100.0 * (rank[said] <= k).float().mean().item() for k in (1, 5, 10)}
    r = rank[said].sort().values
    out["median_rank"] = float(r[(len(r) - 1) // 2: len(r) // 2 + 1].mean())
    out["appearance_r@1"] = 100.0 * (rank[~said] <= 1).float().mean().item() if (~said).any() else None
    out["order_only_r@1"] = order_only_r1(sim, captions, entries)
    return out


def probe_queries(entries: list[dict], seed: int) -> Queries:
    """The caption probe's queries: every caption of every synthetic validation video, each
    scored against all of them (:func:`score_probe`)."""
    caps = [c for e in entries for c in captions_for(e, seed)]
    return Queries([c.text for c in caps], lambda sim: score_probe(sim, caps, entries))


def caption_probe(train_feats: torch.Tensor, train_entries: list[dict], val_feats: torch.Tensor,
                  val_entries: list[dict], recipe, text_encoder: str = "maxpool", embed_dim: int = 64,
                  word_dim: int = 32, seed: int = 0) -> dict:
    """The caption probe on given features: :func:`repro.retrieval.train.run_network` with
    learned word embeddings, trained on the training videos' captions (``seed`` draws the
    captions and seeds the network; ``recipe`` gives epochs, batch, lr, its decay and margin)
    and scored on the validation split (:func:`score_probe`, plus ``captions`` and
    ``final_loss``)."""

    side = lambda entries: SimpleNamespace(  # noqa: E731 -- what run_network reads of a Split
        entries=entries, captions=[tuple(c.text for c in captions_for(e, seed)) for e in entries])
    settings = {**DEFAULTS, "word_vectors": "learned", "text_encoder": text_encoder, "embed_dim": embed_dim,
                "word_dim": word_dim, "epochs": recipe.epochs, "batch_size": recipe.batch_size, "lr": recipe.lr,
                "lr_decay": recipe.lr_decay, "margin": recipe.margin}
    data = SimpleNamespace(train=side(train_entries), test=side(val_entries))
    metrics, _, info = run_network(settings, data, train_feats.float(), val_feats.float(), None, seed,
                                   probe_queries(val_entries, seed))
    return {**metrics, "captions": info["test_queries"], "final_loss": info["final_loss"]}
