"""Train and evaluate one row: seeds, SGD + schedule, progress bar, a checkpoint per epoch."""
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
from repro.engine.checkpoint import atomic_save, load_if_matching
from repro.engine.metrics import summarize
from repro.engine.optim import LRSchedule, build_optimizer
from repro.errors import TrainingError


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _loader(ds, batch: int, train: bool, workers: int, seed: int) -> DataLoader:
    g = torch.Generator()
    g.manual_seed(seed)
    return DataLoader(ds, batch_size=batch, shuffle=train, drop_last=train, num_workers=workers,
                      collate_fn=collate_clips, generator=g, persistent_workers=workers > 0)


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: DataLoader, device: torch.device,
             progress: bool = True, desc: str = "eval") -> tuple[torch.Tensor, torch.Tensor, int, float]:
    """Per-video scores ``(V, K)`` (softmax), labels, skipped-video count and mean loss."""
    model.eval()
    scores, labels, bad, loss_sum = [], [], 0, 0.0
    for b in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
        bad += b["bad"]
        if "video" not in b:
            continue
        logits = model(b["video"].to(device)).float().cpu()
        loss_sum += F.cross_entropy(logits, b["label"], reduction="sum").item()
        scores.append(logits.softmax(1))
        labels.append(b["label"])
    s, y = torch.cat(scores), torch.cat(labels)
    return s, y, bad, loss_sum / max(1, len(y))


def fit(model: torch.nn.Module, cfg: dict, train_ds, val_ds, info: dict, run_dir: Path,
        config_hash: str, progress: bool = True, desc: str = "") -> dict:
    """Train per ``cfg['train']``, then evaluate on ``val_ds``; resumes from ``run_dir/last.pt``."""
    tr, ev, d = cfg["train"], cfg.get("eval", {}), cfg["data"]
    seed = tr.get("seed", 0)
    seed_everything(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    workers = d.get("num_workers", 0)
    train_loader = _loader(train_ds, tr["batch_size"], True, workers, seed)
    val_loader = _loader(val_ds, ev.get("batch_size", tr["batch_size"]), False, workers, seed)
    max_iters = tr.get("max_iters")
    ipe = len(train_loader) if not max_iters else min(max_iters, len(train_loader))
    opt = build_optimizer(model, tr)
    sched = LRSchedule(tr, ipe)
    ckpt_path = Path(run_dir) / "last.pt"
    start_epoch, bad_train, train_time = 0, 0, 0.0
    ckpt = load_if_matching(ckpt_path, config_hash)
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["schedule"])
        start_epoch, bad_train, train_time = ckpt["epoch"], ckpt["bad_train"], ckpt["train_time"]
        if progress:
            tqdm.write(f"{desc}: resuming from {ckpt_path} at epoch {start_epoch}")
    label_smoothing = tr.get("label_smoothing", 0.0)
    for epoch in range(start_epoch, tr["epochs"]):
        model.train()
        train_ds.set_epoch(epoch)
        t0, seen, loss_sum = time.time(), 0, 0.0
        bar = tqdm(total=ipe, desc=f"{desc} epoch {epoch + 1}/{tr['epochs']}", disable=not progress,
                   leave=False, dynamic_ncols=True, unit="it")
        for i, b in enumerate(train_loader):
            if i >= ipe:
                break
            bad_train += b["bad"]
            if "video" not in b:
                continue
            it = epoch * ipe + i
            for g in opt.param_groups:
                g["lr"] = sched.lr(it)
            x, y = b["video"].to(device), b["label"].to(device)
            loss = F.cross_entropy(model(x), y, label_smoothing=label_smoothing)
            if not math.isfinite(loss.item()):
                raise TrainingError(f"{desc}: loss is {loss.item()} at epoch {epoch + 1} step {i}; "
                                    f"last good checkpoint: {ckpt_path if ckpt_path.exists() else 'none'}")
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
        train_time += time.time() - t0
        val_loss = None
        if sched.kind == "plateau":
            val_loss = evaluate(model, val_loader, device, progress, f"{desc} val")[3]
        sched.end_epoch(val_loss)
        if progress:
            vl = f", val loss {val_loss:.3f}" if val_loss is not None else ""
            tqdm.write(f"{desc} epoch {epoch + 1}/{tr['epochs']}: train loss {loss_sum / max(1, seen):.3f}"
                       f"{vl}, {seen / max(1e-6, time.time() - t0):.0f} clips/s")
        atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                     "schedule": sched.state_dict(), "epoch": epoch + 1, "bad_train": bad_train,
                     "train_time": train_time, "config_hash": config_hash}, ckpt_path)
    t0 = time.time()
    scores, labels, bad_val, val_loss = evaluate(model, val_loader, device, progress, f"{desc} eval")
    metrics = summarize(scores, labels, info)
    metrics["val_loss"] = val_loss
    return {"metrics": metrics, "device": str(device), "train_time_s": train_time,
            "eval_time_s": time.time() - t0, "videos_skipped": bad_train + bad_val,
            "val_videos": int(len(labels)), "scores": scores, "labels": labels}
