"""Training and testing the retrieval network on frozen clip features, as HowTo100M's train.py.

An epoch is one pass over the training videos in a shuffled order (whole batches only), each
video paired with one of its captions drawn anew every epoch (msrvtt_dataloader.py); the loss is
the bidirectional ranking loss over the batch; Adam, with the lr multiplied by ``lr_decay``
after every epoch (1.0 in the fine-tuning command). The test set is scored in one matrix, text
to video. Sources: docs/retrieval-facts.md sections 5 and 6.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from repro.retrieval.loss import MARGIN, max_margin_ranking_loss
from repro.retrieval.metrics import retrieval_metrics
from repro.retrieval.model import RetrievalNet


@dataclass(frozen=True)
class RetrievalRecipe:
    """HowTo100M's fine-tuning command (README.md:64-67; args.py defaults)."""

    epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-4
    lr_decay: float = 1.0
    margin: float = MARGIN
    seed: int = 1


def fit_retrieval(net: RetrievalNet, features: torch.Tensor, captions: list[np.ndarray],
                  recipe: RetrievalRecipe) -> list[dict]:
    """Train ``net`` on ``features`` ``(N, Dv)`` and ``captions[i]`` ``(C_i, W)`` token ids of
    video i. Returns the per-epoch history (mean loss, lr)."""
    if len(captions) != len(features):
        raise ValueError(f"{len(features)} videos but captions for {len(captions)}")
    batch = min(recipe.batch_size, len(features))
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    opt = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    history = []
    for epoch in range(recipe.epochs):
        net.train()
        order = rng.permutation(len(features))
        pick = [caps[rng.integers(len(caps))] for caps in captions]  # one caption per video
        losses = []
        for start in range(0, len(order) - batch + 1, batch):  # drop_last, as train.py:83-90
            idx = order[start:start + batch]
            tokens = torch.from_numpy(np.stack([pick[i] for i in idx]))
            loss = max_margin_ranking_loss(net(tokens, features[idx]), recipe.margin)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)),
                        "lr": opt.param_groups[0]["lr"]})
        for g in opt.param_groups:
            g["lr"] *= recipe.lr_decay
    return history


@torch.no_grad()
def test_retrieval(net: RetrievalNet, features: torch.Tensor, tokens: torch.Tensor,
                   target: torch.Tensor | None = None) -> tuple[dict, torch.Tensor]:
    """R@1/5/10 and median rank of captions ``tokens`` ``(M, W)`` against videos ``features``
    ``(N, Dv)`` (caption i describes video ``target[i]``, default i), and the similarity matrix."""
    net.eval()
    sim = net(tokens, features)
    return retrieval_metrics(sim, target), sim
