"""Metric definitions: top-k, per-family accuracy and the reversal-pair accuracy."""
from __future__ import annotations

import torch

from repro.engine.metrics import family_accuracy, reversal_pair_accuracy, topk


def test_topk():
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    labels = torch.tensor([2, 0])
    assert topk(scores, labels, 1) == 50.0
    assert topk(scores, labels, 2) == 100.0


def test_order_blind_scores_give_half_on_reversal_pairs():
    # A video and its time reverse get the same scores from an order-blind model.
    same = torch.tensor([[0.6, 0.4], [0.6, 0.4]])
    assert reversal_pair_accuracy(same, torch.tensor([0, 1]), [[0, 1]]) == 50.0
    aware = torch.tensor([[0.6, 0.4], [0.3, 0.7]])
    assert reversal_pair_accuracy(aware, torch.tensor([0, 1]), [[0, 1]]) == 100.0
    assert reversal_pair_accuracy(aware, torch.tensor([0, 1]), []) is None


def test_family_accuracy():
    scores = torch.eye(3)[[0, 1, 0]]
    out = family_accuracy(scores, torch.tensor([0, 1, 2]), ["a", "a", "b"])
    assert out == {"a": 100.0, "b": 0.0}
