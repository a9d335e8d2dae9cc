"""SGD with parameter groups (no decay on BN/bias, lr multipliers per kind), and the lr
schedule: linear warm-up, then cosine, step or on-plateau decay, per iteration or per epoch."""
from __future__ import annotations

import math

import torch
from torch import nn


def classifier(model: nn.Module) -> nn.Linear | None:
    """The model's classifier: its last ``nn.Linear``."""
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            last = m
    return last


def param_groups(model: nn.Module, train: dict) -> list[dict]:
    """Parameter groups with their ``lr_mult`` and ``weight_decay``.

    Kinds: ``bn`` (weights and biases of normalisation layers), ``bias`` (other biases),
    ``fc_weight`` / ``fc_bias`` (the classifier, :func:`classifier`) and ``weight``. Kinds named
    in ``train.no_decay`` get no weight decay (``fc_bias`` counts as ``bias``);
    ``train.lr_mult`` multiplies the lr of a kind, the fc kinds falling back to ``bias`` for the
    classifier's bias (TSM's get_optim_policies: bias 2x, fc weight 5x, fc bias 10x with fc_lr5).
    Empty groups are left out.
    """
    fc = classifier(model)
    fc_ids = {id(p): k for k, p in (("fc_weight", getattr(fc, "weight", None)),
                                    ("fc_bias", getattr(fc, "bias", None))) if p is not None}
    bn_ids = {id(p) for m in model.modules()
              if isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm))
              for p in m.parameters(recurse=False)}
    kinds: dict[str, list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        kind = fc_ids.get(id(p)) or ("bn" if id(p) in bn_ids else
                                     "bias" if name.endswith("bias") else "weight")
        kinds.setdefault(kind, []).append(p)
    mult, no_decay, wd = train["lr_mult"], set(train["no_decay"]), train["weight_decay"]
    groups = []
    for kind, params in kinds.items():
        decay_kind = "bias" if kind == "fc_bias" else kind
        lr_mult = mult.get(kind, mult.get("bias", 1.0) if kind == "fc_bias" else 1.0)
        groups.append({"params": params, "kind": kind, "lr_mult": float(lr_mult),
                       "weight_decay": 0.0 if decay_kind in no_decay else wd})
    return groups


def build_optimizer(model: nn.Module, train: dict) -> torch.optim.SGD:
    return torch.optim.SGD(param_groups(model, train), lr=train["lr"], momentum=train["momentum"],
                           nesterov=train["nesterov"], weight_decay=train["weight_decay"])


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr * g.get("lr_mult", 1.0)


class LRSchedule:
    """Learning rate per iteration: linear warm-up over ``warmup_epochs``, then the decay.

    Warm-up rises linearly from ``warmup_start_ratio * lr``. ``lr_step: epoch`` holds the lr for
    a whole epoch and computes it from the 1-based epoch ``E``, as RSA's official code steps its
    warm-up (factor ``s + (1 - s) E / W`` for ``E <= W``) and cosine (``(E - W) / (epochs - W)``
    of the way) once per epoch (main.py, ops/CosineAnnealingLR.py). The cosine ends at
    ``final_lr_ratio * lr``; ``cosine_span: after_warmup`` starts it where the warm-up ends, and
    ``whole`` runs it over every epoch with the warm-up climbing to its value at the warm-up's
    end (PySlowFast's lr_policy.py get_lr_at_epoch with COSINE_AFTER_WARMUP False). ``plateau`` divides by 10 when the validation loss has not
    improved for ``plateau_patience`` epochs (SSAN section 4.2); call :meth:`end_epoch` with it.
    """

    def __init__(self, train: dict, iters_per_epoch: int) -> None:
        self.base = train["lr"]
        self.kind = train["schedule"]
        self.epochs = train["epochs"]
        self.steps = train["steps"]
        self.patience = train["plateau_patience"]
        self.floor = train["final_lr_ratio"] * self.base
        self.start = train["warmup_start_ratio"]
        self.ipe = max(1, iters_per_epoch)
        self.per_epoch = train["lr_step"] == "epoch"
        self.whole = train["cosine_span"] == "whole"
        # Counted in the schedule's own unit: iterations, or epochs when stepped per epoch.
        unit = 1 if self.per_epoch else self.ipe
        self.warmup = int(train["warmup_epochs"] * unit)
        self.total = self.epochs * unit
        self.factor, self.best, self.bad = 1.0, math.inf, 0

    def lr(self, it: int) -> float:
        # t counts finished units: the iteration's index, or the 1-based epoch minus 1.
        t = it // self.ipe if self.per_epoch else it
        if t < self.warmup:
            top = self._cosine(self.warmup) if self.kind == "cosine" and self.whole else self.base
            return self.base * self.start + (top - self.base * self.start) * (t + 1) / self.warmup
        if self.kind == "cosine":
            return self._cosine(t + 1 if self.per_epoch else t)  # an epoch's step is its 1-based index
        if self.kind == "step":
            return self.base * 0.1 ** sum(it >= s * self.ipe for s in self.steps)
        return self.base * self.factor

    def _cosine(self, done: int) -> float:
        """The cosine after ``done`` units: from the warm-up's end, or over the whole run."""
        start = 0 if self.whole else self.warmup
        p = (done - start) / max(1, self.total - start)
        return self.floor + (self.base - self.floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))

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
