"""SGD with Nesterov momentum, linear warm-up, then cosine, step or on-plateau decay."""
from __future__ import annotations

import math

import torch
from torch import nn


def build_optimizer(model: nn.Module, train: dict) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=train["lr"], momentum=train["momentum"],
                           nesterov=train["nesterov"],
                           weight_decay=train["weight_decay"])


class LRSchedule:
    """Learning rate per iteration: linear warm-up over ``warmup_epochs``, then the decay.

    ``plateau`` divides by 10 when the validation loss has not improved for
    ``plateau_patience`` epochs (SSAN section 4.2); call :meth:`end_epoch` with that loss.
    """

    def __init__(self, train: dict, iters_per_epoch: int) -> None:
        self.base = train["lr"]
        self.kind = train["schedule"]
        self.epochs = train["epochs"]
        self.steps = train["steps"]
        self.patience = train["plateau_patience"]
        self.ipe = max(1, iters_per_epoch)
        self.warmup = int(train["warmup_epochs"] * self.ipe)
        self.total = self.epochs * self.ipe
        self.factor, self.best, self.bad = 1.0, math.inf, 0

    def lr(self, it: int) -> float:
        if it < self.warmup:
            return self.base * (it + 1) / self.warmup
        if self.kind == "cosine":
            p = (it - self.warmup) / max(1, self.total - self.warmup)
            return self.base * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))
        if self.kind == "step":
            return self.base * 0.1 ** sum(it >= s * self.ipe for s in self.steps)
        return self.base * self.factor

    def end_epoch(self, val_loss: float | None) -> None:
        if self.kind != "plateau" or val_loss is None:
            return
        if val_loss < self.best - 1e-4:
            self.best, self.bad = val_loss, 0
        else:
            self.bad += 1
            if self.bad >= self.patience:
                self.factor, self.bad = self.factor * 0.1, 0

    def state_dict(self) -> dict:
        return {"factor": self.factor, "best": self.best, "bad": self.bad}

    def load_state_dict(self, s: dict) -> None:
        self.factor, self.best, self.bad = s["factor"], s["best"], s["bad"]
