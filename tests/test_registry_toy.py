"""Adding a dataset is one module plus one registry line: a toy dataset, end to end.

The toy's whole definition is tests/fixtures/toy_dataset.py; the ``register`` call in the
``toy`` fixture is its registry line. With only those, the smoke profile generates its data,
builds its datasets and trains a row on it. Also: the registries import without torch.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from repro.data import registry, smoke
from repro.data.registry import DatasetInfo
from repro.errors import DatasetError

TOY = DatasetInfo("toy", "Toy clips", 15, "fixtures.toy_dataset")

SPEC = """\
id: toy_table
title: A toy table on the toy dataset
paper: ssan
table: Table 0
dataset: toy
split: val
recipe: ssan_ss
defaults:
  model:
    backbone: {depth: 50, width: 8, pretrained: imagenet}
    frames: 4
rows:
  - id: tsn
    label: TSN
"""


@pytest.fixture
def toy(monkeypatch):
    """Register the toy dataset for one test, leaving the registry as it was afterwards."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "NUM_CLASSES", dict(registry.NUM_CLASSES))
    registry.register(TOY)  # the one registry line
    return TOY


def _smoke_cfg(tmp_path) -> dict:
    """The toy table's row on the smoke profile, at a small crop."""
    from repro.config.loader import load_spec, resolve

    spec = tmp_path / "toy_table.yaml"
    spec.write_text(SPEC)
    return resolve(load_spec(str(spec)), "tsn", "smoke", {"data": {"resize": 72, "crop": 64}})


def test_registry_lists_the_toy_once_registered(toy):
    assert "toy" in registry.dataset_names() and "toy" in registry.dataset_names(retrieval=False)
    assert "toy" not in registry.dataset_names(retrieval=True)
    assert registry.num_classes("toy") == 15 and registry.dataset_info("toy").title == "Toy clips"
    assert smoke.layout_for("toy") == "toy" and "toy" in smoke.layouts()
    registry.register(TOY)  # the same entry again: no-op
    with pytest.raises(ValueError, match="already registered"):
        registry.register(DatasetInfo("toy", "Another toy", 10, "fixtures.toy_dataset"))


def test_toy_smoke_data_builds_datasets(toy, tmp_path):
    cfg = _smoke_cfg(tmp_path)
    assert cfg["data"]["dataset"] == "toy" and cfg["data"]["smoke"] is True
    root, info = registry.prepare(cfg, None, tmp_path, progress=False)
    assert root == tmp_path / "smoke" / "toy" and info["smoke"] is True
    assert len(info["flip_swap"]) == 2  # the synthetic left/right pair, in the toy's label order
    train, val = registry.build_datasets(cfg, root, info)
    assert (len(train), len(val)) == (30, 15) and sorted(r.label for r in val.records) == list(range(15))
    assert train.source == val.source == "toy"
    clip = val[0]
    assert tuple(clip.video.shape) == (3, 4, 64, 64)
    from repro.data.fingerprint import fingerprint

    fp = fingerprint(root, train, val)
    assert "JPEG frames" in fp["decoder"] and fp["sample"]["mean_frames"] == 8.0
    # A real root: the toy's own check and flip pairs.
    with pytest.raises(DatasetError, match="toy=PATH"):
        registry.prepare({**cfg, "data": {**cfg["data"], "smoke": False}})
    assert registry.prepare({**cfg, "data": {**cfg["data"], "smoke": False}},
                            {"toy": str(root)})[1]["flip_swap"] == {0: 1, 1: 0}


@pytest.mark.slow
def test_toy_trains_on_the_smoke_profile(toy, tmp_path, capsys):
    from repro.cli import main

    spec = tmp_path / "toy_table.yaml"
    spec.write_text(SPEC)
    dirs = {k: tmp_path / k for k in ("results", "reports", "runs", "cache")}
    sets = ["data.resize=72", "data.crop=64", "train.max_iters=1", "train.threads=2"]
    code = main(["--table", str(spec), "--profile", "smoke", "--jobs", "1", "--no-progress",
                 *[a for k, d in dirs.items() for a in (f"--{k}-dir", str(d))],
                 *[a for s in sets for a in ("--set", s)]])
    assert code == 0, capsys.readouterr().err
    # A spec given by path is keyed <id>@<hash>; --set runs sit under variants/.
    (path,) = dirs["results"].glob("toy_table@*/smoke/**/tsn.json")
    res = json.loads(path.read_text())
    assert res["config"]["data"]["dataset"] == "toy" and res["config"]["data"]["smoke"] is True
    assert res["provenance"]["val_videos"] == 15
    assert "JPEG frames" in res["provenance"]["dataset_fingerprint"]["decoder"]
    assert (dirs["cache"] / "smoke" / "toy" / "DONE").is_file()


def test_registries_import_without_torch():
    code = ("import sys, repro.data.registry as r, repro.metrics, repro.data.smoke; "
            "[r.layout(n) for n in r.dataset_names(retrieval=False)]; "
            "print(sorted(m for m in ('torch', 'torchvision', 'decord') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"
