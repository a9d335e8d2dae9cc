"""The metric and dataset registries are the one list: spec validation and the reports agree with them."""
from __future__ import annotations

import pytest

from repro import metrics as M
from repro.config import schema as S
from repro.data import registry


def test_spec_schema_lists_what_the_registries_list():
    # Until the schema imports these lists (then the names may go, and this is trivially true).
    assert tuple(getattr(S, "METRICS", M.metric_names(in_specs=True))) == M.metric_names(in_specs=True)
    assert tuple(getattr(S, "DATASETS", registry.dataset_names())) == registry.dataset_names()
    assert registry.dataset_names(retrieval=True) == ("msrvtt", "youcook2")


def test_reports_read_the_metric_registry():
    from repro.report import retrieval, seeds, tables

    assert seeds.RETRIEVAL_METRICS == M.metric_names(retrieval=True)
    assert tables.SHOWN == ("top1", "r@1", "r@5", "order_only_r@1")
    assert tables.TOLERANCE == {"gflops": ("rel", 0.01), "params_m": ("abs", 0.1)}
    assert dict(retrieval.COLUMNS)["median_rank"] == "Median rank"
    assert not M.metric("median_rank").higher_is_better and M.metric("top1").higher_is_better


def test_flat_metrics_keep_registry_order_and_drop_unregistered_keys():
    from repro.report.seeds import flat_metrics

    m = {"val_loss": 1.0, "reversal_pairs": 50.0, "r@1": 3.0, "top5": 9.0, "top1": 4.0,
         "family": {"relation": 60.0, "appearance": 90.0}}
    assert list(flat_metrics({"metrics": m})) == ["top1", "top5", "r@1", "reversal_pairs",
                                                   "family:appearance", "family:relation"]
    assert M.label("family:relation") == "relation" and M.label("reversal_pairs") == "Reversal pairs"


def test_registering_a_metric_twice_differently_is_refused():
    M.register(M.metric("top1"))  # the same entry: no-op
    with pytest.raises(ValueError, match="already registered"):
        M.register(M.Metric("top1", "Accuracy"))


def test_a_new_metric_is_one_function_and_one_registry_line(monkeypatch):
    """Registered with compute=, a metric lands in every trained row's metrics and in the reports."""
    import sys
    from pathlib import Path

    import torch

    from repro.engine.metrics import summarize
    from repro.report.seeds import flat_metrics

    monkeypatch.syspath_prepend(str(Path(__file__).parent / "fixtures"))
    monkeypatch.setattr(M, "_REGISTRY", dict(M._REGISTRY))
    M.register(M.Metric("top2", "Top-2", compute="toy_metric:top2"))  # the one registry line
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])
    labels = torch.tensor([2, 1, 0])
    m = summarize(scores, labels, {})
    assert m["top2"] == pytest.approx(200 / 3) and m["top1"] == 0.0  # video 0 and 1 in the top 2
    assert flat_metrics({"metrics": m})["top2"] == m["top2"] and M.label("top2") == "Top-2"
    assert "top2" in M.metric_names(in_specs=True)  # a spec may now report it
    sys.modules.pop("toy_metric", None)
