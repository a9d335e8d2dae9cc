"""The CUDA path of the paper profile (bf16 autocast, channels_last 2D convolutions), run on CPU
through every module, forward and backward: dtype and layout errors show up here before anyone
rents a GPU. (DDP with gloo is tested in tests/test_distributed.py.)"""
from __future__ import annotations

import pytest
import torch

import repro
from repro.engine.inputs import to_channels_last

ROWS = [("probe_modules", r) for r in ("tsn", "tsm", "nl3d", "nl2d", "nl1d", "dnl", "sa", "ta", "tape",
                                      "gta", "ssa", "rsa")]
ROWS += [("gta_fig5", r) for r in ("pixel_region_ccmh", "pixel", "region")]
ROWS += [("gta_fig14", "multihead"), ("ssa_table2", "nl2d1d"), ("gta_fig3", "slowfast_r50"),
         ("gta_fig3", "slowfast_r50_nl"), ("gta_fig3", "slowfast_r50_gta")]


@pytest.mark.parametrize("table, row", ROWS, ids=[f"{t}/{r}" for t, r in ROWS])
def test_module_trains_under_bf16_autocast_and_channels_last(table, row):
    torch.manual_seed(0)
    # The synthetic profile's small backbone (width 16) keeps this fast; the modules are the
    # paper rows' own (SlowFast at its 64 frames, with the PySlowFast head and NL options).
    model = to_channels_last(repro.build_model(table, row, "synthetic"))
    frames = 64 if "slowfast" in row else 8
    x = torch.randn(2, 3, frames, 32, 32)
    model.train()
    dtypes = []
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d))]
    hook = convs[-1].register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
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
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x).float()
    # bf16 keeps 8 bits of mantissa: the logits agree to a few percent of their spread
    assert (low - ref).abs().max() <= 0.05 * ref.abs().max() + 0.05, (low - ref).abs().max()
