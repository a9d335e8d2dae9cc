"""Train and evaluate one row: seeds, SGD + schedule, progress bar, a checkpoint per epoch.

Failures a long run must survive, and what happens:

- killed (SIGKILL, preemption, Ctrl-C): ``run_dir/last.pt`` is written atomically at the end of
  every epoch with the model, optimizer, schedule and RNG states, and inside an epoch every
  ``train.checkpoint_every_minutes`` and on SIGUSR1/SIGTERM (:mod:`repro.engine.preempt`) with the
  step too; the shuffle order of an epoch depends only on ``(seed, epoch)``. A re-run resumes
  from it (mid-epoch, the sampler starts at the saved step) and, on CPU, ends with the same
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
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader
from tqdm import tqdm

from repro.data.jpeg_batch import on_device
from repro.engine import bn_groups, distributed as D
from repro.engine import preempt
from repro.engine.checkpoint import BEST, LAST, atomic_save, load_if_matching, rng_state, set_rng_state
from repro.engine.evaluate import eval_loader, evaluate, precise_bn
from repro.engine.inputs import (BadVideoBudget, amp_mode, autocast, effective_lr, epoch_seed, make_loader,
                                 seed_everything, to_channels_last, to_input)
from repro.engine.metrics import summarize, topk
from repro.engine.optim import LRSchedule, build_optimizer, set_lr
from repro.engine.runlog import RunLog
from repro.errors import DiskFull, Preempted, TrainingError
from repro.files import disk_full, free_bytes, thread_disk_full
from repro.progress import progress_bar


@dataclass
class Run:
    """What one :func:`fit` builds once: the model (and DDP around it), loaders, optimiser,
    schedule, device and the names its messages use."""

    cfg: dict
    model: torch.nn.Module
    net: torch.nn.Module  # what is trained: DDP around ``model`` under torchrun
    train_loader: DataLoader
    val_loader: DataLoader
    sampler: D.GlobalBatchSampler
    opt: torch.optim.Optimizer
    sched: LRSchedule
    device: torch.device
    amp: str
    ipe: int  # iterations per epoch
    lr: float
    run_dir: Path
    config_hash: str
    desc: str
    progress: bool

    @property
    def prefix(self) -> str:
        return f"{self.desc}: " if self.desc else ""


@dataclass
class State:
    """What ``last.pt`` carries besides the weights: where training stands."""

    epoch: int = 0
    bad_train: int = 0
    train_time: float = 0.0
    bad_names: list[str] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"epoch": 0, "top1": -1.0})
    good_epoch: int = 0  # the last epoch whose checkpoint was written
    # Resuming inside an epoch (a step checkpoint): the step to start at, the epoch's sums so far
    # and the RNG state at that step.
    partial: dict | None = None
    saved_at: float = field(default_factory=time.monotonic)  # when last.pt was last written (or training began)

    def last_good(self, ckpt: Path) -> str:
        if self.good_epoch == 0:
            return "none (no epoch finished yet)"
        return f"{ckpt} (end of epoch {self.good_epoch}, left unchanged)"


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
    main = D.world().is_main
    run = setup(model, cfg, train_ds, val_ds, Path(run_dir), config_hash, progress and main, desc)
    log = RunLog(run.run_dir if main else None)
    log(f"{desc or 'fit'}: config {config_hash}, {cfg['train']['epochs']} epochs of {run.ipe} iterations, "
        f"{len(train_ds)} training / {len(val_ds)} validation videos, device {run.device}")
    with log.warnings():
        state = resume(run, log)
        with preempt.training():
            val = _epochs(run, state, train_ds, log)
        t0 = time.time()
        test_ds = val_ds if test_ds is None else test_ds
        loader = run.val_loader if test_ds is val_ds else eval_loader(test_ds, cfg)
        checkpoints = test(run, state, loader, val if test_ds is val_ds else None, info)
    for which, c in checkpoints.items():
        log(f"test, {which} epoch ({c['epoch']}): top1 {c['metrics']['top1']:.2f}, top5 {c['metrics']['top5']:.2f}, "
            f"{len(c['labels'])} videos" + (" (the row's number)" if which == cfg["eval"]["checkpoint"] else ""))
    return result(run, state, checkpoints, test_ds, time.time() - t0)


def _epochs(run: Run, state: State, train_ds, log: RunLog) -> tuple | None:
    """Train and validate the epochs left, with a checkpoint after each; the last validation."""
    val, epochs = None, run.cfg["train"]["epochs"]
    with _tensorboard(run.run_dir / "tb", D.world().is_main) as tb:
        for epoch in range(state.epoch, epochs):
            seen, loss_sum, seconds = train_one_epoch(run, state, train_ds, epoch)
            val = validate(run, state, epoch)
            row = {"epoch": epoch + 1, "lr": run.sched.lr((epoch + 1) * run.ipe - 1),
                   "train_loss": loss_sum / max(1, seen), **_val_entry(val[0], val[1], val[3])}
            state.history.append(row)
            _log_epoch(tb, row)
            speed = seen / max(1e-6, seconds)  # training alone: validation is not in it
            line = (f"{run.desc} epoch {epoch + 1}/{epochs}: train loss {row['train_loss']:.3f}, val top1 "
                    f"{row['val_top1']:.1f} (loss {val[3]:.3f}), {speed:.{0 if speed >= 10 else 1}f} clips/s training")
            log(line)
            if run.progress:
                tqdm.write(line)
            save_checkpoint(run, state, epoch, row["val_top1"])
            if _step_checkpoint_wanted(run, state)[0]:  # asked during the last step or the validation
                raise Preempted(f"{run.prefix}stopped on {preempt.signal_name()} after epoch {epoch + 1}; its "
                                f"checkpoint is {run.run_dir / LAST}. Run the same command to resume there")
    return val


def setup(model: torch.nn.Module, cfg: dict, train_ds, val_ds, run_dir: Path, config_hash: str,
          progress: bool, desc: str) -> Run:
    """Seed, place the model, wrap it (BN groups, DDP) and build loaders, optimiser and schedule."""
    tr, W = cfg["train"], D.world()
    seed_everything(tr["seed"] + W.rank)  # rank 0 keeps the single-process seed
    device = D.device()
    if tr["channels_last"]:
        to_channels_last(model)
    model.to(device)
    try:
        rbatch = D.per_rank_batch(tr["batch_size"], W.world)
    except ValueError as e:
        raise TrainingError(str(e)) from e
    # BatchNorm over train.bn_group clips: split on this device, or synchronised over ranks.
    model = bn_groups.apply(model, tr["bn_group"], rbatch, device).to(device)
    net = model
    if W.enabled:
        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    # The single-process order (rank 0 of 1 without torchrun), able to start an epoch mid-way.
    sampler = D.GlobalBatchSampler(train_ds, tr["batch_size"], lambda e: epoch_seed(tr["seed"], e), W.rank, W.world)
    train_loader = make_loader(train_ds, rbatch, True, cfg["data"]["num_workers"], tr["seed"], sampler)
    val_loader = eval_loader(val_ds, cfg)
    ipe = len(train_loader) if not tr["max_iters"] else min(tr["max_iters"], len(train_loader))
    if tr["epochs"] < 1 or ipe < 1:  # an untrained model's numbers are not a result
        raise TrainingError(
            f"{desc + ': ' if desc else ''}0 training steps (train.epochs={tr['epochs']}, "
            f"{len(train_ds)} training videos at a global batch of {tr['batch_size']} give {ipe} full "
            "batches per epoch); set train.epochs >= 1 and a train.batch_size no larger than the training set")
    tr_eff = {**tr, "lr": effective_lr(tr)}
    opt = build_optimizer(net, tr_eff)
    return Run(cfg, model, net, train_loader, val_loader, sampler, opt, LRSchedule(tr_eff, ipe), device,
               amp_mode(tr, device), ipe, tr_eff["lr"], run_dir, config_hash, desc, progress)


def resume(run: Run, log=None) -> State:
    """The state of ``run_dir/last.pt`` if it was written for this config (weights, optimiser,
    schedule and RNG restored in place), else a fresh one."""
    W, path = D.world(), run.run_dir / LAST
    ckpt = load_if_matching(path, run.config_hash)  # every rank loads it
    if ckpt is None:
        return State()
    run.model.load_state_dict(ckpt["model"])
    run.opt.load_state_dict(ckpt["optimizer"])
    run.sched.load_state_dict(ckpt["schedule"])
    state = State(ckpt["epoch"], ckpt["bad_train"], ckpt["train_time"], list(ckpt.get("bad_videos", [])),
                  list(ckpt.get("history", [])), ckpt.get("best", State().best), good_epoch=ckpt["epoch"])
    ranks = ckpt.get("rng_ranks")
    rng = ranks[W.rank] if ranks is not None and len(ranks) == W.world else ckpt.get("rng") if W.is_main else None
    at = ""
    if "step" in ckpt:  # inside an epoch: the RNG is restored at that step, after the loader skips to it
        state.partial = {**ckpt["partial"], "step": ckpt["step"], "rng": rng}
        at = f", step {ckpt['step']} of {run.ipe}"
    elif rng is not None:  # older checkpoints lack it: they resume, just not bit-exactly
        set_rng_state(rng)
    if W.is_main:  # printed even without progress bars: a log must show that a row was resumed
        tqdm.write(f"{run.desc or 'fit'}: resuming from {path} at epoch {state.epoch + 1 if at else state.epoch}{at}")
        if log is not None:
            log(f"resumed from {path} at epoch {state.epoch + 1 if at else state.epoch}{at}")
    return state


def train_one_epoch(run: Run, state: State, train_ds, epoch: int) -> tuple[int, float, float]:
    """One epoch of SGD; returns (clips seen, summed loss, seconds it took)."""
    tr, W = run.cfg["train"], D.world()
    run.net.train()
    train_ds.set_epoch(epoch)
    part, state.partial = state.partial or {}, None
    start = part.get("step", 0)
    run.sampler.set_epoch(epoch, start)  # the single-process order of this epoch, from step ``start``
    # The loader's iterator draws its workers' base seed from this generator; reseeding it per
    # epoch keeps that independent of earlier epochs.
    run.train_loader.generator.manual_seed(epoch_seed(tr["seed"], epoch))
    budget = BadVideoBudget(f"{run.prefix}training epoch {epoch + 1}", run.ipe * tr["batch_size"],
                            float(run.cfg["data"]["max_bad_fraction"]))
    t0, seen, loss_sum = time.time() - part.get("seconds", 0.0), part.get("seen", 0), part.get("loss_sum", 0.0)
    bar = progress_bar(total=run.ipe, desc=f"{run.desc} epoch {epoch + 1}/{tr['epochs']}", enabled=run.progress,
                       leave=False, dynamic_ncols=True, unit="it", initial=start)
    if part.get("rng") is not None:
        set_rng_state(part["rng"])
    for i, b in enumerate(run.train_loader, start):
        if i >= run.ipe:  # train.max_iters caps the epoch
            break
        b, has_video = _agree_on_batch(on_device(b, run.device), run.device)
        state.bad_train += b["bad"]
        budget.add(b)
        if not has_video:
            continue
        step_loss, step_n = train_step(run, state, b, epoch, i)
        seen += step_n
        loss_sum += step_loss * step_n
        bar.update(1)
        bar.set_postfix(loss=f"{step_loss:.3f}", lr=f"{run.sched.lr(epoch * run.ipe + i):.4f}",
                        clips_s=f"{seen / max(1e-6, time.time() - t0):.0f}")
        stop, due = _step_checkpoint_wanted(run, state)
        if (stop or due) and i + 1 < run.ipe:
            save_step_checkpoint(run, state, epoch, i + 1, {"seen": seen, "loss_sum": loss_sum,
                                                             "seconds": time.time() - t0})
            if stop:
                raise Preempted(f"{run.prefix}stopped on {preempt.signal_name()} at epoch {epoch + 1}, "
                                f"step {i + 1} of {run.ipe}; the step checkpoint is {run.run_dir / LAST}. "
                                "Run the same command to resume there")
    bar.close()
    if W.enabled:
        budget.names = [n for part in D.all_gather(budget.names) for n in part]
    state.bad_names.extend(budget.names)
    seconds = time.time() - t0
    state.train_time += seconds
    return seen, loss_sum, seconds


def _step_checkpoint_wanted(run: Run, state: State) -> tuple[bool, bool]:
    """(stop, due): whether a preemption was asked for, and whether
    ``train.checkpoint_every_minutes`` have passed since the last checkpoint; the same answers on
    every rank (DDP needs them together), any rank's clock sufficing."""
    every = float(run.cfg["train"]["checkpoint_every_minutes"])
    due = bool(every) and time.monotonic() - state.saved_at >= 60.0 * every
    if not D.world().enabled:
        return preempt.requested(), due
    stop, due = D.all_sum([1.0 if preempt.requested() else 0.0, 1.0 if due else 0.0], run.device)
    return stop > 0, due > 0


def save_step_checkpoint(run: Run, state: State, epoch: int, step: int, sums: dict) -> None:
    """``last.pt`` inside an epoch: the state after ``step`` steps of ``epoch`` (0-based), the
    epoch's sums so far and every RNG, so that a resumed run continues as if never stopped."""
    _write_last(run, state, epoch=epoch, step=step, partial=sums)


def _agree_on_batch(b: dict, device: torch.device) -> tuple[dict, bool]:
    """The batch's unreadable count and whether it has clips, the same on every rank: summed over
    ranks, so that every rank stops (or skips a step) together, as DDP needs all ranks in every
    backward."""
    has_video = "video" in b
    if not D.world().enabled:
        return b, has_video
    bad, missing = D.all_sum([b["bad"], 0 if has_video else 1], device)
    return {**b, "bad": int(bad)}, missing == 0


def train_step(run: Run, state: State, b: dict, epoch: int, i: int) -> tuple[float, int]:
    """Forward, loss check, backward and update on one batch; the global batch's (mean loss, size)."""
    tr = run.cfg["train"]
    it = epoch * run.ipe + i
    set_lr(run.opt, run.sched.lr(it))
    x, y = to_input(b["video"], run.device, run.model), b["label"].to(run.device, non_blocking=True)
    with autocast(run.amp, run.device):
        logits = run.net(x)
    loss = F.cross_entropy(logits.float(), y, label_smoothing=tr["label_smoothing"])
    step_loss, step_n = loss.item(), len(y)
    if D.world().enabled:  # the global batch's mean loss: the same finite/NaN verdict on every rank
        tot, step_n = D.all_sum([step_loss * len(y), len(y)], run.device)
        step_loss, step_n = tot / max(1, step_n), int(step_n)
    if not math.isfinite(step_loss):
        raise TrainingError(
            f"{run.prefix}loss is {step_loss} at epoch {epoch + 1} step {i + 1}/{run.ipe} (iteration "
            f"{it + 1}); last good checkpoint: {state.last_good(run.run_dir / LAST)}. Lower train.lr or set "
            f"train.grad_clip; note that a changed config trains the row from scratch, while "
            f"a re-run of the same config resumes from that checkpoint")
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    if tr["grad_clip"]:
        torch.nn.utils.clip_grad_norm_(run.net.parameters(), tr["grad_clip"])
    run.opt.step()
    return step_loss, step_n


def validate(run: Run, state: State, epoch: int) -> tuple:
    """Validation after an epoch (precise BN first, if asked): (scores, labels, skipped, loss,
    video index), for the history, the plateau schedule and the best epoch."""
    tr = run.cfg["train"]
    if tr["precise_bn"]:  # at most an epoch's batches, as PySlowFast caps it at the loader's
        precise_bn(run.model, run.train_loader, min(tr["precise_bn"], run.ipe), run.device, run.amp)
    vidx: list[int] = []
    vs, vy, vbad, val_loss = evaluate(run.model, run.val_loader, run.device, run.progress,
                                      f"{run.prefix}validation after epoch {epoch + 1}",
                                      float(run.cfg["data"]["max_bad_fraction"]), state.bad_names,
                                      amp=run.amp, video_index=vidx, average=run.cfg["eval"]["average"])
    run.sched.end_epoch(val_loss)
    return vs, vy, vbad, val_loss, vidx


def save_checkpoint(run: Run, state: State, epoch: int, val_top1: float) -> None:
    """``best.pt`` when the epoch beats the best validation top-1, then ``last.pt``; never a
    model whose weights went NaN/inf."""
    W = D.world()
    # A finite loss can still leave inf/NaN weights after the last step of an epoch. (DDP keeps
    # the ranks' weights equal, so all ranks agree.)
    if not _all_finite(run.model):
        raise TrainingError(f"{run.prefix}the weights became NaN/inf during epoch {epoch + 1} (the loss "
                            f"was finite); last good checkpoint: {state.last_good(run.run_dir / LAST)}. "
                            "Lower train.lr or set train.grad_clip")
    if val_top1 > state.best["top1"]:
        state.best = {"epoch": epoch + 1, "top1": val_top1}
        if W.is_main:  # before last.pt: a resumed run never points at a best.pt it lacks
            atomic_save({"model": run.model.state_dict(), "epoch": epoch + 1,
                         "config_hash": run.config_hash}, run.run_dir / BEST)
    _write_last(run, state, epoch=epoch + 1)
    state.good_epoch = epoch + 1


def _write_last(run: Run, state: State, **where) -> None:
    """``last.pt``: weights, optimiser, schedule, every RNG and where training stands (``epoch``,
    plus ``step`` and the epoch's ``partial`` sums for a step checkpoint)."""
    W = D.world()
    ckpt = {"model": run.model.state_dict(), "optimizer": run.opt.state_dict(),
            "schedule": run.sched.state_dict(), **where, "bad_train": state.bad_train,
            "bad_videos": sorted(set(state.bad_names)), "train_time": state.train_time,
            "config_hash": run.config_hash, "rng": rng_state(), "history": state.history, "best": state.best}
    if W.enabled:  # each rank's own RNG, restored per rank when resumed at the same world size
        ckpt["rng_ranks"] = D.all_gather(ckpt["rng"])
    if W.is_main:
        atomic_save(ckpt, run.run_dir / LAST)
    state.saved_at = time.monotonic()  # train.checkpoint_every_minutes counts from here
    # No rank goes on before last.pt is on disk: a rank that then stops (preemption) would have
    # torchrun's agent terminate rank 0 in the middle of writing it.
    D.barrier()


def test(run: Run, state: State, loader: DataLoader, last_val: tuple | None, info: dict) -> dict:
    """Metrics, scores and labels of the last and the best-validation model on ``loader``'s
    videos; ``last_val`` (the last epoch's validation, when the test set is the validation set)
    is reused rather than computed again."""
    epochs = run.cfg["train"]["epochs"]
    out = {}
    for which in ("last", "best"):
        if which == "best":
            if state.best["epoch"] in (0, epochs):  # the best epoch is the last one
                out["best"] = {**out["last"], "epoch": epochs}
                continue
            run.model.load_state_dict(load_if_matching(run.run_dir / BEST, run.config_hash)["model"])
        index: list[int] = []
        if which == "last" and last_val is not None:
            scores, labels, bad, loss, index = last_val
        else:
            scores, labels, bad, loss = evaluate(run.model, loader, run.device, run.progress,
                                                 f"{run.prefix}test ({which} epoch)",
                                                 float(run.cfg["data"]["max_bad_fraction"]), state.bad_names,
                                                 amp=run.amp, video_index=index,
                                                 average=run.cfg["eval"]["average"])
        metrics = {**summarize(scores, labels, info), "val_loss": loss}
        out[which] = {"metrics": metrics, "scores": scores, "labels": labels, "index": index, "bad": bad,
                      "epoch": epochs if which == "last" else state.best["epoch"]}
    return out


def result(run: Run, state: State, checkpoints: dict, test_ds, eval_time: float) -> dict:
    """What :func:`fit` returns: the chosen checkpoint's metrics and scores, both checkpoints'
    numbers, the history and how the run was set up."""
    tr, W = run.cfg["train"], D.world()
    chosen = checkpoints[run.cfg["eval"]["checkpoint"]]
    return {"metrics": chosen["metrics"], "device": str(run.device), "train_time_s": state.train_time,
            "eval_time_s": eval_time, "videos_skipped": state.bad_train + chosen["bad"],
            "bad_videos": sorted(set(state.bad_names)),
            "val_videos": int(len(chosen["labels"])), "scores": chosen["scores"],
            "labels": chosen["labels"], "index": chosen["index"], "history": state.history,
            "checkpoints": {k: {"epoch": c["epoch"], "top1": c["metrics"]["top1"],
                                "top5": c["metrics"]["top5"]} for k, c in checkpoints.items()},
            "checkpoint": run.cfg["eval"]["checkpoint"],
            # (clips, crops) actually used, from the dataset that was tested
            "views": tuple(getattr(test_ds, "views", (1, 1))),
            "world_size": W.world, "global_batch": tr["batch_size"], "lr": run.lr, "amp": run.amp,
            "channels_last": bool(tr["channels_last"])}


def _val_entry(scores: torch.Tensor, labels: torch.Tensor, loss: float) -> dict:
    return {"val_top1": topk(scores, labels, 1), "val_top5": topk(scores, labels, min(5, scores.shape[1])),
            "val_loss": loss}


@contextlib.contextmanager
def _tensorboard(folder: Path, enabled: bool) -> Iterator:
    """A TensorBoard writer for ``folder`` (None when not ``enabled``, or without the package),
    closed however training ends; an event file left empty (a full disk, a stop before the first
    epoch's numbers) is removed rather than left as a 0-byte file."""
    tb = None
    try:
        if enabled:
            tb = _summary_writer(folder)
        yield tb
    finally:
        if tb is not None:
            with contextlib.suppress(OSError):
                tb.close()
        for f in Path(folder).glob("events.out.tfevents.*") if enabled else ():
            if f.stat().st_size == 0:  # also one the writer made before it failed to start
                f.unlink()


def _summary_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:  # tensorboard is a dependency; a broken install should not stop a run
        tqdm.write(f"warning: no TensorBoard event files ({e}); the history is still in the result")
        return None
    try:
        return SummaryWriter(str(folder))
    except OSError as e:
        if disk_full(e) is None:
            raise
        raise DiskFull(folder, None, free_bytes(folder)) from None


def _log_epoch(tb, row: dict) -> None:
    if tb is None:
        return
    for k, v in row.items():
        if k != "epoch" and v is not None:
            tb.add_scalar(k.replace("_", "/", 1), v, row["epoch"])
    tb.flush()
    if thread_disk_full() is not None:  # the writer thread met a full disk (repro.files.watch_threads)
        raise DiskFull(tb.log_dir, None, free_bytes(Path(tb.log_dir)))


def _all_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point())
