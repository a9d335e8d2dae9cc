"""SlowFast backbone: shapes, insertion API, identity at start, and costs against PySlowFast/GTA.

Cost targets (docs/facts.md section 5, from PySlowFast's builder with the SSv2
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
    from repro.config.loader import load_spec, resolve

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

    from repro.config.loader import complete

    cfg = complete({"model": {"backbone": {"arch": "slowfast", "depth": None, "layers": [1, 1, 1, 1],
                                           "width": 16, "args": {"alpha": 4, "fusion_kernal": 5}},
                              "frames": 8}})
    with pytest.raises(ValueError, match="fusion_kernal"):
        build_from_config(cfg, 5)
    cfg["model"]["backbone"]["args"] = {"alpha": 4}
    m = build_from_config(cfg, 5)
    with pytest.raises(WeightsError, match="pretrained: none"):
        load_imagenet(m)


# --- PySlowFast options (issue 11): dot_product NL, fixed-window test head, linspace Slow frames.

def _randomise_bn(module: nn.Module, seed: int = 1) -> None:
    """Non-trivial BN affine/statistics, so that zero-initialised outputs are alive."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm3d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(c, generator=g))
                m.bias.copy_(0.1 * torch.randn(c, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
                m.running_var.copy_(0.5 + torch.rand(c, generator=g))


@pytest.mark.parametrize("pool_input", [True, False])
def test_nl_dot_product_instantiation_matches_hand_computation(pool_input):
    torch.manual_seed(0)
    c, inter = 6, 3
    nl = get_module("nl3d")(c, pool_input=pool_input, instantiation="dot_product").double().eval()
    _randomise_bn(nl)
    x = torch.randn(2, c, 3, 4, 6, dtype=torch.float64)
    with torch.no_grad():
        out = nl(x)

    def conv(conv_mod, t):  # 1x1x1 conv by hand: (N, C, P) -> (N, C', P)
        return torch.einsum("oc,ncp->nop", conv_mod.weight[:, :, 0, 0, 0], t) + conv_mod.bias[None, :, None]

    def maxpool(t):  # (N, C, T, H, W), 1x2x2 windows
        n, ch, tt, h, w = t.shape
        return t.view(n, ch, tt, h // 2, 2, w // 2, 2).amax(dim=(4, 6))

    with torch.no_grad():
        flat = x.flatten(2)
        theta = conv(nl.theta, flat)
        if pool_input:
            xp = maxpool(x).flatten(2)
            phi, g = conv(nl.phi, xp), conv(nl.g, xp)
        else:
            phi = maxpool(conv(nl.phi, flat).view(2, inter, 3, 4, 6)).flatten(2)
            g = maxpool(conv(nl.g, flat).view(2, inter, 3, 4, 6)).flatten(2)
        s = phi.shape[2]
        assert s == 3 * 2 * 3
        y = torch.zeros_like(theta)
        for n in range(2):  # y_i = sum_j (theta_i . phi_j / S) g_j: no softmax, no 1/sqrt(C')
            for i in range(theta.shape[2]):
                for j in range(s):
                    y[n, :, i] += (theta[n, :, i] @ phi[n, :, j]) / s * g[n, :, j]
        z = conv(nl.out.conv, y)
        bn = nl.out.bn
        z = ((z - bn.running_mean[None, :, None]) / torch.sqrt(bn.running_var[None, :, None] + bn.eps)
             * bn.weight[None, :, None] + bn.bias[None, :, None])
        want = x + z.view_as(x)
    assert torch.allclose(out, want, rtol=1e-12, atol=1e-12)
    # The softmax instantiation (the default) is another function on the same weights.
    soft = get_module("nl3d")(c, pool_input=pool_input).double().eval()
    soft.load_state_dict(nl.state_dict())
    with torch.no_grad():
        assert not torch.allclose(soft(x), out, atol=1e-3)


def test_nl_instantiation_is_a_checked_spec_argument():
    from repro.models.registry import argument_problems

    for name in ("nl3d", "nl2d", "nl1d", "nl2d1d"):
        assert argument_problems(name, {"instantiation": "dot_product"}) == []
    assert get_module("nl3d")(8).instantiation == "softmax"  # default: today's block
    with pytest.raises(ValueError, match="instantiation"):
        get_module("nl3d")(8, instantiation="gaussian")


def _head_pair(train_crop: int = 64):
    """Two tiny SlowFasts with the same weights: global head and PySlowFast's fixed head."""
    torch.manual_seed(0)
    g = slowfast_resnet(5, layers=[1, 1, 1, 1], width=16, num_frames=8, dropout=0.0, **SSV2).double()
    _randomise_bn(g)
    nn.init.normal_(g.fc.weight, std=0.5)
    f = slowfast_resnet(5, layers=[1, 1, 1, 1], width=16, num_frames=8, dropout=0.0,
                        head_pool="fixed", train_crop=train_crop, **SSV2).double()
    f.load_state_dict(g.state_dict())
    return g, f


def test_fixed_head_equals_global_head_at_the_train_crop_and_in_training():
    g, f = _head_pair(train_crop=64)
    x = torch.randn(2, 3, 8, 64, 64, dtype=torch.float64)  # the train crop: one 2x2 window
    with torch.no_grad():
        assert torch.equal(f.eval()(x), g.eval()(x))
        assert torch.equal(f.train()(x), g.train()(x))
        big = torch.randn(2, 3, 8, 96, 96, dtype=torch.float64)
        assert torch.equal(f.train()(big), g.train()(big))  # training keeps the global pool
        small = torch.randn(2, 3, 8, 32, 32, dtype=torch.float64)  # window clipped to the 1x1 map
        assert torch.equal(f.eval()(small), g.eval()(small))


def test_fixed_head_at_a_larger_crop_averages_softmax_over_window_positions():
    g, f = _head_pair(train_crop=64)
    f.eval(), g.eval()
    x = torch.randn(2, 3, 8, 96, 96, dtype=torch.float64)  # final map 3x3, window 2x2: 2x2 positions
    with torch.no_grad():
        out = f(x)
        slow, fast = f.pathways(x)
        assert slow.shape[-2:] == (3, 3) and f.head_window(3, 3) == (2, 2)
        probs = []
        for i in range(2):
            for j in range(2):
                feat = torch.cat([slow[..., i:i + 2, j:j + 2].mean(dim=(2, 3, 4)),
                                  fast[..., i:i + 2, j:j + 2].mean(dim=(2, 3, 4))], dim=1)
                probs.append(torch.softmax(feat @ f.fc.weight.t() + f.fc.bias, dim=1))
        want = torch.stack(probs).mean(0)
        # The output is the log of PySlowFast's eval probabilities: a softmax gives them back.
        assert torch.allclose(out, want.log(), rtol=1e-12, atol=1e-12)
        assert torch.allclose(out.softmax(1), want, rtol=1e-12, atol=1e-14)
        assert not torch.allclose(out.softmax(1), g(x).softmax(1), atol=1e-4)  # the global head differs


def test_head_and_sampling_args_are_checked_and_reach_the_builder():
    from repro.models.build import build_from_config
    from repro.config.loader import complete

    with pytest.raises(ValueError, match="train_crop"):
        slowfast_resnet(5, layers=[1, 1, 1, 1], width=16, head_pool="fixed")
    with pytest.raises(ValueError, match="head_pool"):
        slowfast_resnet(5, layers=[1, 1, 1, 1], width=16, head_pool="window", train_crop=224)
    with pytest.raises(ValueError, match="train_crop"):
        slowfast_resnet(5, layers=[1, 1, 1, 1], width=16, train_crop=224)  # means nothing with global
    with pytest.raises(ValueError, match="slow_sampling"):
        slowfast_resnet(5, layers=[1, 1, 1, 1], width=16, slow_sampling="uniform")
    cfg = complete({"model": {"backbone": {"arch": "slowfast", "depth": None, "layers": [1, 1, 1, 1],
                                           "width": 16, "args": {"head_pool": "fixed", "train_crop": 224,
                                                                 "slow_sampling": "linspace"}},
                              "frames": 8}})
    m = build_from_config(cfg, 5)
    assert (m.head_pool, m.train_crop, m.slow_sampling) == ("fixed", 224, "linspace")
    d = slowfast_resnet(5, layers=[1, 1, 1, 1], width=16)
    assert (d.head_pool, d.train_crop, d.slow_sampling) == ("global", None, "stride")  # defaults


def test_linspace_slow_frames_are_pyslowfast_loader_frames():
    m = _tiny(slow_sampling="linspace")
    idx = m.slow_indices(64)
    assert torch.equal(idx, torch.linspace(0, 63, 16).long())
    assert idx.tolist() == [0, 4, 8, 12, 16, 21, 25, 29, 33, 37, 42, 46, 50, 54, 58, 63]
    assert _tiny().slow_indices(64).tolist() == list(range(0, 64, 4))  # default: every alpha-th
    # The Slow stem really gets those frames: frame t of the clip is filled with the value t.
    clip = torch.arange(16.0).view(1, 1, 16, 1, 1).expand(1, 3, 16, 32, 32).contiguous()
    seen = {}
    for name, model in (("linspace", m), ("stride", _tiny())):
        model.slow_stem.register_forward_pre_hook(
            lambda mod, a, name=name: seen.__setitem__(name, a[0][0, 0, :, 0, 0].tolist()))
        with torch.no_grad():
            model.eval()(clip)
    assert seen == {"linspace": [0.0, 5.0, 10.0, 15.0], "stride": [0.0, 4.0, 8.0, 12.0]}
    with pytest.raises(ValueError, match="divisible"):
        m.slow_indices(10)
