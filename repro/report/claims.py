"""Check a spec's qualitative claims against reported and reproduced numbers; rank agreement."""
from __future__ import annotations

import math

import pandas as pd

from repro.spec.loader import Claim


def _holds(claim: Claim, value: dict[str, float]) -> bool | None:
    """True/False if every row the claim needs has a value, else None."""
    rows = claim.rows + [r for r in claim.among if r not in claim.rows]
    if any(r not in value for r in rows):
        return None
    v = [value[r] for r in claim.rows]
    if claim.kind == "greater":
        return v[0] > v[1]
    if claim.kind == "order":  # rows listed in increasing order
        return all(a < b for a, b in zip(v, v[1:]))
    among = claim.among or list(value)
    return all(value[claim.rows[0]] >= value[r] for r in among)


def _verdict(h: bool | None) -> str:
    return {True: "upheld", False: "contradicted", None: "cannot tell (rows missing)"}[h]


def check_claims(claims: list[Claim], df: pd.DataFrame, default_dataset: str,
                 split: str = "val") -> list[dict]:
    """One dict per (claim, source): source is 'paper' or a reproduced profile."""
    out = []
    for c in claims:
        ds = c.dataset or default_dataset
        rep = df[(df["metric"] == c.metric) & (df["dataset"] == ds) & (df["split"] == split)
                 & df["reported"].notna()]
        reported = dict(zip(rep["row"], rep["reported"]))
        line = {"claim": c.id, "text": c.text, "paper": _verdict(_holds(c, reported))}
        prod = df[(df["metric"] == c.metric) & df["reproduced"].notna()]
        for prof, sub in prod.groupby("profile"):
            line[str(prof)] = _verdict(_holds(c, dict(zip(sub["row"], sub["reproduced"]))))
        out.append(line)
    return out


def kendall_tau(a: list[float], b: list[float]) -> float | None:
    """Kendall's tau-b between two orderings of the same items (None for fewer than 2)."""
    n = len(a)
    if n < 2:
        return None
    conc = disc = ties_a = ties_b = 0
    for i in range(n):
        for j in range(i + 1, n):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + ties_a) * (conc + disc + ties_b))
    return (conc - disc) / denom if denom else None


def rank_agreement(df: pd.DataFrame, metric: str, dataset: str,
                   split: str = "val") -> dict[str, tuple[float | None, int]]:
    """Per reproduced profile: Kendall tau between reported and reproduced ``metric`` over rows."""
    out = {}
    rep = df[(df["metric"] == metric) & (df["dataset"] == dataset) & (df["split"] == split)
             & df["reported"].notna()]
    reported = dict(zip(rep["row"], rep["reported"]))
    prod = df[(df["metric"] == metric) & df["reproduced"].notna()]
    for prof, sub in prod.groupby("profile"):
        common = [r for r in sub["row"] if r in reported]
        vals = dict(zip(sub["row"], sub["reproduced"]))
        out[str(prof)] = (kendall_tau([reported[r] for r in common], [vals[r] for r in common]), len(common))
    return out
