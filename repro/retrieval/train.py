"""Training and testing the retrieval network on frozen clip features, as HowTo100M's train.py.

An epoch is one pass over the training videos in a shuffled order (whole batches only), each
video paired with one of its captions drawn anew every epoch (msrvtt_dataloader.py); the loss is
the bidirectional ranking loss over the batch; Adam, with the lr multiplied by ``lr_decay``
after every epoch (1.0 in the fine-tuning command). The test set is scored in one matrix, text
to video. Sources: docs/retrieval-facts.md sections 5 and 6.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from repro.engine.distributed import device
from repro.progress import progress_bar
from repro.retrieval.loss import MARGIN, max_margin_ranking_loss
from repro.retrieval.metrics import retrieval_metrics
from repro.retrieval.model import RetrievalNet
from repro.retrieval.text import Vocabulary, read_word2vec, tokenize


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
                  recipe: RetrievalRecipe, progress: bool = False) -> list[dict]:
    """Train ``net`` on ``features`` ``(N, Dv)`` and ``captions[i]`` ``(C_i, W)`` token ids of
    video i. Returns the per-epoch history (mean loss, lr)."""
    if len(captions) != len(features):
        raise ValueError(f"{len(features)} videos but captions for {len(captions)}")
    batch = min(recipe.batch_size, len(features))
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    opt = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    history = []
    bar = progress_bar(total=recipe.epochs, desc="retrieval network", unit="epoch", enabled=progress)
    for epoch in range(recipe.epochs):
        net.train()
        order = rng.permutation(len(features))
        pick = [caps[rng.integers(len(caps))] for caps in captions]  # one caption per video
        losses = []
        for start in range(0, len(order) - batch + 1, batch):  # drop_last, as train.py:83-90
            idx = order[start:start + batch]
            tokens = torch.from_numpy(np.stack([pick[i] for i in idx])).to(features.device)
            loss = max_margin_ranking_loss(net(tokens, features[idx]), recipe.margin)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)),
                        "lr": opt.param_groups[0]["lr"]})
        bar.update(1)
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}")
        for g in opt.param_groups:
            g["lr"] *= recipe.lr_decay
    bar.close()
    return history


@torch.no_grad()
def similarities(net: RetrievalNet, features: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``(M, N)`` caption x video similarities (on the CPU) of ``tokens`` ``(M, W)`` and
    ``features`` ``(N, Dv)``, the network in eval mode."""
    net.eval()
    return net(tokens.to(features.device), features).cpu()


def test_retrieval(net: RetrievalNet, features: torch.Tensor, tokens: torch.Tensor,
                   target: torch.Tensor | None = None) -> tuple[dict, torch.Tensor]:
    """R@1/5/10 and median rank of captions ``tokens`` ``(M, W)`` against videos ``features``
    ``(N, Dv)`` (caption i describes video ``target[i]``, default i), and the similarity matrix."""
    sim = similarities(net, features, tokens)
    return retrieval_metrics(sim, target), sim


@dataclass(frozen=True)
class Queries:
    """The test queries of a retrieval run, and how the similarities ``(queries, test clips)``
    are scored into metrics."""

    texts: list[str]
    score: Callable[[torch.Tensor], dict]


def diagonal_queries(captions: list) -> Queries:
    """MSR-VTT / YouCook2: the one query caption of each test clip, its ground truth on the
    diagonal (HowTo100M). The synthetic caption probe has its own
    (:func:`repro.retrieval.probe.probe_queries`)."""
    return Queries([caps[0] for caps in captions], retrieval_metrics)


def run_network(settings: dict, data, train_feats: torch.Tensor, test_feats: torch.Tensor,
                word2vec: str | None, seed: int, queries: Queries,
                progress: bool = False) -> tuple[dict, list[dict], dict]:
    """Train the retrieval network of ``settings`` (a resolved ``retrieval`` config) on the
    training clips' features and captions of ``data`` and test it text to video on ``queries``.

    Returns the metrics, the per-epoch history and facts for the provenance.
    """
    train_caps, test_caps = data.train.captions, queries.texts
    words = {w for caps in train_caps for c in caps for w in tokenize(c)}
    kw: dict = {}
    if settings["word_vectors"] == "word2vec":
        vocab, table = read_word2vec(Path(word2vec), keep=words | {w for c in test_caps for w in tokenize(c)})
        kw["word_vectors"] = torch.from_numpy(table)
    else:
        vocab = Vocabulary(words)
        kw.update(vocab_size=len(vocab), word_dim=settings["word_dim"])
    n = settings["max_words"]
    tokens = [np.stack([vocab.encode(c, n) for c in caps]) for caps in train_caps]
    torch.manual_seed(seed)
    net = RetrievalNet(train_feats.shape[1], settings["embed_dim"], text_encoder=settings["text_encoder"], **kw)
    dev = device()  # the GPU where there is one: d = 6144 is about 90M parameters
    net.to(dev)
    train_feats, test_feats = train_feats.to(dev), test_feats.to(dev)
    recipe = RetrievalRecipe(settings["epochs"], settings["batch_size"], settings["lr"], settings["lr_decay"],
                             settings["margin"], seed)
    history = fit_retrieval(net, train_feats, tokens, recipe, progress)
    sim = similarities(net, test_feats, torch.from_numpy(np.stack([vocab.encode(c, n) for c in test_caps])))
    metrics = queries.score(sim)
    known = sum(w in vocab.index for c in test_caps for w in tokenize(c))
    total = sum(len(tokenize(c)) for c in test_caps)
    info = {"vocabulary": len(vocab) - 1, "train_captions": sum(len(c) for c in train_caps),
            "test_queries": len(test_caps), "test_words_known": round(100.0 * known / max(total, 1), 1),
            "final_loss": history[-1]["loss"] if history else None}
    return metrics, history, info
