"""Data-parallel training across processes (torchrun, one node or many): process group, samplers,
synchronised BatchNorm, and gathering of evaluation results.

``torchrun --nproc_per_node=N run_all.py --table T`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``;
:func:`init_from_env` turns them into a process group (nccl on CUDA, gloo on CPU). Without them
every function here is a no-op for one process, so the single-process path stays as it was.

Equivalence with one process is the design goal, so that a row's result (and its spec hash,
which does not include the world size) means the same thing whatever the number of processes:

- ``train.batch_size`` is the GLOBAL batch; each rank takes ``batch / world`` of it.
- :class:`GlobalBatchSampler` draws exactly the permutation the single-process loader draws for
  ``(seed, epoch)`` and deals it out so that global batch ``i`` holds the same videos as
  single-process batch ``i``.
- BatchNorm is synchronised (statistics over the global batch, or over groups of ranks with
  ``train.bn_group``, :mod:`repro.engine.bn_groups`): torch's SyncBatchNorm on CUDA,
  :class:`GlooSyncBatchNorm` on CPU (torch's is GPU-only).
- evaluation shards the validation set by index (:func:`shard_indices`: every video exactly once,
  no padding, unlike DistributedSampler) and :func:`gather_eval` reassembles the per-video scores
  in video order, so metrics are computed as by one process.

Remaining difference: dropout masks are drawn per rank (rank r seeds with ``seed + r``), so a
model with dropout follows a different but equally valid random path than one process.
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce
from torch.utils.data import RandomSampler
from torch.utils.data.distributed import DistributedSampler

from repro.engine.world import DistInfo, env_world



def init_from_env() -> DistInfo:
    """Join the process group torchrun describes; nccl when CUDA is available, else gloo."""
    info = env_world()
    if not info.enabled or dist.is_initialized():
        return info
    if torch.cuda.is_available():
        if torch.cuda.device_count() <= info.local_rank:
            raise RuntimeError(f"LOCAL_RANK {info.local_rank} but only {torch.cuda.device_count()} GPU(s) "
                               "visible; give torchrun --nproc_per_node no larger than the GPU count")
        torch.cuda.set_device(info.local_rank)
        dist.init_process_group("nccl", device_id=torch.device("cuda", info.local_rank))
    else:
        dist.init_process_group("gloo")
    return info


def world() -> DistInfo:
    """The current process's place in the initialised group (one process when there is none)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), env_world().local_rank)
    return DistInfo()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if world().enabled:
        dist.barrier()


def device() -> torch.device:
    """This rank's device: its own GPU (LOCAL_RANK) under torchrun, else cuda/cpu."""
    if torch.cuda.is_available():
        # One process keeps the plain "cuda" device it always used (and records in provenance).
        return torch.device("cuda", world().local_rank) if world().enabled else torch.device("cuda")
    return torch.device("cpu")


def per_rank_batch(global_batch: int, n: int) -> int:
    """``global_batch / n``; an error that says what to do when it does not divide."""
    if global_batch % n:
        raise ValueError(f"train.batch_size={global_batch} is the global batch and must be divisible by "
                         f"the {n} processes; use --set train.batch_size={max(n, global_batch // n * n)} "
                         f"or another process count")
    return global_batch // n


def shard_indices(n: int, rank: int, world_size: int) -> list[int]:
    """Indices of an ``n``-item evaluation set for ``rank``: strided, every index exactly once
    across ranks (no padding, so no video counts twice)."""
    return list(range(rank, n, world_size))


def single_process_order(n: int, seed: int) -> list[int]:
    """The order in which the single-process training loader visits ``n`` videos after its
    generator was seeded with ``seed``: the loader's iterator first draws its base seed from
    the generator, then RandomSampler draws the permutation (tests/test_distributed.py checks
    this against a real DataLoader)."""
    g = torch.Generator()
    g.manual_seed(seed)
    torch.empty((), dtype=torch.int64).random_(generator=g)  # the DataLoader iterator's base seed
    return list(RandomSampler(range(n), generator=g))


class GlobalBatchSampler(DistributedSampler):
    """Training sampler of one rank: of the single-process order for ``epoch_seed(epoch)``, cut to
    whole global batches, the items ``rank::world``. Rank r's j-th item of its batch i is item
    ``(i * per + j) * world + r``, so the ranks' batches i together are exactly single-process
    batch i. The order depends only on (seed, epoch), so a resumed run draws the same batches.

    With one process (rank 0 of 1) it is the single-process order itself. ``set_epoch(e, start)``
    begins the epoch at batch ``start``: a run resumed from a step checkpoint neither decodes nor
    trains the batches before it (each clip's augmentation is seeded by its index, not by the
    loader's position, so the batches after it are unchanged).
    """

    def __init__(self, dataset, global_batch: int, epoch_seed, rank: int, world_size: int) -> None:
        super().__init__(dataset, num_replicas=world_size, rank=rank, shuffle=True, drop_last=True)
        self.global_batch, self.epoch_seed = global_batch, epoch_seed
        self.per = per_rank_batch(global_batch, world_size)
        self.batches = len(dataset) // global_batch
        self.num_samples = self.batches * self.per
        self.total_size = self.num_samples * world_size
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        super().set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[int]:
        order = single_process_order(len(self.dataset), self.epoch_seed(self.epoch))
        return iter(order[:self.total_size][self.rank::self.num_replicas][self.start * self.per:])

    def __len__(self) -> int:
        return self.num_samples


class GlooSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch for CPU process groups (torch's SyncBatchNorm is GPU-only).

    Two all-reduces (sum, then squared deviations) give the same mean and biased variance as one
    process over the whole batch; they go through ``torch.distributed.nn`` so gradients flow to
    every rank's inputs, as in SyncBatchNorm. Evaluation uses the running statistics, no sync.
    """

    group = None  # the process group to synchronise over (None: all ranks; repro.engine.bn_groups)

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and world().enabled):
            return super().forward(x)

        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        g = {"group": self.group} if self.group is not None else {}
        count = all_reduce(torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device), **g)
        mean = all_reduce(x.sum(dims), **g) / count
        var = all_reduce(((x - mean.view(shape)) ** 2).sum(dims), **g) / count
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                n = float(count)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / max(1.0, n - 1), alpha=m)
        y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def all_sum(values: list[float], dev: torch.device) -> list[float]:
    """Element-wise sum over ranks (float64, so counts stay exact)."""
    if not world().enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=dev)
    dist.all_reduce(t)
    return t.tolist()


def all_gather(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not world().enabled:
        return [obj]
    out: list[Any] = [None] * world().world
    dist.all_gather_object(out, obj)
    return out
