"""The CUDA path of the paper profile (bf16 autocast, channels_last 2D convolutions), run on CPU
through every module, forward and backward, and through the engine's own training and evaluation
code: dtype and layout errors show up here before anyone rents a GPU. (DDP with gloo is tested in
tests/test_distributed.py.)"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import repro
import repro.engine.evaluate as evaluate_mod
import repro.engine.train as train_mod
from repro.config.loader import complete
from repro.data.dataset import VideoClipDataset, with_eval_views
from repro.data.transforms import ClipTransform
from repro.engine import distributed as D
from repro.engine.inputs import amp_mode, autocast, to_channels_last, to_input

CPU = torch.device("cpu")

ROWS = [("probe_modules", r) for r in ("tsn", "tsm", "nl3d", "nl2d", "nl1d", "dnl", "sa", "ta", "tape",
                                      "gta", "ssa", "rsa")]
ROWS += [("gta_fig5", r) for r in ("pixel_region_ccmh", "pixel", "region")]
ROWS += [("gta_fig14", "multihead"), ("ssa_table2", "nl2d1d"), ("gta_fig3", "slowfast_r50"),
         ("gta_fig3", "slowfast_r50_nl"), ("gta_fig3", "slowfast_r50_gta")]


def _conv2d(model: torch.nn.Module) -> list[torch.nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def _channels_last(model: torch.nn.Module) -> bool:
    convs = _conv2d(model)
    return bool(convs) and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)


@pytest.mark.parametrize("table, row", ROWS, ids=[f"{t}/{r}" for t, r in ROWS])
def test_module_trains_under_bf16_autocast_and_channels_last(table, row):
    """Every module trains (finite forward and gradients) under the engine's bf16 autocast with
    channels_last weights, and its bf16 logits stay close to the float32 ones."""
    torch.manual_seed(0)
    # The synthetic profile's small backbone (width 16) keeps this fast; the modules are the
    # paper rows' own (SlowFast at its 64 frames, with the PySlowFast head and NL options).
    model = to_channels_last(repro.build_model(table, row, "synthetic"))
    # SlowFast's kernels are all 3D, which channels_last leaves as they are.
    assert (not _conv2d(model)) if "slowfast" in row else _channels_last(model)
    frames = 64 if "slowfast" in row else 8
    x = torch.randn(2, 3, frames, 32, 32)
    model.train()
    dtypes = []
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d))]
    hook = convs[-1].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    with autocast("bf16", CPU):
        out = model(x)
    hook.remove()
    assert dtypes == [torch.bfloat16]  # the convolutions really ran in bf16
    assert out.shape[0] == 2 and torch.isfinite(out.float()).all()
    out.float().logsumexp(1).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast leaves weights as they are
    model.eval()
    with torch.no_grad():
        ref = model(x)
        with autocast("bf16", CPU):
            low = model(x).float()
    # bf16 keeps 8 bits of mantissa: the logits agree to a few percent of their spread
    assert (low - ref).abs().max() <= 0.05 * ref.abs().max() + 0.05, (low - ref).abs().max()


def test_cpu_runs_stay_float32():
    """bf16 on CPU is only ever asked for explicitly: ``amp_mode`` turns ``train.amp: bf16`` into
    "none" off CUDA, and "none" autocasts nothing."""
    assert amp_mode({"amp": "bf16"}, CPU) == "none"
    assert amp_mode({"amp": "bf16"}, torch.device("cuda")) == "bf16"
    conv, x = torch.nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8)
    with autocast("none", CPU):
        assert conv(x).dtype == torch.float32
    with autocast("bf16", CPU):
        assert conv(x).dtype == torch.bfloat16


class _Rec:
    def __init__(self, i: int) -> None:
        self.path, self.label, self.video_id = f"v{i}", i % 3, f"vid{i}"


class _Frames(VideoClipDataset):
    """Decoding replaced by fixed random frames per video, so the test needs no files."""

    def _frames(self, i, rng):
        video = np.random.default_rng(i).integers(0, 256, (16, 32, 40, 3), dtype=np.uint8)
        return video[self._pick(len(video), rng)]


def test_fit_runs_the_engine_path_in_bf16_with_channels_last(monkeypatch, tmp_path):
    """``fit`` with amp "bf16" (what ``amp_mode`` gives on CUDA) and ``train.channels_last``, on
    CPU: every forward (training steps, precise BN, validation, the two-clip test) gets exactly
    the normalised float32 input ``to_input`` made from the uint8 batch with the model's own
    statistics, runs its convolutions and classifier in bf16 on channels_last activations, and
    training gives finite losses that move the weights, which stay float32 and channels_last."""
    # amp_mode keeps CPU runs float32 on purpose; this stands in for its answer on CUDA.
    monkeypatch.setattr(train_mod, "amp_mode", lambda tr, device: "bf16")
    monkeypatch.setattr(D, "device", lambda: CPU)  # the CPU path even where a GPU is present
    made = []  # (uint8 batch, what to_input returned), in call order

    def spy(x, device, model):
        out = to_input(x, device, model)
        made.append((x, out))
        return out

    monkeypatch.setattr(train_mod, "to_input", spy)
    monkeypatch.setattr(evaluate_mod, "to_input", spy)

    torch.manual_seed(0)
    model = repro.build_model("probe_modules", "gta", "synthetic")
    # PySlowFast's statistics rather than the ImageNet default: to_input must use the model's own.
    stats = ((0.45, 0.45, 0.45), (0.225, 0.225, 0.225))
    model.input_stats = stats
    seen, first, ran = [], [], []  # model inputs; conv1 inputs; (training, module, output dtype, layout)
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    model.conv1.register_forward_pre_hook(lambda m, args: first.append(args[0]))
    for name in ("conv1", "fc"):
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: ran.append((m.training, name, o.dtype, o.dim() == 4
                                                   and o.is_contiguous(memory_format=torch.channels_last))))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    cfg = complete({"train": {"epochs": 1, "batch_size": 2, "max_iters": 2, "lr": 0.01, "seed": 0,
                              "warmup_epochs": 0, "schedule": "cosine", "weight_decay": 0.0,
                              "channels_last": True, "precise_bn": 1, "amp": "bf16"},
                    "data": {"resize": 32, "crop": 28}, "eval": {"batch_size": 2}})
    tr = _Frames([_Rec(i) for i in range(4)], 8, ClipTransform(32, 28, True), True)
    va = _Frames([_Rec(i) for i in range(3)], 8, ClipTransform(32, 28, False), False)
    res = train_mod.fit(model, cfg, tr, va, {}, tmp_path / "run", "h", progress=False,
                        test_ds=with_eval_views(va, clips=2))

    assert (res["amp"], res["channels_last"], res["views"]) == ("bf16", True, (2, 1))
    # 2 training steps, 1 precise-BN batch, 2 validation batches (3 videos), and the test's
    # 2 + 2 chunks of views (2 videos x 2 clips, then 1 x 2, a batch's worth of clips at a time).
    assert len(made) == len(seen) == len(first) == 2 + 1 + 2 + 4
    mean, std = (torch.tensor(s).view(3, 1, 1, 1) for s in stats)
    for (raw, out), x, c in zip(made, seen, first):
        assert x is out  # the model got to_input's tensor itself
        assert raw.dtype == torch.uint8 and out.shape == raw.shape and out.shape[1:] == (3, 8, 28, 28)
        torch.testing.assert_close(out, (raw.float() / 255 - mean) / std)
        # TSN folds frames into the batch; autocast casts inside the convolution, so the first
        # conv still receives to_input's float32 values
        assert c.dtype == torch.float32 and torch.equal(c, out.transpose(1, 2).flatten(0, 1))
    assert {r[0] for r in ran} == {True, False}  # training and evaluation forwards both seen
    for training, name, dtype, cl in ran:
        assert dtype == torch.bfloat16, (training, name)
        assert cl or name == "fc", (training, name)  # activations follow the weights' layout
    assert all(math.isfinite(h[k]) for h in res["history"] for k in ("train_loss", "val_loss"))
    assert math.isfinite(res["metrics"]["val_loss"]) and torch.isfinite(res["scores"]).all()
    after = dict(model.named_parameters())
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in after.values())
    # weight_decay is 0: only a gradient through the bf16 forward moves the first and last layers
    for n in ("conv1.weight", "fc.weight"):
        assert not torch.equal(before[n], after[n].detach()), n
    assert _channels_last(model)
