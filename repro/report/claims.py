"""Check a spec's qualitative claims against reported and reproduced numbers; rank agreement."""
from __future__ import annotations

import math

import pandas as pd

from repro.report.seeds import compare, fmt_mean_std
from repro.spec.loader import Claim


Value = tuple[float, float, int]  # mean, std over seeds, number of seeds


def _holds(claim: Claim, value: dict[str, Value]) -> bool | None | str:
    """True/False if the claim holds/fails, "spread" if the seed spread cannot tell, None if rows miss.

    Single values (the paper's, one seed) compare directly. Means over seeds compare with
    :func:`repro.report.seeds.compare`: a difference counts only beyond twice its standard error.
    """
    rows = claim.rows + [r for r in claim.among if r not in claim.rows]
    if any(r not in value for r in rows):
        return None
    if all(value[r][2] <= 1 for r in rows):
        v = [value[r][0] for r in claim.rows]
        if claim.kind == "greater":
            return v[0] > v[1]
        if claim.kind == "order":  # rows listed in increasing order
            return all(a < b for a, b in zip(v, v[1:]))
        among = claim.among or list(value)
        return all(value[claim.rows[0]][0] >= value[r][0] for r in among)
    if claim.kind == "greater":
        signs = [compare(value[claim.rows[0]], value[claim.rows[1]])]
    elif claim.kind == "order":
        signs = [compare(value[b], value[a]) for a, b in zip(claim.rows, claim.rows[1:])]
    else:
        best = claim.rows[0]
        signs = [compare(value[best], value[r]) for r in (claim.among or list(value)) if r != best]
    if any(s < 0 for s in signs):
        return False
    return True if all(s > 0 for s in signs) else "spread"


def _verdict(h: bool | None | str) -> str:
    return {True: "upheld", False: "contradicted", None: "cannot tell (rows missing)",
            "spread": "cannot tell within the seed spread"}[h]


def _evidence(claim: Claim, value: dict[str, Value]) -> str:
    """The means (± std) a spread verdict rests on, e.g. '(62.1 ± 1.0 vs 50.0 ± 0.0)'."""
    rows = claim.rows if claim.kind != "best" else [claim.rows[0]]
    parts = [fmt_mean_std(*value[r]) for r in rows if r in value]
    if claim.kind == "best":
        others = [r for r in (claim.among or list(value)) if r != claim.rows[0] and r in value]
        if others:
            top = max(others, key=lambda r: value[r][0])
            parts.append(f"best other {fmt_mean_std(*value[top])}")
    return f" ({' vs '.join(parts)})" if parts else ""


def check_claims(claims: list[Claim], df: pd.DataFrame, default_dataset: str,
                 split: str = "val") -> list[dict]:
    """One dict per (claim, source): source is 'paper' or a reproduced profile."""
    out = []
    for c in claims:
        ds = c.dataset or default_dataset
        rep = df[(df["metric"] == c.metric) & (df["dataset"] == ds) & (df["split"] == split)
                 & df["reported"].notna()]
        reported = {r: (v, 0.0, 1) for r, v in zip(rep["row"], rep["reported"])}
        line = {"claim": c.id, "text": c.text, "paper": _verdict(_holds(c, reported))}
        prod = df[(df["metric"] == c.metric) & df["reproduced"].notna()]
        for prof, sub in prod.groupby("profile"):
            vals = {r.row: (r.reproduced, 0.0 if pd.isna(r.reproduced_std) else r.reproduced_std,
                            int(r.seeds) if str(r.seeds).isdigit() else 1)
                    for r in sub.drop_duplicates("row").itertuples()}
            h = _holds(c, vals)
            spread = any(v[2] > 1 for v in vals.values())
            line[str(prof)] = _verdict(h) + (_evidence(c, vals) if spread and h is not None else "")
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
