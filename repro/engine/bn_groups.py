"""BatchNorm statistics over groups of clips (``train.bn_group``).

PySlowFast trains its SSv2 SlowFast with BatchNorm synchronised over 4 devices of 2 clips each
(configs/SSv2/SLOWFAST_16x8_R50.yaml:42-43, BN.NUM_SYNC_DEVICES 4 at TRAIN.BATCH_SIZE 16 on 8
GPUs): every statistic is a mean over 8 clips, not over the global batch of 16. The size of that
group changes what BatchNorm does in training, so a recipe states it and this module reproduces
it on any layout:

- a group smaller than the per-device batch splits the batch into groups within the device
  (:class:`GroupedBatchNorm`, no communication);
- a group equal to the per-device batch is plain BatchNorm on each device;
- a larger group synchronises ``bn_group / per-device batch`` neighbouring ranks (SyncBatchNorm
  over process groups, as PySlowFast's ``NUM_SYNC_DEVICES`` does);
- ``null`` keeps the harness's default: the whole batch of one process, or the global batch
  under torchrun.

Clips must be contiguous along the batch dimension: ``(N, C, T, H, W)`` for 3D BatchNorm, and
``(N*T, C, H, W)`` clip-major for the per-frame BatchNorm of TSN backbones, which is how
:mod:`repro.models.resnet` folds frames. Evaluation uses the running statistics, so groups do not
matter there.
"""
from __future__ import annotations

import torch
from torch import nn

from repro.engine import distributed as D
from repro.errors import TrainingError


class GroupedBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are computed over each of ``splits`` equal, contiguous
    parts of the batch dimension (PySlowFast's SubBatchNorm3d does the same for its multigrid
    training). The running statistics move towards the average of the parts' means and of their
    unbiased variances, with the module's momentum (or the cumulative average when it is None,
    as precise BN sets it). State-dict keys are BatchNorm's, so checkpoints stay interchangeable.
    """

    def __init__(self, num_features: int, splits: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.splits = splits

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.splits == 1:
            return super().forward(x)
        n, c = x.shape[:2]
        if n % self.splits:
            raise ValueError(f"a batch dimension of {n} cannot be split into {self.splits} equal BN groups")
        xs = x.reshape(self.splits, n // self.splits, *x.shape[1:])  # (G, n/G, C, ...)
        dims = [1, *range(3, xs.dim())]
        mean = xs.mean(dims, keepdim=True)
        var = xs.var(dims, unbiased=False, keepdim=True)
        y = ((xs - mean) / torch.sqrt(var + self.eps)).reshape(x.shape)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                count = xs[0].numel() / c
                self.running_mean.mul_(1 - m).add_(mean.reshape(self.splits, c).mean(0), alpha=m)
                unbiased = var.reshape(self.splits, c).mean(0) * count / max(1.0, count - 1)
                self.running_var.mul_(1 - m).add_(unbiased, alpha=m)
        if self.affine:
            shape = [1, c] + [1] * (x.dim() - 2)
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def replace_batchnorm(module: nn.Module, make, kind: type) -> nn.Module:
    """``module`` with every BatchNorm that is not already a ``kind`` replaced by ``make(bn)``,
    its state copied (same keys: checkpoints stay interchangeable) and its mode kept."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, kind):
        out = make(module)
        out.load_state_dict(module.state_dict())
        out.train(module.training)
        return out.to(module.weight.device if module.weight is not None else "cpu")
    for name, child in module.named_children():
        module.add_module(name, replace_batchnorm(child, make, kind))
    return module


def split_batchnorm(model: nn.Module, splits: int) -> nn.Module:
    """Every BatchNorm of ``model`` normalising ``splits`` groups of the batch separately."""
    return replace_batchnorm(model, lambda bn: GroupedBatchNorm(bn.num_features, splits, bn.eps, bn.momentum,
                                                                bn.affine, bn.track_running_stats),
                             GroupedBatchNorm)


def plan(bn_group: int | None, per_device: int, world: int) -> tuple[str, int]:
    """How to normalise over ``bn_group`` clips with ``per_device`` clips on each of ``world``
    processes: ``("global", 1)`` (every rank synchronised: the default, and any group at least as
    large as the global batch), ``("split", groups per device)`` or ``("sync", ranks per group)``.
    A layout that cannot form equal groups is a TrainingError naming train.bn_group."""
    if bn_group is None or bn_group >= per_device * world:
        return ("global", 1)
    if bn_group <= per_device:
        if per_device % bn_group:
            raise TrainingError(f"train.bn_group={bn_group} does not divide the {per_device} clips per "
                                f"device (train.batch_size / processes): choose a divisor of {per_device}")
        return ("split", per_device // bn_group)
    ranks = bn_group // per_device
    if bn_group % per_device or world % ranks:
        raise TrainingError(f"train.bn_group={bn_group} cannot be formed from groups of whole devices "
                            f"({per_device} clips each, {world} processes): choose a multiple of "
                            f"{per_device} that divides {per_device * world}")
    return ("sync", ranks)


def apply(model: nn.Module, bn_group: int | None, per_device: int, device: torch.device) -> nn.Module:
    """``model`` with BatchNorm over groups of ``bn_group`` clips, for this process's place in the
    torchrun group (one process when there is none)."""
    W = D.world()
    how, n = plan(bn_group, per_device, W.world)
    if how == "split":
        return split_batchnorm(model, n) if n > 1 else model
    if not W.enabled:
        return model
    if how == "global":
        return convert_sync_batchnorm(model, device)
    groups = [list(range(s, s + n)) for s in range(0, W.world, n)]
    mine = None
    for ranks in groups:  # every rank creates every group, as torch.distributed requires
        g = torch.distributed.new_group(ranks)
        if W.rank in ranks:
            mine = g
    return convert_sync_batchnorm(model, device, group=mine)


def _gloo_sync_bn(bn: nn.modules.batchnorm._BatchNorm, group) -> D.GlooSyncBatchNorm:
    out = D.GlooSyncBatchNorm(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    out.group = group
    return out


def convert_sync_batchnorm(model: nn.Module, dev: torch.device, group=None) -> nn.Module:
    """Every BatchNorm synchronised across the ranks of ``group`` (default: all ranks): torch's
    SyncBatchNorm on CUDA, :class:`repro.engine.distributed.GlooSyncBatchNorm` on CPU; state-dict
    keys unchanged."""
    if dev.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model, process_group=group)
    return replace_batchnorm(model, lambda bn: _gloo_sync_bn(bn, group), D.GlooSyncBatchNorm)
