"""The metric registry: every metric a result, a spec or a report names, registered once.

A metric is registered here with its report label, its direction, its printed precision and
its kind; spec validation (``repro.config.schema``), the seed reduction
(:mod:`repro.report.seeds`) and the report tables read it instead of keeping their own lists.
Torch-free and import-free, so ``run_all.py --report-only`` and ``--list`` stay light.

Adding a metric computed from class scores: its function (any module) and one :func:`register`
line below with ``compute=`` naming it. Otherwise one :func:`register` line below (its order is the order a result's metrics
are read in, hence the order of a table's lines). Per-family accuracies of the synthetic probe
(``family:<name>``) are named by the data, not registered: see :data:`FAMILY_PREFIX`.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Metric:
    """One metric.

    ``label``: its name in report headers. ``higher_is_better``: its direction. ``digits``:
    decimals where a report prints a single value (means over seeds print with one).
    ``retrieval``: a text-to-video retrieval metric. ``in_specs``: a spec may give a paper's
    value of it or make a claim on it. ``shown``: listed in a table's main section even where
    the paper reports none. ``tolerance``: for exact counts, how far from the paper's printed
    (rounded) value a count still reproduces it: ``("rel", fraction)`` or ``("abs", amount)``;
    such a metric is a cost, reported in its own section. ``compute``: ``"package.module:function"``
    of a metric computed from a trained row's per-video class scores, called as
    ``function(scores (N, K), labels (N,), info) -> float | None`` after the built-in ones
    (:func:`repro.engine.metrics.summarize`); None for the built-ins, cost counts and retrieval
    metrics, which their own code computes.
    """

    name: str
    label: str
    higher_is_better: bool = True
    digits: int = 1
    retrieval: bool = False
    in_specs: bool = True
    shown: bool = False
    tolerance: tuple[str, float] | None = None
    compute: str | None = None

    @property
    def cost(self) -> bool:
        return self.tolerance is not None


_REGISTRY: dict[str, Metric] = {}
# A synthetic probe result's per-family accuracy is the metric "family:<family name>".
FAMILY_PREFIX = "family:"


def register(m: Metric) -> Metric:
    """Add a metric (a name may be registered once; the same entry again is a no-op)."""
    old = _REGISTRY.get(m.name)
    if old is not None and old != m:
        raise ValueError(f"metric {m.name!r} is already registered as {old}")
    _REGISTRY[m.name] = m
    return m


register(Metric("top1", "Top-1", shown=True))
register(Metric("top5", "Top-5"))
register(Metric("gflops", "GFLOPs", higher_is_better=False, digits=2, tolerance=("rel", 0.01)))
register(Metric("params_m", "Params (M)", higher_is_better=False, digits=2, tolerance=("abs", 0.1)))
register(Metric("r@1", "R@1", retrieval=True, shown=True))
register(Metric("r@5", "R@5", retrieval=True, shown=True))
register(Metric("r@10", "R@10", retrieval=True))
register(Metric("median_rank", "Median rank", higher_is_better=False, retrieval=True))
register(Metric("order_only_r@1", "Order-only R@1", retrieval=True, shown=True))
register(Metric("appearance_r@1", "Appearance R@1", retrieval=True, in_specs=False))
# Percent of order-dependent videos scored above their time-reversed partner class (probe only).
register(Metric("reversal_pairs", "Reversal pairs", in_specs=False))


def metric(name: str) -> Metric:
    """The registered metric ``name`` (a KeyError naming the known ones otherwise)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown metric {name!r} (known: {', '.join(_REGISTRY)})")
    return _REGISTRY[name]


def metric_names(retrieval: bool | None = None, in_specs: bool | None = None,
                 shown: bool | None = None, cost: bool | None = None) -> tuple[str, ...]:
    """Registered names in registration order, kept to those matching every filter given."""
    want = {"retrieval": retrieval, "in_specs": in_specs, "shown": shown, "cost": cost}
    return tuple(m.name for m in _REGISTRY.values()
                 if all(v is None or getattr(m, k) == v for k, v in want.items()))


def computed() -> list[tuple[str, Callable]]:
    """``(name, function)`` of every metric registered with ``compute`` (imported on first use)."""
    out = []
    for m in _REGISTRY.values():
        if m.compute:
            module, _, attr = m.compute.partition(":")
            out.append((m.name, getattr(importlib.import_module(module), attr)))
    return out


def label(name: str) -> str:
    """A metric's report label; a family's is its family name."""
    if name.startswith(FAMILY_PREFIX):
        return name[len(FAMILY_PREFIX):]
    return metric(name).label


def tolerances() -> dict[str, tuple[str, float]]:
    """Cost metric -> its tolerance (see :class:`Metric`)."""
    return {m.name: m.tolerance for m in _REGISTRY.values() if m.tolerance is not None}
