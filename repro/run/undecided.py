"""More seeds, fixed in advance, for the rows that undecided claims rest on
(``run_all.py --probe --undecided-seeds N``).

A claim whose Welch test cannot tell (:mod:`repro.report.claims`) may need more seeds than the
profile's three. The rows it compares are run with seeds ``0 .. N-1`` (the finished ones are
skipped) and every claim is judged again on all of them. N is chosen before looking at any
result and never raised after: adding seeds until a test turns significant would inflate the
false-positive rate well above alpha.
"""
from __future__ import annotations

from pathlib import Path

from repro.report.claims import CANNOT_TELL, check_claims
from repro.report.probe import probe_claims
from repro.report.tables import long_table
from repro.results.select import select_results
from repro.config.loader import load_spec


def undecided_rows(tables: list[str], results_dir: Path) -> dict[str, list[str]]:
    """``{table: rows}``: every row that a probe claim undecided on the synthetic profile
    compares, in spec order."""
    out: dict[str, list[str]] = {}
    for t in tables:
        spec = load_spec(t)
        claims = probe_claims(spec)
        if not claims:
            continue
        df = long_table(spec, select_results(spec, results_dir).current)
        rows: set[str] = set()
        for c, checked in zip(claims, check_claims(claims, df, spec.dataset, spec.split)):
            if str(checked.get("synthetic", "")).startswith(CANNOT_TELL):
                rows |= set(c.rows + c.among)
        if rows:
            out[t] = [r.id for r in spec.rows if r.id in rows]
    return out
