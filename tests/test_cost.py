"""Cost counting in the papers' convention, against costs printed in GTA Figure 3 / Figure 7."""
from __future__ import annotations

import pytest
import torch

from repro.cost import cost_of, model_cost
from repro.models.registry import get_module
from repro.models.resnet import tsn_resnet

NL_PLACES = {"layer2": [1, 3], "layer3": [1, 3, 5]}


def _r50(module: str | None = None):
    def build():
        m = tsn_resnet(174, depth=50, num_frames=8)
        if module:
            for stage, blocks in NL_PLACES.items():
                for b in blocks:
                    m.insert(stage, b, "after_block", lambda c: get_module(module)(c))
        return m
    return build


def test_r2d50_matches_gta_figure3():
    c = cost_of(_r50(), frames=8)
    assert c["gflops"] == pytest.approx(32.7, rel=0.01)  # GTA Figure 3: R2D-50 32.7 G
    assert c["params_m"] == pytest.approx(23.9, abs=0.1)  # 23.9 M


def test_nl_matches_gta_figure3_and_counts_attention():
    c = cost_of(_r50("nl3d"), frames=8)
    assert c["gflops"] == pytest.approx(61.1, rel=0.01)  # GTA Figure 3: +NL 61.1 G
    assert c["params_m"] == pytest.approx(31.2, abs=0.1)  # 31.2 M
    # Without the attention matmuls (what FlopCounterMode alone sees through SDPA) it would be
    # far lower: the five blocks' attention is tens of GMACs at 224x224.
    assert c["gflops"] - cost_of(_r50(), frames=8)["gflops"] > 20


def test_model_cost_on_a_real_model_equals_meta_count():
    small = lambda: tsn_resnet(10, layers=[1, 1, 1, 1], width=8, num_frames=4)  # noqa: E731
    torch.manual_seed(0)
    assert model_cost(small(), frames=4, size=64) == cost_of(small, frames=4, size=64)
