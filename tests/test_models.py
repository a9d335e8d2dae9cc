"""Model shapes, identity at start, gradients, and frame-order behaviour of the ssa_table2 rows."""
from __future__ import annotations

import pytest
import torch

from repro import build_model
from repro.models.attention import ZeroInitOut
from repro.models.registry import get_module, module_names
from repro.models.resnet import tsn_resnet

ROWS = ["nl3d", "nl2d", "nl1d", "nl2d1d", "ssa"]
ORDER_BLIND = ["nl3d", "nl2d", "nl1d", "nl2d1d"]


def _wake(model: torch.nn.Module) -> torch.nn.Module:
    """Give every zero-initialised output BN random weights, so inserted blocks do something."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, ZeroInitOut):
            m.bn.weight.data = torch.randn(m.bn.weight.shape, generator=g)
            m.bn.bias.data = torch.randn(m.bn.bias.shape, generator=g) * 0.1
    return model


@pytest.mark.parametrize("name", module_names())
def test_module_shape_identity_and_gradients(name):
    if getattr(get_module(name), "position", None) == "replace_conv2":
        pytest.skip("replaces conv2; its block starts as identity through a zeroed bn3 (tests/test_rsa.py)")
    torch.manual_seed(0)
    mod = get_module(name)(32).eval()
    x = torch.randn(2, 32, 4, 6, 6)
    y = mod(x)
    assert y.shape == x.shape
    assert torch.allclose(y, x), "an inserted block must be the identity at start"
    _wake(mod).train()
    mod(x).square().mean().backward()
    grads = [p.grad for p in mod.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert sum(g.abs().sum().item() for g in grads) > 0


@pytest.mark.parametrize("row", ROWS)
def test_row_logits_shape_and_identity_at_start(row):
    torch.manual_seed(0)
    model = build_model("ssa_table2", row, "synthetic").eval()
    plain = tsn_resnet(15, layers=[1, 1, 2, 1], width=16, num_frames=8)
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    assert not missing and unexpected, "only the inserted modules' parameters are extra"
    x = torch.randn(2, 3, 8, 28, 28)
    out = model(x)
    assert out.shape == (2, 15)
    assert torch.allclose(out, plain.eval()(x), atol=1e-5)


def test_paper_profile_is_resnet50_with_torchvision_names():
    from torchvision.models import resnet50

    model = build_model("ssa_table2", "ssa", "paper")
    ref = resnet50().state_dict()
    ours = model.state_dict()
    trunk = {k for k in ours if ".mid." not in k and ".post." not in k}
    assert trunk == set(ref), "trunk parameter names must match torchvision's resnet50"
    assert all(ours[k].shape == ref[k].shape for k in ref if not k.startswith("fc."))
    assert ours["fc.weight"].shape == (174, 2048)
    n_ssa = sum(1 for k in ours if k.endswith(".mid.module.query.weight"))
    assert n_ssa == 5, "SSA sits in 2 blocks of layer2 and 3 of layer3"
    assert model.layer2[1].mid.module.query.in_channels == 128
    assert model.layer3[5].mid.module.query.in_channels == 256


@pytest.mark.parametrize("row", ROWS)
def test_frame_order(row):
    """Permuting frames leaves order-blind rows' logits unchanged and changes SSA's.

    In float64, an order-blind model's logits agree to rounding (~1e-15); an order-aware one
    differs by far more even at random init, where its temporal attention is nearly uniform.
    """
    torch.manual_seed(0)
    model = _wake(build_model("ssa_table2", row, "synthetic")).double().eval()
    x = torch.randn(2, 3, 8, 28, 28, dtype=torch.float64)
    perm = torch.tensor([3, 0, 6, 1, 7, 2, 5, 4])
    with torch.no_grad():
        a, b, rev = model(x), model(x[:, :, perm]), model(x.flip(2))
    d_perm, d_rev = (a - b).abs().max().item(), (a - rev).abs().max().item()
    if row in ORDER_BLIND:
        assert d_perm < 1e-10 and d_rev < 1e-10
    else:
        assert d_perm > 1e-7 and d_rev > 1e-7


def test_ssa_without_temporal_conv_is_order_blind():
    torch.manual_seed(0)
    mod = _wake(get_module("ssa")(16, ta=False)).double().eval()
    x = torch.randn(2, 16, 6, 4, 4, dtype=torch.float64)
    perm = torch.tensor([5, 2, 0, 4, 1, 3])
    with torch.no_grad():
        assert torch.allclose(mod(x)[:, :, perm], mod(x[:, :, perm]), atol=1e-12)
        full = _wake(get_module("ssa")(16)).double().eval()
        assert not torch.allclose(full(x)[:, :, perm], full(x[:, :, perm]), atol=1e-9)


def test_ssa_switches_change_the_module():
    full = get_module("ssa")(16)
    no_ta = get_module("ssa")(16, ta=False)
    no_sve = get_module("ssa")(16, sve=False)
    assert full.t_query.kernel_size == (3, 1, 1) and no_ta.t_query.kernel_size == (1, 1, 1)
    assert full.t_value is None and no_sve.t_value is not None
    with pytest.raises(ValueError, match="temporal_scope"):
        get_module("ssa")(16, temporal_scope="bogus")


def test_temporal_shift_moves_channels_between_frames():
    from repro.models.tsm import TemporalShift

    x = torch.arange(2 * 4 * 8, dtype=torch.float64).view(2 * 4, 8, 1, 1)  # N=2, T=4, C=8
    y = TemporalShift(4, fold_div=4)(x).view(2, 4, 8)
    xv = x.view(2, 4, 8)
    assert torch.equal(y[:, :-1, :2], xv[:, 1:, :2]) and (y[:, -1, :2] == 0).all()
    assert torch.equal(y[:, 1:, 2:4], xv[:, :-1, 2:4]) and (y[:, 0, 2:4] == 0).all()
    assert torch.equal(y[:, :, 4:], xv[:, :, 4:])


def test_tsm_backbone_is_order_aware_and_free():
    from repro.cost import cost_of

    torch.manual_seed(0)
    model = build_model("ssa_table2", "nl3d", "synthetic", {"model": {"backbone": {"shift": True},
                                                                       "insert": {"module": None}}})
    model = model.double().eval()
    x = torch.randn(2, 3, 8, 28, 28, dtype=torch.float64)
    with torch.no_grad():
        assert (model(x) - model(x.flip(2))).abs().max() > 1e-6
    plain = lambda: tsn_resnet(174, depth=50, num_frames=8)  # noqa: E731

    def tsm():
        m = plain()
        m.add_temporal_shift(8)
        return m
    assert cost_of(tsm, 8) == cost_of(plain, 8)  # a shift has no parameters and no multiply-adds


def test_backbones_offer_the_written_interface():
    from repro.models.backbone import Backbone
    from repro.models.resnet import tsn_resnet
    from repro.models.slowfast import slowfast_resnet

    for m in (tsn_resnet(5, layers=[1, 1, 1, 1], width=8), slowfast_resnet(5, layers=[1, 1, 1, 1], width=8)):
        assert isinstance(m, Backbone)
        assert [len(m.blocks(s)) for s in ("layer1", "layer2", "layer3", "layer4")] == [1, 1, 1, 1]
