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
"""
from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from repro.data.dataset import collate_clips
from repro.data.ssv2 import DatasetError
from repro.engine.checkpoint import atomic_save, load_if_matching, rng_state, set_rng_state
from repro.engine.metrics import summarize
from repro.engine.optim import LRSchedule, build_optimizer
from repro.errors import TrainingError

DEFAULT_MAX_BAD_FRACTION = 0.05


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the shuffle order of ``epoch``: a function of (seed, epoch) only, so that a run
    resumed at any epoch draws the same order as one that never stopped."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def _loader(ds, batch: int, train: bool, workers: int, seed: int) -> DataLoader:
    g = torch.Generator()
    g.manual_seed(seed)
    return DataLoader(ds, batch_size=batch, shuffle=train, drop_last=train, num_workers=workers,
                      collate_fn=collate_clips, generator=g, persistent_workers=workers > 0)


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
             bad_names: list[str] | None = None) -> tuple[torch.Tensor, torch.Tensor, int, float]:
    """Per-video scores ``(V, K)`` (softmax), labels, skipped-video count and mean loss.

    Stops with a DatasetError when more than ``max_bad_fraction`` of the videos are unreadable;
    the names of the skipped ones are appended to ``bad_names``.
    """
    model.eval()
    scores, labels, loss_sum = [], [], 0.0
    budget = BadVideoBudget(desc or "evaluation", len(loader.dataset), max_bad_fraction)
    for b in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        budget.add(b)
        if "video" not in b:
            continue
        logits = model(b["video"].to(device)).float().cpu()
        loss_sum += F.cross_entropy(logits, b["label"], reduction="sum").item()
        scores.append(logits.softmax(1))
        labels.append(b["label"])
    if bad_names is not None:
        bad_names.extend(budget.names)
    if not labels:
        raise DatasetError(f"{desc or 'evaluation'}: none of the {len(loader.dataset)} videos could be "
                           f"read ({'; '.join(budget.names[:3])}); check the dataset root and files")
    s, y = torch.cat(scores), torch.cat(labels)
    return s, y, budget.bad, loss_sum / max(1, len(y))


def _all_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())


def fit(model: torch.nn.Module, cfg: dict, train_ds, val_ds, info: dict, run_dir: Path,
        config_hash: str, progress: bool = True, desc: str = "") -> dict:
    """Train per ``cfg['train']``, then evaluate on ``val_ds``; resumes from ``run_dir/last.pt``."""
    tr, ev, d = cfg["train"], cfg.get("eval", {}), cfg["data"]
    seed = tr.get("seed", 0)
    seed_everything(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    workers = d.get("num_workers", 0)
    max_bad = d.get("max_bad_fraction")
    max_bad = DEFAULT_MAX_BAD_FRACTION if max_bad is None else float(max_bad)
    train_loader = _loader(train_ds, tr["batch_size"], True, workers, seed)
    val_loader = _loader(val_ds, ev.get("batch_size", tr["batch_size"]), False, workers, seed)
    max_iters = tr.get("max_iters")
    ipe = len(train_loader) if not max_iters else min(max_iters, len(train_loader))
    opt = build_optimizer(model, tr)
    sched = LRSchedule(tr, ipe)
    ckpt_path = Path(run_dir) / "last.pt"
    start_epoch, bad_train, train_time, bad_names = 0, 0, 0.0, []
    ckpt = load_if_matching(ckpt_path, config_hash)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["schedule"])
        start_epoch, bad_train, train_time = ckpt["epoch"], ckpt["bad_train"], ckpt["train_time"]
        bad_names = list(ckpt.get("bad_videos", []))
        if "rng" in ckpt:  # older checkpoints lack it: they resume, just not bit-exactly
            set_rng_state(ckpt["rng"])
        # Printed even without progress bars: a log must show that a row was resumed.
        tqdm.write(f"{desc or 'fit'}: resuming from {ckpt_path} at epoch {start_epoch}")
    good_epoch = start_epoch if ckpt is not None else 0
    prefix = f"{desc}: " if desc else ""

    def last_good() -> str:
        if good_epoch == 0:
            return "none (no epoch finished yet)"
        return f"{ckpt_path} (end of epoch {good_epoch}, left unchanged)"

    label_smoothing = tr.get("label_smoothing", 0.0)
    for epoch in range(start_epoch, tr["epochs"]):
        model.train()
        train_ds.set_epoch(epoch)
        # The shuffle order is drawn from this generator when the loader's iterator is created
        # just below; reseeding it per epoch makes the order independent of earlier epochs.
        train_loader.generator.manual_seed(epoch_seed(seed, epoch))
        budget = BadVideoBudget(f"{prefix}training epoch {epoch + 1}", ipe * tr["batch_size"], max_bad)
        t0, seen, loss_sum = time.time(), 0, 0.0
        bar = tqdm(total=ipe, desc=f"{desc} epoch {epoch + 1}/{tr['epochs']}", disable=not progress,
                   leave=False, dynamic_ncols=True, unit="it")
        for i, b in enumerate(train_loader):
            if i >= ipe:
                break
            bad_train += b["bad"]
            budget.add(b)
            if "video" not in b:
                continue
            it = epoch * ipe + i
            for g in opt.param_groups:
                g["lr"] = sched.lr(it)
            x, y = b["video"].to(device), b["label"].to(device)
            loss = F.cross_entropy(model(x), y, label_smoothing=label_smoothing)
            if not math.isfinite(loss.item()):
                raise TrainingError(
                    f"{prefix}loss is {loss.item()} at epoch {epoch + 1} step {i + 1}/{ipe} (iteration "
                    f"{it + 1}); last good checkpoint: {last_good()}. Lower train.lr or set "
                    f"train.grad_clip; note that a changed config trains the row from scratch, while "
                    f"a re-run of the same config resumes from that checkpoint")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if tr.get("grad_clip"):
                torch.nn.utils.clip_grad_norm_(model.parameters(), tr["grad_clip"])
            opt.step()
            seen += len(y)
            loss_sum += loss.item() * len(y)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{sched.lr(it):.4f}",
                            clips_s=f"{seen / max(1e-6, time.time() - t0):.0f}")
        bar.close()
        bad_names.extend(budget.names)
        train_time += time.time() - t0
        val_loss = None
        if sched.kind == "plateau":
            val_loss = evaluate(model, val_loader, device, progress, f"{prefix}validation after epoch "
                                f"{epoch + 1}", max_bad)[3]
        sched.end_epoch(val_loss)
        if progress:
            vl = f", val loss {val_loss:.3f}" if val_loss is not None else ""
            tqdm.write(f"{desc} epoch {epoch + 1}/{tr['epochs']}: train loss {loss_sum / max(1, seen):.3f}"
                       f"{vl}, {seen / max(1e-6, time.time() - t0):.0f} clips/s")
        # A finite loss can still leave inf/NaN weights after the last step of an epoch; never
        # let such a model replace the last good checkpoint.
        if not _all_finite(model):
            raise TrainingError(f"{prefix}the weights became NaN/inf during epoch {epoch + 1} (the loss "
                                f"was finite); last good checkpoint: {last_good()}. Lower train.lr or "
                                f"set train.grad_clip")
        atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                     "schedule": sched.state_dict(), "epoch": epoch + 1, "bad_train": bad_train,
                     "bad_videos": sorted(set(bad_names)), "train_time": train_time, "config_hash": config_hash,
                     "rng": rng_state()}, ckpt_path)
        good_epoch = epoch + 1
    t0 = time.time()
    scores, labels, bad_val, val_loss = evaluate(model, val_loader, device, progress,
                                                 f"{prefix}evaluation", max_bad, bad_names)
    metrics = summarize(scores, labels, info)
    metrics["val_loss"] = val_loss
    return {"metrics": metrics, "device": str(device), "train_time_s": train_time,
            "eval_time_s": time.time() - t0, "videos_skipped": bad_train + bad_val,
            "bad_videos": sorted(set(bad_names)),
            "val_videos": int(len(labels)), "scores": scores, "labels": labels}
