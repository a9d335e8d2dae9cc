"""Check a spec's qualitative claims against reported and reproduced numbers; rank agreement.

Verdicts over seeds rest on :mod:`repro.report.stats` (Welch's t-test, Holm within a claim);
the paper's single numbers compare by sign.
"""
from __future__ import annotations

import math

import pandas as pd
from scipy.stats import kendalltau

from repro.config.loader import Claim
from repro.report.seeds import fmt_mean_std
from repro.report.stats import ALPHA, Test, holm, welch


Value = tuple[float, float, int]  # mean, std over seeds, number of seeds

UPHELD, CONTRADICTED, CANNOT_TELL, MISSING = "upheld", "contradicted", "cannot tell", "rows missing"


def comparisons(claim: Claim, rows: list[str]) -> list[tuple[str, str]]:
    """``(a, b)`` pairs the claim says are ordered ``a > b``: one for ``greater``, each step of
    an ``order`` (listed increasing), the best row against each other row for ``best``."""
    if claim.kind == "greater":
        return [(claim.rows[0], claim.rows[1])]
    if claim.kind == "order":
        return [(b, a) for a, b in zip(claim.rows, claim.rows[1:])]
    best = claim.rows[0]
    return [(best, r) for r in (claim.among or rows) if r != best]


def _by_sign(claim: Claim, value: dict[str, Value]) -> str:
    """The paper's numbers (one value per row): the claim read off the signs."""
    v = [value[r][0] for r in claim.rows]
    if claim.kind == "greater":
        ok = v[0] > v[1]
    elif claim.kind == "order":
        ok = all(a < b for a, b in zip(v, v[1:]))
    else:
        ok = all(value[claim.rows[0]][0] >= value[r][0] for r in (claim.among or list(value)))
    return UPHELD if ok else CONTRADICTED


def judge(claim: Claim, value: dict[str, Value]) -> tuple[str, str]:
    """``(verdict, evidence)`` of ``claim`` on ``value`` (row -> mean, std, seeds).

    Over seeds, each comparison the claim rests on is a Welch test, Holm-adjusted within the
    claim: upheld when all are significant in the claimed direction, contradicted when any is
    significant against it, else cannot tell. The evidence names the means and the test that
    decided (the weakest of an upheld claim, the one against it, or the one that fell short).
    """
    rows = claim.rows + [r for r in claim.among if r not in claim.rows]
    if any(r not in value for r in rows):
        return MISSING, ""
    if all(value[r][2] <= 1 for r in rows):
        return _by_sign(claim, value), ""
    pairs = comparisons(claim, list(value))
    tests = [welch(value[a], value[b]) for a, b in pairs]
    if not all(t.testable for t in tests):
        i = next(i for i, t in enumerate(tests) if not t.testable)
        return CANNOT_TELL, _evidence(value, pairs[i], tests[i], None, len(pairs))
    adj = holm([t.p for t in tests])
    against = [i for i, t in enumerate(tests) if adj[i] < ALPHA and t.diff < 0]
    if against:
        i = min(against, key=lambda i: adj[i])
        return CONTRADICTED, _evidence(value, pairs[i], tests[i], adj[i], len(pairs))
    weakest = max(range(len(tests)), key=lambda i: (tests[i].diff <= 0, adj[i]))
    verdict = UPHELD if all(adj[i] < ALPHA and t.diff > 0 for i, t in enumerate(tests)) else CANNOT_TELL
    return verdict, _evidence(value, pairs[weakest], tests[weakest], adj[weakest], len(pairs))


def _evidence(value: dict[str, Value], pair: tuple[str, str], test: Test, p_adj: float | None,
              n: int) -> str:
    """'(62.1 ± 1.0 vs 50.0 ± 0.0; diff +12.1, t = 5.20, df 2.0, p = 0.035, n = 3 vs 3)'."""
    a, b = pair
    means = f"{fmt_mean_std(*value[a])} vs {fmt_mean_std(*value[b])}"
    which = f"{n} comparisons, Holm within the claim; {a} vs {b}: " if n > 1 else ""
    return f"{which}{means}; {test.text(p_adj if n > 1 else None)}"


def _verdict(h: tuple[str, str]) -> str:
    verdict, evidence = h
    return f"{verdict} ({evidence})" if evidence else verdict


def check_claims(claims: list[Claim], df: pd.DataFrame, default_dataset: str,
                 split: str = "val") -> list[dict]:
    """One dict per (claim, source): source is 'paper' or a reproduced profile."""
    out = []
    for c in claims:
        ds = c.dataset or default_dataset
        rep = df[(df["metric"] == c.metric) & (df["dataset"] == ds) & (df["split"] == split)
                 & df["reported"].notna()]
        reported = {r: (v, 0.0, 1) for r, v in zip(rep["row"], rep["reported"])}
        line = {"claim": c.id, "text": c.text, "paper": _verdict(judge(c, reported))}
        prod = df[(df["metric"] == c.metric) & df["reproduced"].notna()]
        for prof, sub in prod.groupby("profile"):
            vals = {r.row: (r.reproduced, 0.0 if pd.isna(r.reproduced_std) else r.reproduced_std,
                            int(r.seeds) if str(r.seeds).isdigit() else 1)
                    for r in sub.drop_duplicates("row").itertuples()}
            line[str(prof)] = _verdict(judge(c, vals))
        out.append(line)
    return out


def kendall_tau(a: list[float], b: list[float]) -> float | None:
    """Kendall's tau-b between two orderings of the same items (None for fewer than 2 items or
    no ordered pair)."""
    if len(a) < 2:
        return None

    tau = kendalltau(a, b).statistic
    return None if math.isnan(tau) else float(tau)


# Rank agreement compares the paper's numbers with numbers of the same kind only: the paper's
# recipe on the paper's dataset. Synthetic, smoke and cost numbers measure something else.
COMPARABLE_PROFILES = ("paper",)


def rank_agreement(df: pd.DataFrame, metric: str, dataset: str,
                   split: str = "val") -> dict[str, tuple[float | None, int]]:
    """Kendall tau between reported and reproduced ``metric`` over rows, for each profile whose
    numbers are comparable with the paper's (:data:`COMPARABLE_PROFILES`), on the paper's
    dataset and split only."""
    out = {}
    rep = df[(df["metric"] == metric) & (df["dataset"] == dataset) & (df["split"] == split)
             & df["reported"].notna()]
    reported = dict(zip(rep["row"], rep["reported"]))
    prod = df[(df["metric"] == metric) & df["reproduced"].notna() & df["profile"].isin(COMPARABLE_PROFILES)
              & (df["dataset"] == dataset) & (df["split"] == split)]
    for prof, sub in prod.groupby("profile"):
        common = [r for r in sub["row"] if r in reported]
        vals = dict(zip(sub["row"], sub["reproduced"]))
        out[str(prof)] = (kendall_tau([reported[r] for r in common], [vals[r] for r in common]), len(common))
    return out
