"""What every pass over data needs: seeds, loaders, the model's input, autocast, and the budget
of unreadable videos. Shared by training (repro/engine/train.py) and evaluation
(repro/engine/evaluate.py).
"""
from __future__ import annotations

import contextlib
import random

import numpy as np
import torch
from torch.utils.data import DataLoader

from repro.data.dataset import collate_clips
from repro.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalize
from repro.engine import distributed as D
from repro.errors import DatasetError


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of the shuffle order of ``epoch``: a function of (seed, epoch) only, so that a run
    resumed at any epoch draws the same order as one that never stopped."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def make_loader(ds, batch: int, train: bool, workers: int, seed: int, sampler=None) -> DataLoader:
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


def autocast(amp: str, device: torch.device):
    """bf16 autocast on ``device`` for ``amp == "bf16"``; a no-op context for ``"none"``.

    Any device type is accepted (CPU autocast runs bf16 too), so that tests can drive the CUDA
    path on a CPU; runs still train in float32 there, because :func:`amp_mode` gives ``"none"``
    off CUDA."""
    if amp == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
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
