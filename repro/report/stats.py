"""Significance tests behind every claim verdict: Welch's t-test between two rows' seeds, Holm's
adjustment within a claim that rests on several comparisons, and the rule that flags a row
whose seeds split.

The rule, in one sentence, is :data:`RULE` (the reports print it). Welch's test, not a pooled
one: the rows' seed variances differ by an order of magnitude where a row's seeds split.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats as sps

ALPHA = 0.05
# A row's seeds split when their top-1 values span more than this many points: some seeds learn
# the task and others do not, and a mean ± std describes neither group.
SPLIT_RANGE = 20.0
# Seeds per row for the rows an undecided claim rests on (run_all.py --undecided-seeds): a number
# fixed before looking, never "add seeds until significant", which inflates false positives.
UNDECIDED_SEEDS = 8

RULE = ("A difference counts when Welch's two-sided t-test over the two rows' per-seed values rejects "
        f"equal means at alpha {ALPHA:g} (a claim resting on several differences, such as the best row "
        "or a step-by-step order, needs every one of them significant after Holm's adjustment within "
        "the claim); numbers without seeds, the paper's and exact counts, compare by sign.")

Value = tuple[float, float, int]  # mean, std over seeds (sample), number of seeds


@dataclass(frozen=True)
class Test:
    """Welch's test of ``a - b`` (two-sided). ``p`` is nan when it cannot be computed (a side
    with a single run has no variance)."""

    diff: float
    t: float
    df: float
    p: float
    n_a: int
    n_b: int

    @property
    def testable(self) -> bool:
        return not math.isnan(self.p)

    def text(self, p_adj: float | None = None) -> str:
        if not self.testable:
            return f"diff {self.diff:+.1f}, {self.n_a} vs {self.n_b} seeds: a single run has no spread to test"
        if math.isinf(self.df):  # both rows without spread: every seed gave the same value
            return (f"diff {self.diff:+.1f}, no spread in either row (p = {self.p:g}), "
                    f"n = {self.n_a} vs {self.n_b}")
        t, df = f"{self.t:.2f}", f"{self.df:.1f}"
        adj = f", Holm {p_adj:.3g}" if p_adj is not None and p_adj != self.p else ""
        return f"diff {self.diff:+.1f}, t = {t}, df {df}, p = {self.p:.3g}{adj}, n = {self.n_a} vs {self.n_b}"


def welch(a: Value, b: Value) -> Test:
    """Welch's unequal-variance t-test of mean(a) - mean(b) from means, stds and seed counts
    (:func:`scipy.stats.ttest_ind_from_stats`). Two rows with no spread at all differ
    certainly when their means differ (t infinite, p 0) and not at all when they are equal."""
    (ma, sa, na), (mb, sb, nb) = a, b
    diff = ma - mb
    if na < 2 or nb < 2:
        return Test(diff, math.nan, math.nan, math.nan, na, nb)
    if sa == 0 and sb == 0:
        return Test(diff, math.copysign(math.inf, diff) if diff else 0.0, math.inf,
                    0.0 if diff else 1.0, na, nb)
    r = sps.ttest_ind_from_stats(ma, sa, na, mb, sb, nb, equal_var=False)
    va, vb = sa * sa / na, sb * sb / nb
    df = (va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    return Test(diff, float(r.statistic), df, float(r.pvalue), na, nb)


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone), in the input order."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def splits(values: list[float]) -> bool:
    """Whether per-seed values split into seeds that learn and seeds that do not."""
    return len(values) > 1 and max(values) - min(values) > SPLIT_RANGE
