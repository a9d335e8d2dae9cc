"""Input normalisation follows the weights: data.mean/std (ImageNet's by default, PySlowFast's
0.45 / 0.225 in its recipes) are the model's input statistics, and a converted PySlowFast
checkpoint tested as published is normalised as PySlowFast trained it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from repro.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from repro.engine.inputs import to_input
from repro.models.build import build_from_config
from repro.run.weights import load_weights
from repro.config.loader import load_spec, resolve

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints"
PYSLOWFAST = ((0.45, 0.45, 0.45), (0.225, 0.225, 0.225))


def test_to_input_uses_the_models_statistics():
    x = torch.full((1, 3, 2, 2, 2), 255, dtype=torch.uint8)
    model = torch.nn.Identity()
    model.input_stats = PYSLOWFAST
    assert torch.allclose(to_input(x, torch.device("cpu"), model), torch.tensor((1 - 0.45) / 0.225))
    plain = to_input(x, torch.device("cpu"), torch.nn.Identity())  # a model built elsewhere: ImageNet
    assert torch.allclose(plain[0, :, 0, 0, 0], (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD))


def test_recipes_set_the_statistics_the_model_carries():
    sf = resolve(load_spec("gta_fig3"), "slowfast_r50", "paper")
    assert (sf["data"]["mean"], sf["data"]["std"]) == ([0.45] * 3, [0.225] * 3)
    tsm = resolve(load_spec("gta_table1"), "tsm_8f", "paper")
    assert tuple(tsm["data"]["mean"]) == IMAGENET_MEAN and tuple(tsm["data"]["std"]) == IMAGENET_STD
    syn = resolve(load_spec("ssa_table2"), "ssa", "synthetic")
    assert build_from_config(syn, 30).input_stats == (IMAGENET_MEAN, IMAGENET_STD)


def _pyslowfast_file(tmp_path: Path) -> Path:
    from test_convert import make_checkpoint

    doc = json.loads((FIXTURES / "pyslowfast_slowfast_16x8_r50.json").read_text())
    path = tmp_path / "SLOWFAST_16x8_R50.pyth"
    ck = make_checkpoint(doc)
    torch.save({k: ({n: t.clone() for n, t in v.items()} if isinstance(v, dict) else v) for k, v in ck.items()}
               if isinstance(ck, dict) else ck, path)
    return path


@pytest.mark.parametrize("trunk_only", [False, True])
def test_a_pyslowfast_checkpoint_is_tested_with_pyslowfast_statistics(tmp_path, trunk_only):
    path = _pyslowfast_file(tmp_path)
    imagenet = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    cfg = resolve(load_spec("gta_fig3"), "slowfast_r50", "paper",
                  {"data": imagenet, "model": {"weights": str(path), "weights_source": "pyslowfast"}})
    model = build_from_config(cfg, 174)
    said: list[str] = []
    w = load_weights(model, cfg, trunk_only=trunk_only, say=lambda m, **_: said.append(m))
    if trunk_only:  # fine-tuning: the row's recipe decides
        assert model.input_stats == (IMAGENET_MEAN, IMAGENET_STD) and not said
    else:  # tested as published
        assert model.input_stats == PYSLOWFAST and any("statistics" in m for m in said)
        assert w["input_stats"] == {"mean": [0.45] * 3, "std": [0.225] * 3}
