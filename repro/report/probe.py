"""``reports/probe.md``: the synthetic probe across modules and tables, with one per-family plot.

Reads only result files (no training): the module comparison of ``probe_modules`` and, for
every table of the probe tier, its claims as checked on the synthetic profile.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from tabulate import tabulate

from repro.config.loader import MODULES_TABLE, load_spec, probe_tables
from repro.data.synthetic import CLASSES, label_text
from repro.files import write_atomic
from repro.report.claims import check_claims
from repro.report.plots import family_heatmap
from repro.report.retrieval import retrieval_section
from repro.report.seeds import AWARE_STDS, BLIND_BAND, fmt_mean_std, order_sensitivity
from repro.report.stats import RULE, SPLIT_RANGE, UNDECIDED_SEEDS, splits
from repro.report.tables import (TOLERANCE, family_groups, family_table, long_table, narrow_tables,
                                 probe_lines)
from repro.results.select import select_results

CAPTIONS_TABLE = "probe_captions"  # caption retrieval on the same modules' features


def _families_text() -> list[str]:
    fams: dict[str, list[str]] = {}
    for c in CLASSES:
        fams.setdefault(c.family, []).append(label_text(c.template))
    return [f"- **{f}**: {'; '.join(names)}" for f, names in fams.items()]


def _synthetic(tables: list[str], results_dir: Path, metric: str):
    """``(table, line)`` for every probe row's synthetic ``metric`` line of the long table."""
    for t in tables:
        spec = load_spec(t)
        df = long_table(spec, select_results(spec, results_dir).current)
        sel = df[(df["metric"] == metric) & (df["profile"] == "synthetic") & df["reproduced"].notna()]
        for r in sel.itertuples():
            yield t, r


def _order_rows(tables: list[str], results_dir: Path) -> list[list[str]]:
    """Every probe row's reversal-pair accuracy over seeds, with its order verdict."""
    return [[f"[{t}]({t}.md)", r.label, fmt_mean_std(r.reproduced, r.reproduced_std, int(r.seeds)),
             str(r.seeds), order_sensitivity(r.reproduced, r.reproduced_std)]
            for t, r in _synthetic(tables, results_dir, "reversal_pairs")]


def _split_rows(tables: list[str], results_dir: Path) -> list[list[str]]:
    """Every probe row whose top-1 over seeds splits (:func:`repro.report.stats.splits`)."""
    return [[f"[{t}]({t}.md)", r.label, fmt_mean_std(r.reproduced, r.reproduced_std, int(r.seeds)),
             " / ".join(f"{v:.1f}" for v in r.per_seed)]
            for t, r in _synthetic(tables, results_dir, "top1") if splits(list(r.per_seed))]


def probe_claims(spec) -> list:
    """The claims of ``spec`` the probe tests: cost claims and claims about rows outside the tier
    (SlowFast) are not the probe's to test."""
    tier = set(spec.probe_rows)
    return [c for c in spec.claims if c.metric not in TOLERANCE and set(c.rows + c.among) <= tier]


def _claim_rows(tables: list[str], results_dir: Path) -> list[list[str]]:
    rows = []
    for t in tables:
        spec = load_spec(t)
        df = long_table(spec, select_results(spec, results_dir).current)
        for c in check_claims(probe_claims(spec), df, spec.dataset, spec.split):
            rows.append([f"[{t}]({t}.md)", c["text"], c["paper"], c.get("synthetic", "not run")])
    return rows


def _wall_time(tables: list[str], results_dir: Path) -> list[list[str]]:
    rows = []
    for t in tables:
        runs = [r for r in select_results(load_spec(t), results_dir).current if r["provenance"]["profile"] == "synthetic"
                and not r["provenance"].get("reused_from")]  # copies cost nothing
        if runs:
            # A run re-evaluated from its final checkpoint has a short wall time; its training
            # time is the checkpoint's, so count whichever is larger.
            secs = sum(max(float(r["provenance"].get("wall_time_s") or 0),
                           float(r["provenance"].get("train_time_s") or 0)
                           + float(r["provenance"].get("eval_time_s") or 0)) for r in runs)
            seeds = sorted({str(r["provenance"].get("seed")) for r in runs})
            rows.append([t, str(len(runs)), ",".join(seeds), f"{secs / 60:.1f}"])
    return rows


def _captions_section(results_dir: Path, reports_dir: Path) -> list[str]:
    """Caption retrieval on every module's features (experiments/probe_captions.yaml)."""
    spec = load_spec(CAPTIONS_TABLE)
    current = [r for r in select_results(spec, results_dir).current if r["provenance"]["profile"] == "synthetic"]
    lines = retrieval_section(spec, current, reports_dir / "probe_captions.retrieval.png",
                              "Caption retrieval on every module's features")
    return lines + ["", f"Full report: [{CAPTIONS_TABLE}]({CAPTIONS_TABLE}.md)."] if lines else []


def write_probe_report(results_dir: Path, reports_dir: Path) -> Path:
    """``reports/probe.md``: the class families, the module comparison, the caption probe, frame
    order, the papers' claims, split seeds and the cost of every probe table."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    tables = probe_tables()
    md = reports_dir / "probe.md"
    out = ["# The temporal-reasoning probe", "",
           "Generated by `python run_all.py --probe` (every table below on the synthetic profile, "
           "each row once per seed) and regenerated from `results/` by `python run_all.py "
           "--report-only`. These are **not** paper reproductions: a generated dataset "
           "(README, *The synthetic dataset*) and a CPU-sized TSN ResNet test what a module can "
           "and cannot see, family by family. Probe your own module with `python -m repro.probe` "
           "(README, *Probing your own module*).", "",
           "Class families:", "", *_families_text()]
    out += _modules_section(results_dir, reports_dir)
    out += _captions_section(results_dir, reports_dir)
    out += _order_section(tables, results_dir)
    out += _probe_claims_section(tables, results_dir)
    out += _split_section(tables, results_dir)
    out += _wall_section(tables, results_dir)
    write_atomic(md, "\n".join(out) + "\n", fsync=False)
    return md


def _modules_section(results_dir: Path, reports_dir: Path) -> list[str]:
    """Every module at the same places: accuracy per class family, and its plot."""
    spec = load_spec(MODULES_TABLE)
    labels = {r.id: r.label for r in spec.rows}
    probe = probe_lines(long_table(spec, select_results(spec, results_dir).current))
    out = ["", "## Per module, accuracy per family", ""]
    if probe.empty:
        out += ["No results yet: run `python run_all.py --table probe_modules --profile synthetic`."]
    else:
        headers, rows = family_table(probe, labels)
        png = reports_dir / "probe.png"
        family_heatmap(probe, labels, "Synthetic probe: accuracy (%) per class family, mean ± std over "
                       "seeds (not comparable to the papers; 50 on reversal pairs = order-blind)", png)
        out += [f"Every module at the same places (`experiments/{MODULES_TABLE}.yaml`; "
                f"[full report]({MODULES_TABLE}.md)). Mean ± standard deviation over seeds, %. "
                f"Order: *aware* when reversal pairs exceed 50 by more than {AWARE_STDS:.0f} seed "
                f"standard deviations and {BLIND_BAND:.0f} points, *blind* within {BLIND_BAND:.0f} "
                "points of 50.", "",
                *narrow_tables(headers, rows, family_groups(headers)), "",
                f"![per-module accuracy per family (heatmap)]({png.name})"]
    return out


def _order_section(tables: list[str], results_dir: Path) -> list[str]:
    """Reversal-pair accuracy of every probe row: order-blind, -aware or in between."""
    out: list[str] = []
    out: list[str] = []
    order = _order_rows(tables, results_dir)
    if order:
        blind = [r for r in order if r[-1] == "blind"]
        aware = [r for r in order if r[-1] == "aware"]
        out += ["", "## Frame order: every probe row", "",
                f"{len(blind)} rows are order-blind (within {BLIND_BAND:.0f} points of 50% on "
                f"reversal pairs), {len(aware)} order-aware (above 50 by more than "
                f"{AWARE_STDS:.0f} seed standard deviations and {BLIND_BAND:.0f} points), "
                f"{len(order) - len(blind) - len(aware)} in between.", "",
                tabulate(order, headers=["Table", "Row", "Reversal pairs (%)", "Seeds", "Order"],
                         tablefmt="github", disable_numparse=True)]
    return out


def _probe_claims_section(tables: list[str], results_dir: Path) -> list[str]:
    """Every paper claim judged on the probe, with the test that decides it."""
    out: list[str] = []
    out: list[str] = []
    claims = _claim_rows(tables, results_dir)
    if claims:
        counts = pd.Series([c[3].split(" (")[0] for c in claims]).value_counts()
        summary = ", ".join(f"{n} {v}" for v, n in counts.items())
        out += ["", "## The papers' claims on the probe", "",
                f"{len(claims)} claims: {summary}. {RULE} Each verdict shows the means it rests on, "
                "the deciding test (t, degrees of freedom, p; Holm-adjusted where a claim makes "
                "several comparisons) and the seeds per row. A *cannot tell* claim can be given more "
                f"seeds, fixed in advance: `python run_all.py --probe --undecided-seeds {UNDECIDED_SEEDS}`.", "",
                tabulate(claims, headers=["Table", "Claim", "Paper's numbers", "Synthetic probe"],
                         tablefmt="github", disable_numparse=True)]
    return out


def _split_section(tables: list[str], results_dir: Path) -> list[str]:
    """Rows whose seeds span more than SPLIT_RANGE points of top-1, and why."""
    out: list[str] = []
    out: list[str] = []
    split = _split_rows(tables, results_dir)
    if split:
        out += ["", "## Rows whose seeds split", "",
                f"{len(split)} probe rows have seeds that span more than {SPLIT_RANGE:.0f} points of "
                "top-1: some seeds learn the task and others do not, so their mean ± std describes "
                "neither group. Claims about them rest on Welch's test over these very values. "
                "The cause is the probe's step budget, not its learning rate: re-run under recipe "
                "variants, GTA Figure 5's Region GTA learned frame order on all three seeds with 16 "
                "epochs, on none with lr 0.05, and a longer warm-up or lr 0.2 did not help "
                "(`bench/results/probe_instability.json`; README, *Why some seeds do not learn*). "
                "The probe keeps 8 epochs, which fit its 2-hour budget; 16 would double it.", "",
                tabulate(split, headers=["Table", "Row", "Top-1 (mean ± std)", "Top-1 per seed"],
                         tablefmt="github", disable_numparse=True)]
    return out


def _wall_section(tables: list[str], results_dir: Path) -> list[str]:
    """Training and evaluation minutes per probe table."""
    out: list[str] = []
    out: list[str] = []
    wall = _wall_time(tables, results_dir)
    if wall:
        total = sum(float(r[3]) for r in wall)
        out += ["", "## Cost of the probe", "",
                f"Training and evaluation time summed over runs (minutes, from each result's "
                f"provenance; runs side by side overlap in wall-clock time): {total:.0f} in all.", "",
                tabulate(wall, headers=["Table", "Runs", "Seeds", "Minutes"], tablefmt="github",
                         disable_numparse=True)]
    return out


