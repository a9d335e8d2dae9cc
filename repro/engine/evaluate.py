"""Evaluation: per-video scores over one or many views, the evaluation loader (sharded under
torchrun), and precise BatchNorm statistics before a validation.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from repro.data.jpeg_batch import on_device
from repro.engine import distributed as D
from repro.engine.inputs import BadVideoBudget, autocast, make_loader, to_input
from repro.errors import DatasetError
from repro.progress import progress_bar


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device,
             progress: bool = True, desc: str = "eval", max_bad_fraction: float = 1.0,
             bad_names: list[str] | None = None, amp: str = "none",
             video_index: list[int] | None = None,
             average: str = "softmax") -> tuple[torch.Tensor, torch.Tensor, int, float]:
    """Per-video scores ``(N, K)``, labels, skipped-video count and mean loss.

    ``average`` (``eval.average``) says what a score is: ``softmax``, the class probabilities
    (PySlowFast's test), or ``logits``, the raw outputs (TSM's test_models.py without
    ``--softmax``). Items of several views (``(V, 3, T, H, W)``, see
    :func:`repro.data.dataset.with_eval_views`) score as the mean over their views, still one
    row per video; the loss is the cross-entropy of that mean (for ``softmax``, its NLL).
    ``video_index`` receives the dataset index of every returned row.

    Stops with a DatasetError when more than ``max_bad_fraction`` of the videos are unreadable;
    the names of the skipped ones are appended to ``bad_names``. Under torchrun ``loader`` holds
    this rank's shard (:func:`repro.engine.distributed.shard_indices`); the shards are gathered
    and ordered by video index, so every rank returns what one process would.
    """
    model.eval()
    scores, labels, index, losses = [], [], [], []
    distributed = D.world().enabled
    total = _eval_total(loader) if distributed else len(loader.dataset)
    # Under torchrun the budget is checked on the gathered count, on every rank at once.
    budget = BadVideoBudget(desc or "evaluation", total, math.inf if distributed else max_bad_fraction)
    for b in progress_bar(loader, enabled=progress, desc=desc, leave=False, dynamic_ncols=True):
        b = on_device(b, device)  # data.decode=gpu: the JPEGs are decoded here
        budget.add(b)
        if "video" not in b:
            continue
        score, loss = _score_batch(model, b, device, amp, average)
        scores.append(score)
        losses.append(loss)
        labels.append(b["label"])
        index.append(b["index"])
    if distributed:
        parts = D.all_gather((scores, labels, index, losses, budget.bad, budget.names))
        scores, labels, index, losses = ([t for p in parts for t in p[k]] for k in range(4))
        budget = BadVideoBudget(desc or "evaluation", total, max_bad_fraction)
        for p in parts:
            budget.add({"bad": p[4], "bad_videos": p[5]})
    if bad_names is not None:
        bad_names.extend(budget.names)
    if not labels:
        raise DatasetError(f"{desc or 'evaluation'}: none of the {total} videos could be "
                           f"read ({'; '.join(budget.names[:3])}); check the dataset root and files")
    s, y, loss, idx = torch.cat(scores), torch.cat(labels), torch.cat(losses), torch.cat(index)
    if distributed:  # video order, as one process sees them
        order = idx.argsort()
        s, y, loss, idx = s[order], y[order], loss[order], idx[order]
    if video_index is not None:  # which videos the rows are (unreadable ones have none)
        video_index.extend(int(i) for i in idx)
    return s, y, budget.bad, loss.double().sum().item() / max(1, len(y))


def _score_batch(model: torch.nn.Module, b: dict, device: torch.device, amp: str,
                 average: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``(B, K)`` of one batch and each video's loss ``(B,)``, on the CPU."""
    x = b["video"]
    if x.dim() == 6:  # (B, V, 3, T, H, W): V views of each video (eval.clips x eval.crops)
        score = _multi_view_scores(model, x, device, amp, average)
        loss = (F.cross_entropy(score, b["label"], reduction="none") if average == "logits"
                else F.nll_loss(score.clamp_min(1e-12).log(), b["label"], reduction="none"))
        return score, loss
    with autocast(amp, device):
        logits = model(to_input(x, device, model))
    logits = logits.float().cpu()
    loss = F.cross_entropy(logits, b["label"], reduction="none")
    return (logits if average == "logits" else logits.softmax(1)), loss


def _multi_view_scores(model: torch.nn.Module, x: torch.Tensor, device: torch.device,
                       amp: str, average: str = "softmax") -> torch.Tensor:
    """Scores (softmax or logits, see :func:`evaluate`) of every view, averaged per video:
    ``(B, V, ...) -> (B, K)``.

    The views go through the model ``B`` clips at a time, so that 30-view evaluation needs no
    more memory than 1-view evaluation at the same eval batch size (eval-mode BatchNorm makes
    the scores independent of how clips are grouped).
    """
    n, v = x.shape[:2]
    flat = x.flatten(0, 1)
    probs = []
    for chunk in flat.split(max(1, n)):
        with autocast(amp, device):
            logits = model(to_input(chunk, device, model))
        logits = logits.float().cpu()
        probs.append(logits if average == "logits" else logits.softmax(1))
    return torch.cat(probs).view(n, v, -1).mean(1)


def eval_loader(ds, cfg: dict) -> DataLoader:
    """Evaluation loader of ``ds`` at ``eval.batch_size``: this rank's shard under torchrun."""
    W = D.world()
    if W.enabled:
        ds = Subset(ds, D.shard_indices(len(ds), W.rank, W.world))
    return make_loader(ds, max(1, cfg["eval"]["batch_size"] // W.world), False, cfg["data"]["num_workers"],
                   cfg["train"]["seed"])


@torch.no_grad()
def precise_bn(model: torch.nn.Module, loader: DataLoader, batches: int, device: torch.device,
               amp: str = "none") -> int:
    """Recompute every BatchNorm's running statistics as the equal-weight average of their values
    over ``batches`` training batches (PySlowFast's ``calculate_and_update_precise_bn``, fvcore's
    ``update_bn_stats``): the running averages of training lag behind the final weights. Returns
    the batches used. Under torchrun each rank averages its own batches (PySlowFast all-reduces
    them), which sync BN makes the same statistics."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: every batch weighs the same
    was_training = model.training
    model.train()
    used = 0
    for b in loader:
        if used >= batches:
            break
        b = on_device(b, device)
        if "video" not in b:
            continue
        with autocast(amp, device):
            model(to_input(b["video"], device, model))
        used += 1
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)
    return used


def _eval_total(loader: DataLoader) -> int:
    ds = loader.dataset
    return len(ds.dataset) if isinstance(ds, Subset) else len(ds)
