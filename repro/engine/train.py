"""Train and evaluate one row: seeds, SGD + schedule, progress bar, a checkpoint per epoch.

Failures a long run must survive, and what happens:

- killed (SIGKILL, preemption, Ctrl-C): ``run_dir/last.pt`` is written atomically at the end of
  every epoch with the model, optimizer, schedule and RNG states; the shuffle order of an epoch
  depends only on ``(seed, epoch)``. A re-run resumes from it and, on CPU, ends with the same
  metrics as an uninterrupted run.
- unreadable videos: skipped and counted (``videos_skipped``, ``bad_videos``), unless more than
  ``data.max_bad_fraction`` (default 5%) of the videos of a training epoch or of an evaluation
  fail, which stops the run with a DatasetError that names them.
- NaN/inf loss or weights: a TrainingError that names the epoch and step; the last good
  checkpoint is never overwritten by a diverged model.

Under torchrun (repro/engine/distributed.py) the same code trains data-parallel: DDP with
synchronised BatchNorm, ``train.batch_size`` as the global batch, validation sharded by video
index and gathered, and only rank 0 printing and writing checkpoints. Every rank takes the same
decision at the same step (bad-video budgets and the loss check use all-reduced values), so an
error stops all ranks instead of leaving the others waiting in a collective.

``train.lr_scale_batch``: ``train.lr`` is the lr at that global batch; another batch trains at
``lr * batch_size / lr_scale_batch`` (linear scaling). ``train.amp: bf16`` applies on CUDA only
(CPU runs stay float32); ``train.channels_last`` on any device (oneDNN's CPU convolutions are
faster channels-last too: bench/README.md).
"""
from __future__ import annotations

import contextlib
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from repro.data.dataset import collate_clips
from repro.errors import DatasetError
from repro.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize
from repro.engine import bn_groups
from repro.engine import distributed as D
from repro.engine.checkpoint import BEST, LAST, atomic_save, load_if_matching, rng_state, set_rng_state
from repro.engine.metrics import summarize, topk
from repro.engine.optim import LRSchedule, build_optimizer, set_lr
from repro.errors import TrainingError



def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the shuffle order of ``epoch``: a function of (seed, epoch) only, so that a run
    resumed at any epoch draws the same order as one that never stopped."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def _loader(ds, batch: int, train: bool, workers: int, seed: int, sampler=None) -> DataLoader:
    # Workers persist across epochs and prefetch (two batches each, the default); batches are
    # pinned for an asynchronous copy when they go to a GPU.
    g = torch.Generator()
    g.manual_seed(seed)
    return DataLoader(ds, batch_size=batch, shuffle=train and sampler is None, drop_last=train,
                      num_workers=workers, collate_fn=collate_clips, generator=g, sampler=sampler,
                      persistent_workers=workers > 0, pin_memory=D.device().type == "cuda")


def to_input(x: torch.Tensor, device: torch.device, model: torch.nn.Module) -> torch.Tensor:
    """A batch of uint8 clips as ``model``'s input: copied to ``device`` as uint8 (a quarter
    of the bytes of float), then normalised there (:func:`repro.data.transforms.normalize`)
    with the model's ``input_stats`` (``data.mean``/``data.std``, set by the model builder;
    ImageNet's for a model built elsewhere)."""
    mean, std = getattr(model, "input_stats", (IMAGENET_MEAN, IMAGENET_STD))
    return normalize(x.to(device, non_blocking=True), mean, std)


def effective_lr(train: dict) -> float:
    """``train.lr`` scaled linearly from ``train.lr_scale_batch`` to the global ``batch_size``
    (Goyal et al. 2017); unchanged when lr_scale_batch is unset."""
    ref = train["lr_scale_batch"]
    return train["lr"] * train["batch_size"] / ref if ref else train["lr"]


def amp_mode(train: dict, device: torch.device) -> str:
    """``train.amp`` on CUDA (no recipe sets bf16: the references train in float32); CPU runs
    stay float32 whatever it says."""
    return train["amp"] if device.type == "cuda" else "none"


def to_channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """2D convolution weights in channels_last (``train.channels_last``): the layout is defined for
    4D tensors (the TSN backbones fold frames into the batch); 3D kernels stay. A convolution's
    output takes its weight's layout, so the activations follow."""
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.weight.data = m.weight.data.contiguous(memory_format=torch.channels_last)
    return model


def _autocast(amp: str, device: torch.device):
    if amp == "bf16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class BadVideoBudget:
    """Counts the unreadable videos of one pass (a training epoch or an evaluation) and stops the
    run as soon as more than ``max_fraction`` of the ``planned`` videos of the pass have failed:
    by then the pass is certain to end above the threshold, so there is no point finishing it."""

    def __init__(self, where: str, planned: int, max_fraction: float) -> None:
        self.where, self.planned, self.max_fraction = where, max(1, planned), max_fraction
        self.bad, self.names = 0, []

    def add(self, batch: dict) -> None:
        self.bad += batch["bad"]
        self.names.extend(batch.get("bad_videos", []))
        if self.bad > self.max_fraction * self.planned:
            shown = "; ".join(self.names[:3]) or "(names not reported by the dataset)"
            more = f"; and {len(self.names) - 3} more" if len(self.names) > 3 else ""
            raise DatasetError(
                f"{self.where}: {self.bad} of the {self.planned} videos could not be read "
                f"({100 * self.bad / self.planned:.1f}%), more than data.max_bad_fraction="
                f"{self.max_fraction:g} allows: {shown}{more}. Fix or replace these files (or remove "
                f"them from the split's annotation file), or raise the threshold (e.g. --set "
                f"data.max_bad_fraction={min(1.0, 2 * self.bad / self.planned):.2f}) to skip them.")


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
    for b in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        budget.add(b)
        if "video" not in b:
            continue
        x = b["video"]
        if x.dim() == 6:  # (B, V, 3, T, H, W): V views of each video (eval.clips x eval.crops)
            score = _multi_view_scores(model, x, device, amp, average)
            losses.append(F.cross_entropy(score, b["label"], reduction="none") if average == "logits"
                          else F.nll_loss(score.clamp_min(1e-12).log(), b["label"], reduction="none"))
        else:
            with _autocast(amp, device):
                logits = model(to_input(x, device, model))
            logits = logits.float().cpu()
            losses.append(F.cross_entropy(logits, b["label"], reduction="none"))
            score = logits if average == "logits" else logits.softmax(1)
        scores.append(score)
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
        with _autocast(amp, device):
            logits = model(to_input(chunk, device, model))
        logits = logits.float().cpu()
        probs.append(logits if average == "logits" else logits.softmax(1))
    return torch.cat(probs).view(n, v, -1).mean(1)


def eval_loader(ds, cfg: dict) -> DataLoader:
    """Evaluation loader of ``ds`` at ``eval.batch_size``: this rank's shard under torchrun."""
    W = D.world()
    if W.enabled:
        ds = Subset(ds, D.shard_indices(len(ds), W.rank, W.world))
    return _loader(ds, max(1, cfg["eval"]["batch_size"] // W.world), False, cfg["data"]["num_workers"],
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
        if "video" not in b:
            continue
        with _autocast(amp, device):
            model(to_input(b["video"], device, model))
        used += 1
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.train(was_training)
    return used


def _eval_total(loader: DataLoader) -> int:
    ds = loader.dataset
    return len(ds.dataset) if isinstance(ds, Subset) else len(ds)


def _val_entry(scores: torch.Tensor, labels: torch.Tensor, loss: float) -> dict:
    return {"val_top1": topk(scores, labels, 1), "val_top5": topk(scores, labels, min(5, scores.shape[1])),
            "val_loss": loss}


def _tensorboard(folder: Path):
    """A TensorBoard writer for ``folder``, or None (with a warning) without the package."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # tensorboard is a dependency; a broken install should not stop a run
        tqdm.write(f"warning: no TensorBoard event files ({e}); the history is still in the result")
        return None
    return SummaryWriter(str(folder))


def _log_epoch(tb, row: dict) -> None:
    if tb is None:
        return
    for k, v in row.items():
        if k != "epoch" and v is not None:
            tb.add_scalar(k.replace("_", "/", 1), v, row["epoch"])
    tb.flush()


def _all_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())


def fit(model: torch.nn.Module, cfg: dict, train_ds, val_ds, info: dict, run_dir: Path,
        config_hash: str, progress: bool = True, desc: str = "", test_ds=None) -> dict:
    """Train per ``cfg['train']``, validating on ``val_ds`` after every epoch, then test the last
    and the best-validation model on ``test_ds`` (default ``val_ds``); resumes from
    ``run_dir/last.pt``.

    The per-epoch history (train loss, lr, validation top-1/top-5/loss) goes into the returned
    dict and into TensorBoard event files in ``run_dir/tb``. ``best.pt`` holds the weights of the
    epoch with the highest validation top-1. ``metrics`` are those of ``eval.checkpoint``;
    ``checkpoints`` holds both.

    Under torchrun every rank calls this with the same arguments; only rank 0 shows progress and
    writes the checkpoint, and every rank returns the gathered metrics.
    """
    tr, ev, d = cfg["train"], cfg["eval"], cfg["data"]
    W = D.world()
    main = W.is_main
    progress = progress and main
    seed = tr["seed"]
    # Rank 0 keeps the single-process seed; other ranks draw their own dropout masks.
    seed_everything(seed + W.rank)
    device = D.device()
    amp = amp_mode(tr, device)
    if tr["channels_last"]:
        to_channels_last(model)
    model.to(device)
    workers = d["num_workers"]
    max_bad = float(d["max_bad_fraction"])
    gbatch = tr["batch_size"]
    try:
        rbatch = D.per_rank_batch(gbatch, W.world)
    except ValueError as e:
        raise TrainingError(str(e)) from e
    # BatchNorm over train.bn_group clips: split on this device, or synchronised over ranks.
    model = bn_groups.apply(model, tr["bn_group"], rbatch, device).to(device)
    net = model  # what is trained: DDP around it under torchrun
    if W.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    sampler = (D.GlobalBatchSampler(train_ds, gbatch, lambda e: epoch_seed(seed, e), W.rank, W.world)
               if W.enabled else None)
    train_loader = _loader(train_ds, rbatch, True, workers, seed, sampler)
    val_loader = eval_loader(val_ds, cfg)
    max_iters = tr["max_iters"]
    ipe = len(train_loader) if not max_iters else min(max_iters, len(train_loader))
    if tr["epochs"] < 1 or ipe < 1:
        # An untrained model's numbers are not a result.
        raise TrainingError(
            f"{desc + ': ' if desc else ''}0 training steps (train.epochs={tr['epochs']}, "
            f"{len(train_ds)} training videos at a global batch of {gbatch} give {ipe} full batches "
            "per epoch); set train.epochs >= 1 and a train.batch_size no larger than the training set")
    lr = effective_lr(tr)
    tr_eff = {**tr, "lr": lr}
    opt = build_optimizer(net, tr_eff)
    sched = LRSchedule(tr_eff, ipe)
    ckpt_path, best_path = Path(run_dir) / LAST, Path(run_dir) / BEST
    start_epoch, bad_train, train_time, bad_names = 0, 0, 0.0, []
    history: list[dict] = []
    best = {"epoch": 0, "top1": -1.0}
    ckpt = load_if_matching(ckpt_path, config_hash)  # every rank loads it
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["schedule"])
        start_epoch, bad_train, train_time = ckpt["epoch"], ckpt["bad_train"], ckpt["train_time"]
        bad_names = list(ckpt.get("bad_videos", []))
        history, best = list(ckpt.get("history", [])), ckpt.get("best", best)
        ranks = ckpt.get("rng_ranks")
        if ranks is not None and len(ranks) == W.world:
            set_rng_state(ranks[W.rank])
        elif "rng" in ckpt and main:  # older checkpoints lack it: they resume, just not bit-exactly
            set_rng_state(ckpt["rng"])
        # Printed even without progress bars: a log must show that a row was resumed.
        if main:
            tqdm.write(f"{desc or 'fit'}: resuming from {ckpt_path} at epoch {start_epoch}")
    good_epoch = start_epoch if ckpt is not None else 0
    prefix = f"{desc}: " if desc else ""

    def last_good() -> str:
        if good_epoch == 0:
            return "none (no epoch finished yet)"
        return f"{ckpt_path} (end of epoch {good_epoch}, left unchanged)"

    label_smoothing = tr["label_smoothing"]
    tb = _tensorboard(Path(run_dir) / "tb") if main else None
    val_metrics = None
    for epoch in range(start_epoch, tr["epochs"]):
        net.train()
        train_ds.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)  # its order is the single-process order of this epoch
        # The shuffle order is drawn from this generator when the loader's iterator is created
        # just below; reseeding it per epoch makes the order independent of earlier epochs.
        train_loader.generator.manual_seed(epoch_seed(seed, epoch))
        budget = BadVideoBudget(f"{prefix}training epoch {epoch + 1}", ipe * gbatch, max_bad)
        t0, seen, loss_sum = time.time(), 0, 0.0
        bar = tqdm(total=ipe, desc=f"{desc} epoch {epoch + 1}/{tr['epochs']}", disable=not progress,
                   leave=False, dynamic_ncols=True, unit="it")
        for i, b in enumerate(train_loader):
            if i >= ipe:
                break
            has_video = "video" in b
            if W.enabled:
                # Summed over ranks, so that every rank stops (or skips a step) together: DDP
                # needs all ranks in every backward.
                bad, missing = D.all_sum([b["bad"], 0 if has_video else 1], device)
                b = {**b, "bad": int(bad)}
                has_video = missing == 0
            bad_train += b["bad"]
            budget.add(b)
            if not has_video:
                continue
            it = epoch * ipe + i
            set_lr(opt, sched.lr(it))
            x, y = to_input(b["video"], device, model), b["label"].to(device, non_blocking=True)
            with _autocast(amp, device):
                logits = net(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
            step_loss, step_n = loss.item(), len(y)
            if W.enabled:  # the global batch's mean loss: the same finite/NaN verdict on every rank
                tot, step_n = D.all_sum([step_loss * len(y), len(y)], device)
                step_loss, step_n = tot / max(1, step_n), int(step_n)
            if not math.isfinite(step_loss):
                raise TrainingError(
                    f"{prefix}loss is {step_loss} at epoch {epoch + 1} step {i + 1}/{ipe} (iteration "
                    f"{it + 1}); last good checkpoint: {last_good()}. Lower train.lr or set "
                    f"train.grad_clip; note that a changed config trains the row from scratch, while "
                    f"a re-run of the same config resumes from that checkpoint")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if tr["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(net.parameters(), tr["grad_clip"])
            opt.step()
            seen += step_n
            loss_sum += step_loss * step_n
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.3f}", lr=f"{sched.lr(it):.4f}",
                            clips_s=f"{seen / max(1e-6, time.time() - t0):.0f}")
        bar.close()
        if W.enabled:
            budget.names = [n for part in D.all_gather(budget.names) for n in part]
        bad_names.extend(budget.names)
        train_time += time.time() - t0
        if tr["precise_bn"]:  # at most an epoch's batches, as PySlowFast caps it at the loader's
            precise_bn(model, train_loader, min(tr["precise_bn"], ipe), device, amp)
        # Validation after every epoch: the history, the plateau schedule and the best epoch.
        vidx: list[int] = []
        vs, vy, vbad, val_loss = evaluate(model, val_loader, device, progress,
                                          f"{prefix}validation after epoch {epoch + 1}", max_bad,
                                          bad_names, amp=amp, video_index=vidx, average=ev["average"])
        val_metrics = (vs, vy, vbad, val_loss, vidx)
        sched.end_epoch(val_loss)
        row = {"epoch": epoch + 1, "lr": sched.lr((epoch + 1) * ipe - 1),
               "train_loss": loss_sum / max(1, seen), **_val_entry(vs, vy, val_loss)}
        history.append(row)
        _log_epoch(tb, row)
        if progress:
            tqdm.write(f"{desc} epoch {epoch + 1}/{tr['epochs']}: train loss {row['train_loss']:.3f}, "
                       f"val top1 {row['val_top1']:.1f} (loss {val_loss:.3f}), "
                       f"{seen / max(1e-6, time.time() - t0):.0f} clips/s")
        # A finite loss can still leave inf/NaN weights after the last step of an epoch; never
        # let such a model replace the last good checkpoint. (DDP keeps the ranks' weights equal,
        # so all ranks agree.)
        if not _all_finite(model):
            raise TrainingError(f"{prefix}the weights became NaN/inf during epoch {epoch + 1} (the loss "
                                f"was finite); last good checkpoint: {last_good()}. Lower train.lr or "
                                f"set train.grad_clip")
        if row["val_top1"] > best["top1"]:
            best = {"epoch": epoch + 1, "top1": row["val_top1"]}
            if main:  # before last.pt: a resumed run never points at a best.pt it lacks
                atomic_save({"model": model.state_dict(), "epoch": epoch + 1,
                             "config_hash": config_hash}, best_path)
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                 "schedule": sched.state_dict(), "epoch": epoch + 1, "bad_train": bad_train,
                 "bad_videos": sorted(set(bad_names)), "train_time": train_time,
                 "config_hash": config_hash, "rng": rng_state(), "history": history, "best": best}
        if W.enabled:  # each rank's own RNG, restored per rank when resumed at the same world size
            state["rng_ranks"] = D.all_gather(state["rng"])
        if main:
            atomic_save(state, ckpt_path)
        good_epoch = epoch + 1
    if tb is not None:
        tb.close()
    t0 = time.time()
    test_ds = val_ds if test_ds is None else test_ds
    test_loader = val_loader if test_ds is val_ds else eval_loader(test_ds, cfg)
    checkpoints = {}
    for which in ("last", "best"):
        if which == "best":
            if best["epoch"] in (0, tr["epochs"]):  # the best epoch is the last one
                checkpoints["best"] = {**checkpoints["last"], "epoch": tr["epochs"]}
                continue
            model.load_state_dict(load_if_matching(best_path, config_hash)["model"])
        index: list[int] = []
        if which == "last" and test_ds is val_ds and val_metrics is not None:
            scores, labels, bad_val, loss, index = val_metrics  # the last epoch's validation
        else:
            scores, labels, bad_val, loss = evaluate(model, test_loader, device, progress,
                                                     f"{prefix}test ({which} epoch)", max_bad,
                                                     bad_names, amp=amp, video_index=index,
                                                     average=ev["average"])
        metrics = summarize(scores, labels, info)
        metrics["val_loss"] = loss
        checkpoints[which] = {"metrics": metrics, "scores": scores, "labels": labels,
                              "index": index, "bad": bad_val,
                              "epoch": tr["epochs"] if which == "last" else best["epoch"]}
    chosen = checkpoints[ev["checkpoint"]]
    return {"metrics": chosen["metrics"], "device": str(device), "train_time_s": train_time,
            "eval_time_s": time.time() - t0, "videos_skipped": bad_train + chosen["bad"],
            "bad_videos": sorted(set(bad_names)),
            "val_videos": int(len(chosen["labels"])), "scores": chosen["scores"],
            "labels": chosen["labels"], "index": chosen["index"], "history": history,
            "checkpoints": {k: {"epoch": c["epoch"], "top1": c["metrics"]["top1"],
                                "top5": c["metrics"]["top5"]} for k, c in checkpoints.items()},
            "checkpoint": ev["checkpoint"],
            # (clips, crops) actually used, from the dataset that was tested
            "views": tuple(getattr(test_ds, "views", (1, 1))),
            "world_size": W.world, "global_batch": gbatch, "lr": lr, "amp": amp,
            "channels_last": bool(tr["channels_last"])}
