"""BatchNorm over groups of clips (train.bn_group), against statistics computed by hand: split
within a device, synchronised over groups of ranks (4 gloo processes), the layout plan and its
errors, and a training run that uses it."""
from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from repro.engine.bn_groups import GroupedBatchNorm, apply, plan, split_batchnorm
from repro.errors import TrainingError

EPS = 1e-5


def _by_hand(x: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BN output of ``x`` (N, C, ...) normalised per contiguous group of N / groups items, and the
    running mean/var after one step at momentum 0.1 from (0, 1)."""
    n, c = x.shape[:2]
    out = np.empty_like(x)
    means, vars_ = [], []
    for g in np.split(np.arange(n), groups):
        part = x[g]
        axes = (0, *range(2, x.ndim))
        mu = part.mean(axes, keepdims=True)
        var = ((part - mu) ** 2).mean(axes, keepdims=True)
        out[g] = (part - mu) / np.sqrt(var + EPS)
        m = part.size / c
        means.append(mu.reshape(c))
        vars_.append(var.reshape(c) * m / (m - 1))
    return out, 0.9 * 0 + 0.1 * np.mean(means, 0), 0.9 * 1 + 0.1 * np.mean(vars_, 0)


@pytest.mark.parametrize("shape,groups", [((4, 3, 2, 5, 5), 2), ((8, 3, 2, 4, 4), 4), ((6, 2, 3, 3), 3)])
def test_grouped_batchnorm_matches_statistics_by_hand(shape, groups):
    x = torch.randn(*shape, dtype=torch.float64) * 3 + 1
    bn = GroupedBatchNorm(shape[1], groups).double().train()
    y = bn(x)
    want, rmean, rvar = _by_hand(x.numpy(), groups)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(bn.running_mean.numpy(), rmean, rtol=1e-10)
    np.testing.assert_allclose(bn.running_var.numpy(), rvar, rtol=1e-10)
    # Evaluation uses the running statistics, as plain BatchNorm does.
    plain = nn.BatchNorm3d(shape[1]).double() if len(shape) == 5 else nn.BatchNorm2d(shape[1]).double()
    plain.load_state_dict(bn.state_dict())
    bn.eval(), plain.eval()
    torch.testing.assert_close(bn(x), plain(x))


def test_one_group_is_plain_batchnorm_and_gradients_flow():
    x = torch.randn(4, 3, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    bn, plain = GroupedBatchNorm(3, 2).double(), nn.BatchNorm3d(3).double()
    bn.splits = 1
    torch.testing.assert_close(bn(x), plain(x))
    bn.splits = 2
    bn(x).pow(2).sum().backward()
    assert x.grad is not None and bn.weight.grad is not None


def test_tsn_frames_fold_clip_major_so_groups_are_whole_clips():
    # A TSN backbone folds (N, C, T, H, W) into (N*T, C, H, W) clip by clip; with 4 clips of 3
    # frames and groups of 2 clips, a per-frame BN in 2 splits normalises frames 0-5 and 6-11.
    n, t, c = 4, 3, 2
    clips = torch.randn(n, c, t, 4, 4, dtype=torch.float64)
    folded = clips.transpose(1, 2).reshape(n * t, c, 4, 4)
    model = split_batchnorm(nn.Sequential(nn.BatchNorm2d(c)).double(), 2)
    assert isinstance(model[0], GroupedBatchNorm)
    want, _, _ = _by_hand(folded.numpy(), 2)
    np.testing.assert_allclose(model(folded).detach().numpy(), want, rtol=1e-10, atol=1e-10)
    # The same statistics as normalising each group of 2 clips as a 3D batch.
    want3d, _, _ = _by_hand(clips.numpy(), 2)
    np.testing.assert_allclose(want, torch.from_numpy(want3d).transpose(1, 2).reshape(n * t, c, 4, 4).numpy(),
                               rtol=1e-10, atol=1e-10)


def test_split_keeps_state_dict_keys_and_values():
    m = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm3d(4)))
    m[1].running_mean.fill_(0.5)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    out = split_batchnorm(m, 2)
    assert set(out.state_dict()) == set(before)
    assert all(torch.equal(out.state_dict()[k], v) for k, v in before.items())
    assert isinstance(out[2][0], GroupedBatchNorm)


@pytest.mark.parametrize("group,per_device,world,want", [
    (None, 16, 1, ("global", 1)), (8, 16, 1, ("split", 2)), (16, 16, 1, ("global", 1)),
    (32, 16, 1, ("global", 1)),  # more clips than there are: the whole batch
    (8, 2, 8, ("sync", 4)),      # PySlowFast's SSv2 layout: 4 devices x 2 clips
    (2, 2, 8, ("split", 1)), (16, 2, 8, ("global", 1)), (None, 2, 8, ("global", 1))])
def test_plan(group, per_device, world, want):
    assert plan(group, per_device, world) == want


@pytest.mark.parametrize("group,per_device,world", [(3, 16, 1), (6, 4, 4), (8, 2, 6)])
def test_plan_errors_name_the_key(group, per_device, world):
    with pytest.raises(TrainingError, match="train.bn_group"):
        plan(group, per_device, world)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world: int, port: int, x: torch.Tensor, out: dict) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model = apply(nn.Sequential(nn.BatchNorm3d(x.shape[1]).double()), 2, 1, torch.device("cpu"))
        y = model(x[rank:rank + 1])
        out[rank] = (y.detach(), model[0].running_mean.clone(), model[0].running_var.clone())
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_groups_of_ranks_synchronise_only_within_the_group():
    # 4 processes of 1 clip each, groups of 2 clips: ranks {0, 1} and {2, 3} normalise together.
    x = torch.randn(4, 3, 2, 3, 3, dtype=torch.float64) * 2 + 1
    with mp.Manager() as manager:
        out = manager.dict()
        mp.spawn(_rank, args=(4, _free_port(), x, out), nprocs=4, join=True)
        got = dict(out)
    want, rmean, rvar = _by_hand(x.numpy(), 2)
    for r in range(4):
        np.testing.assert_allclose(got[r][0].numpy()[0], want[r], rtol=1e-9, atol=1e-9)
    # Each group's running statistics are its own (count 2 clips per group); the synchronised
    # module keeps them in float32.
    for r, g in ((0, 0), (1, 0), (2, 1), (3, 1)):
        part = x.numpy()[2 * g:2 * g + 2]
        mu = part.mean((0, 2, 3, 4))
        m = part.size / part.shape[1]
        var = part.var((0, 2, 3, 4)) * m / (m - 1)
        np.testing.assert_allclose(got[r][1].numpy(), 0.1 * mu, rtol=1e-6)
        np.testing.assert_allclose(got[r][2].numpy(), 0.9 + 0.1 * var, rtol=1e-6)
