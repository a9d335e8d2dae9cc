"""SlowFast backbone: shapes, insertion API, identity at start, and costs against PySlowFast/GTA.

Cost targets (shared/reference/facts.md, from PySlowFast's builder with the SSv2
SLOWFAST_16x8_R50 config, 174 classes, 64 fast frames): 131.418 GMACs / 34.046 M at 256x256,
100.6 G at 224; with 5 NL blocks on the Slow pathway 239.865 G / 41.404 M (169.0 G at 224).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from repro.cost import cost_of
from repro.models.attention import attend, from_tokens, to_tokens
from repro.models.nonlocal_block import NonLocal
from repro.models.registry import get_module
from repro.models.slowfast import SlowFastResNet, slowfast_resnet

NL_PLACES = {"layer2": [1, 3], "layer3": [1, 3, 5]}  # res3 blocks 1,3; res4 blocks 1,3,5
SSV2 = {"alpha": 4, "beta_inv": 8, "fusion_kernel": 7, "fusion_ratio": 2}


class PoolFirstNonLocal(NonLocal):
    """PySlowFast's NL order: max-pool the block input, then the phi/g convs (nl3d pools after).

    Both orders have the same parameters; pooling first makes phi/g 4x cheaper. Used here only
    to show that the backbone and places reproduce PySlowFast's 239.865 G exactly.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.theta(x)
        xp = self.pool(x) if min(x.shape[-2:]) >= 2 else x
        k, v = self.phi(xp), self.g(xp)
        y = attend(to_tokens(q, self.scope), to_tokens(k, self.scope), to_tokens(v, self.scope),
                   self.scaled)
        return x + self.out(from_tokens(y, self.scope, tuple(q.shape)))


def _r50(factory=None):
    def build() -> SlowFastResNet:
        m = slowfast_resnet(174, depth=50, num_frames=64, **SSV2)
        if factory is not None:
            for stage, blocks in NL_PLACES.items():
                for b in blocks:
                    m.insert(stage, b, "after_block", factory)
        return m
    return build


def _tiny(**kw) -> SlowFastResNet:
    torch.manual_seed(0)
    return slowfast_resnet(5, layers=[1, 2, 2, 1], width=16, num_frames=8, **{**SSV2, **kw})


class _Probe(nn.Module):
    """Identity that records the shape it sees and carries a ``num_frames`` like video modules."""

    def __init__(self, channels: int, num_frames: int = 0) -> None:
        super().__init__()
        self.channels, self.num_frames, self.seen = channels, num_frames, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = tuple(x.shape)
        return x


def test_forward_shapes_and_slow_frames():
    m = _tiny().eval()
    post = m.insert("layer2", 1, "after_block", lambda c: _Probe(c))
    mid = m.insert("layer3", 0, "in_block", lambda c: _Probe(c))
    with torch.no_grad():
        out = m(torch.randn(2, 3, 8, 32, 32))
    assert out.shape == (2, 5)
    # Slow pathway: 8 / alpha = 2 frames; layer2 output 4 * 2 * 16 channels at 32 / 8 px.
    assert post.seen == (2, 128, 2, 4, 4) and post.channels == 128
    assert mid.seen == (2, 64, 2, 4, 4) and mid.channels == 64  # layer3 inner width, before stride
    assert m.fc.in_features == 16 * 32 + 2 * 32  # Slow 8W*4 + Fast 8W*4/beta_inv


def test_set_num_frames_gives_inserted_modules_the_slow_count():
    m = _tiny()
    probe = m.insert("layer2", 0, "after_block", lambda c: _Probe(c, num_frames=2))
    m.set_num_frames(16)
    assert (m.num_frames, m.slow_frames, probe.num_frames) == (16, 4, 4)
    with torch.no_grad():
        m.eval()(torch.randn(1, 3, 12, 32, 32))  # a clip of another length resets it
    assert (m.num_frames, probe.num_frames, probe.seen[2]) == (12, 3, 3)


@pytest.mark.parametrize("module", ["nl3d", "dnl", "gta"])
def test_inserted_modules_start_as_identity(module):
    m = _tiny().eval()
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        before = m(x)
        ctor = get_module(module)
        args = {"num_frames": m.slow_frames} if module != "nl3d" else {}
        for stage, blocks in {"layer2": [1], "layer3": [0, 1]}.items():
            for b in blocks:
                m.insert(stage, b, "after_block", lambda c: ctor(c, **args))
        after = m(x)
    assert torch.allclose(before, after, atol=1e-6)


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="beta_inv"):
        slowfast_resnet(5, layers=[1, 1, 1, 1], width=12, beta_inv=8)
    with pytest.raises(ValueError, match="odd"):
        slowfast_resnet(5, layers=[1, 1, 1, 1], width=16, fusion_kernel=4)
    with pytest.raises(ValueError, match="replace_conv2"):
        _tiny().insert("layer2", 0, "replace_conv2", lambda c: nn.Identity())
    with pytest.raises(IndexError):
        _tiny().insert("layer4", 1, "after_block", lambda c: nn.Identity())


def test_r50_cost_matches_pyslowfast_and_gta_figure3():
    c = cost_of(_r50(), frames=64, size=256)
    assert c["gflops"] == pytest.approx(131.418, rel=0.01)  # GTA Figure 3: SlowFast-R50 131.4 G
    assert c["params_m"] == pytest.approx(34.046, abs=0.1)  # 34.0 M
    assert cost_of(_r50(), frames=64, size=224)["gflops"] == pytest.approx(100.6, rel=0.01)


def test_r50_nl_cost_matches_pyslowfast_with_its_pooling_order():
    pf = cost_of(_r50(lambda c: PoolFirstNonLocal(c, "3d")), frames=64, size=256)
    assert pf["gflops"] == pytest.approx(239.865, rel=0.01)  # GTA Figure 3: +NL 239.9 G
    assert pf["params_m"] == pytest.approx(41.404, abs=0.1)  # 41.4 M
    pf224 = cost_of(_r50(lambda c: PoolFirstNonLocal(c, "3d")), frames=64, size=224)
    assert pf224["gflops"] == pytest.approx(169.0, rel=0.01)
    # The harness's nl3d pools after phi/g (what reproduces GTA's R2D-50 +NL 61.1 G): same
    # params, 16.1 G more here (2 convs x 3/4 of C * C/2 * 16 * HW MACs per block).
    nl = cost_of(_r50(lambda c: get_module("nl3d")(c)), frames=64, size=256)
    assert nl["params_m"] == pytest.approx(pf["params_m"], abs=1e-9)
    assert nl["gflops"] - pf["gflops"] == pytest.approx(16.106, abs=0.01)


GTA_FIG3_ROWS = ["slowfast_r50", "slowfast_r50_nl", "slowfast_r50_dnl", "slowfast_r50_gta"]


@pytest.mark.parametrize("row", GTA_FIG3_ROWS)
def test_gta_fig3_slowfast_rows_build(row):
    import repro
    from repro.spec.loader import load_spec, resolve

    cfg = resolve(load_spec("gta_fig3"), row, "paper")
    assert (cfg["data"]["crop"], cfg["eval"]["crop_size"], cfg["model"]["frames"]) == (224, 256, 64)  # train 224, test 256
    with torch.device("meta"):
        m = repro.build_model("gta_fig3", row, "paper")
    assert isinstance(m, SlowFastResNet) and m.slow_frames == 16
    inserted = [blk.post for s in ("layer2", "layer3") for blk in getattr(m, s) if blk.post is not None]
    assert len(inserted) == (0 if row == "slowfast_r50" else 5)
    if row == "slowfast_r50_gta":  # GTA's learned T x T matrices are sized for the Slow frames
        assert inserted[0].temporal.pixel.weight.shape[-2:] == (16, 16)


def test_build_rejects_unknown_slowfast_args_and_imagenet_init():
    from repro.errors import WeightsError
    from repro.models.build import build_from_config, load_imagenet

    from repro.spec.loader import complete

    cfg = complete({"model": {"backbone": {"arch": "slowfast", "depth": None, "layers": [1, 1, 1, 1],
                                           "width": 16, "args": {"alpha": 4, "fusion_kernal": 5}},
                              "frames": 8}})
    with pytest.raises(ValueError, match="fusion_kernal"):
        build_from_config(cfg, 5)
    cfg["model"]["backbone"]["args"] = {"alpha": 4}
    m = build_from_config(cfg, 5)
    with pytest.raises(WeightsError, match="pretrained: none"):
        load_imagenet(m)
