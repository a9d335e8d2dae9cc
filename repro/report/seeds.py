"""Runs of one row under several seeds, reduced to mean and standard deviation per metric."""
from __future__ import annotations

import math
import statistics

from repro.metrics import FAMILY_PREFIX, metric_names

# Beyond this distance from 50% on reversal pairs a row is not order-blind ("a few points");
# an order-aware row must also clear 3 seed standard deviations.
BLIND_BAND = 5.0
AWARE_STDS = 3.0
# A retrieval row's metrics (repro/retrieval): text to video, percent, and the median rank.
RETRIEVAL_METRICS = metric_names(retrieval=True)


def flat_metrics(result: dict) -> dict[str, float]:
    """``{"top1": .., "reversal_pairs": .., "family:direction": ..}`` from a result file."""
    m = result["metrics"]
    # Registered metrics only, in registry order: other keys (val_loss, ...) stay out of reports.
    out = {k: float(m[k]) for k in metric_names() if m.get(k) is not None}
    for fam, v in sorted((m.get("family") or {}).items()):
        out[f"{FAMILY_PREFIX}{fam}"] = float(v)
    return out


def aggregate(results: list[dict]) -> list[dict]:
    """One entry per (row, profile): ``mean``/``std`` flat metrics over its runs, ``per_seed``
    (each metric's values in seed order), ``n``, ``runs``.

    ``std`` is the sample standard deviation over seeds (0 for a single run).
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["row"], r["provenance"]["profile"]), []).append(r)
    out = []
    for (row, profile), runs in groups.items():
        runs = sorted(runs, key=lambda r: str(r["provenance"].get("seed", "")))
        flats = [flat_metrics(r) for r in runs]
        keys = [k for k in flats[0] if all(k in f for f in flats)]
        per_seed = {k: [f[k] for f in flats] for k in keys}
        mean = {k: statistics.fmean(v) for k, v in per_seed.items()}
        std = {k: statistics.stdev(v) if len(v) > 1 else 0.0 for k, v in per_seed.items()}
        prov = dict(runs[0]["provenance"])
        if len(runs) > 1:
            prov["seed"] = ",".join(str(r["provenance"].get("seed", "")) for r in runs)
            prov["wall_time_s"] = sum(float(r["provenance"].get("wall_time_s") or 0) for r in runs)
        out.append({"row": row, "profile": profile, "mean": mean, "std": std, "per_seed": per_seed, "n": len(runs),
                    "provenance": prov, "runs": runs})
    return out


def fmt_mean_std(mean: float | None, std: float | None, n: int | None) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    if n and n > 1 and std is not None and not math.isnan(std):
        return f"{mean:.1f} ± {std:.1f}"
    return f"{mean:.1f}"


def order_sensitivity(mean: float | None, std: float | None) -> str:
    """blind / aware / unclear from reversal-pair accuracy over seeds (see module constants)."""
    if mean is None or math.isnan(mean):
        return ""
    std = 0.0 if std is None or math.isnan(std) else std
    if mean - 50.0 > max(AWARE_STDS * std, BLIND_BAND):
        return "aware"
    if abs(mean - 50.0) <= BLIND_BAND:
        return "blind"
    return "unclear"
