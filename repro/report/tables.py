"""Build a table's long result frame (reported beside reproduced) and its markdown and CSV."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from repro import metrics as M
from repro.config.loader import Spec
from repro.files import write_atomic
from repro.report.claims import check_claims, rank_agreement
from repro.report.seeds import AWARE_STDS, BLIND_BAND, aggregate, fmt_mean_std, order_sensitivity
from repro.report.stats import RULE, SPLIT_RANGE, splits

PAPER_NAMES = {"ssan": "SSAN", "gta": "GTA", "rsa": "RSA"}
ARXIV = {"ssan": "2105.13033", "gta": "2012.08510", "rsa": "2111.01673"}
COLUMNS = ["row", "label", "dataset", "split", "metric", "reported", "reported_source",
           "reproduced", "reproduced_std", "seeds", "per_seed", "delta", "profile", "run_dataset",
           "frames", "views", "epochs", "status"]
NOT_COMPARABLE = ("Synthetic-profile numbers are **not comparable** to the paper's: they come from "
                  "a generated temporal-reasoning dataset and a CPU-sized backbone, and only show "
                  "how the rows' modules behave relative to each other. Their Delta column is left "
                  "empty on purpose.")


# Metrics listed in the main table even where the paper reports none: a classifier's top-1, a
# retrieval row's R@1 and R@5, and the probe's order-only R@1 (repro/metrics.py, shown=True).
SHOWN = M.metric_names(shown=True)
# Cost columns are exact counts: within these they reproduce the paper's printed (rounded) value.
TOLERANCE = M.tolerances()


def within_tolerance(metric: str, reported: float, reproduced: float) -> bool | None:
    if metric not in TOLERANCE:
        return None
    kind, tol = TOLERANCE[metric]
    err = abs(reproduced - reported)
    return err <= (tol * abs(reported) if kind == "rel" else tol + 1e-9)


def _status(profile: str | None, metric: str, reported: float | None, reproduced: float | None) -> str:
    if profile is None:
        return "not run"
    if profile == "synthetic":
        return "synthetic (not comparable)" if reported is not None else "probe metric"
    if reported is None:
        return "counted (not reported)" if profile == "cost" else "extra metric"
    ok = within_tolerance(metric, reported, reproduced)
    if ok is None:
        return "reproduced"
    return "within tolerance" if ok else "differs"


def long_table(spec: Spec, results: list[dict]) -> pd.DataFrame:
    """One line per (row, metric, profile): the paper's value, ours, and how ours was produced.

    Runs of a row under several seeds become one line: ``reproduced`` is their mean,
    ``reproduced_std`` the standard deviation over seeds and ``seeds`` how many there were.
    """
    by_row: dict[str, list[dict]] = {}
    for r in aggregate(results):
        by_row.setdefault(r["row"], []).append(r)
    lines = []
    for row in spec.rows:
        runs = sorted(by_row.get(row.id, []), key=lambda r: r["provenance"]["profile"])
        # Ensemble rows have results (from their members' saved scores) and are listed like built rows.
        if not row.runnable:
            for rv in row.reported or [None]:
                lines.append({
                    "row": row.id, "label": row.label,
                    "dataset": rv.dataset if rv else spec.dataset, "split": rv.split if rv else spec.split,
                    "metric": rv.metric if rv else "top1", "reported": rv.value if rv else math.nan,
                    "reported_source": _source(rv) if rv else "", "reproduced": math.nan,
                    "reproduced_std": math.nan, "seeds": "", "per_seed": (), "delta": math.nan, "profile": "",
                    "run_dataset": "", "frames": "", "views": "",
                    "epochs": "", "status": f"reported only: {row.reported_only}"})
            continue
        # Accuracy runs and cost counts are separate results; each pairs with its own metrics.
        for is_cost in (False, True):
            mine = [r for r in runs if (r["provenance"]["profile"] == "cost") == is_cost]
            reported = [rv for rv in row.reported if (rv.metric in TOLERANCE) == is_cost]
            if not mine and not reported and is_cost:
                continue
            lines += _row_lines(spec, row, mine or [None], reported, is_cost)
    return pd.DataFrame(lines, columns=COLUMNS)


def _row_lines(spec: Spec, row, runs: list, reported: list, is_cost: bool) -> list[dict]:
    lines = []
    for run in runs:
        prov = run["provenance"] if run else {}
        repro = {m: v for m, v in (run["mean"] if run else {}).items() if (m in TOLERANCE) == is_cost}
        std = run["std"] if run else {}
        # A reported metric on another dataset than the run's is still listed, unmatched.
        entries = [(rv.metric, rv) for rv in reported]
        if not entries and not repro:
            entries = [("r@1" if row.is_retrieval else "top1", None)]
        keyed = {(m, rv.dataset) for m, rv in entries if rv}
        run_ds = spec.dataset
        entries += [(m, None) for m in repro if (m, run_ds) not in keyed]
        for metric, rv in entries:
            val = repro.get(metric) if (rv is None or rv.dataset == run_ds
                                        or metric in TOLERANCE) else None
            comparable = rv is not None and val is not None and prov.get("profile") != "synthetic"
            lines.append({
                "row": row.id, "label": row.label,
                "dataset": rv.dataset if rv else spec.dataset,
                "split": rv.split if rv else spec.split, "metric": metric,
                "reported": rv.value if rv else math.nan,
                "reported_source": _source(rv) if rv else "",
                "reproduced": val if val is not None else math.nan,
                "reproduced_std": std.get(metric, math.nan) if val is not None else math.nan,
                "seeds": run["n"] if run and val is not None else "",
                "per_seed": tuple(run["per_seed"][metric]) if val is not None else (),
                "delta": val - rv.value if comparable else math.nan,
                "profile": prov.get("profile", ""), "run_dataset": prov.get("dataset", ""),
                "frames": prov.get("frames", ""), "views": prov.get("views", ""),
                "epochs": prov.get("epochs", ""),
                "status": _status(prov.get("profile"), metric, rv.value if rv else None, val)})
    return lines


def _source(rv) -> str:
    src = f"{PAPER_NAMES.get(rv.paper, rv.paper)} {rv.table}"
    return f"{src} ({rv.note})" if rv.note else src


def _cost_status(sub: pd.DataFrame) -> str:
    """One row's cost verdict, naming the count it is about where GFLOPs and params disagree
    (``params differ; GFLOPs within tolerance``)."""
    status = {m: set(sub[sub["metric"] == m]["status"]) for m in TOLERANCE}
    kinds = {st for v in status.values() for st in v}
    if len(kinds) <= 1:
        return "; ".join(sorted(kinds))
    words = {"gflops": "GFLOPs", "params_m": "params"}
    return "; ".join(f"{words.get(m, m)} {'differ' if st == 'differs' else st}"
                     for m, v in status.items() for st in sorted(v))


def _cost_section(df: pd.DataFrame) -> list[str]:
    cost = df[df["metric"].isin(list(TOLERANCE))]
    if cost.empty:
        return []
    rows = []
    for label, sub in cost.groupby("label", sort=False):
        cells = [label]
        for name in TOLERANCE:
            m = sub[sub["metric"] == name]
            counted = not m.empty and m["reproduced"].notna().any()
            cells += [_fmt(m["reported"].max()) if not m.empty else "",
                      f"{m['reproduced'].max():.{M.metric(name).digits}f}" if counted else ""]
        cells.append(_cost_status(sub))
        frames = sub["frames"].iloc[0]
        cells.append(_fmt(frames))
        rows.append(cells)
    return ["", "## Cost (paper-profile model)", "",
            "GFLOPs are multiply-accumulates of conv, linear and matmul (attention included), counted "
            "with `run_all.py --cost` on the paper-profile model at frames x 224 x 224 and the "
            "dataset's classes; batch norm is not counted (the papers' convention, docs/facts.md "
            "section 5). A count is within tolerance inside 1% GFLOPs and 0.1 M parameters of the "
            "printed value.", "",
            tabulate(rows, headers=["Row", *[f"{M.label(k)} {w}" for k in TOLERANCE
                                             for w in ("reported", "counted")], "Status", "Frames"],
                     tablefmt="github", disable_numparse=True)]


def _claims_section(spec: Spec, df: pd.DataFrame) -> list[str]:
    out = []
    if spec.claims:
        checked = check_claims(spec.claims, df, spec.dataset, spec.split)
        profiles = sorted({k for c in checked for k in c} - {"claim", "text", "paper"})
        rows = [[c["text"], c["paper"]] + [c.get(p, "not run") for p in profiles] for c in checked]
        out += ["", "## The paper's claims", "",
                "Each claim is checked on the paper's own numbers and on each reproduced profile "
                "(synthetic checks test the mechanism on the probe, not the paper's numbers). "
                f"{RULE} Each verdict shows the means it rests on, the test that decided it (t, "
                "degrees of freedom, p, and the Holm-adjusted p where a claim makes several "
                "comparisons) and the seeds per row.", "",
                tabulate(rows, headers=["Claim", "Paper's numbers"] + [f"Reproduced ({p})" for p in profiles],
                         tablefmt="github", disable_numparse=True)]
    tau = rank_agreement(df, "top1", spec.dataset, spec.split)
    if tau:
        lines = [f"- {p}: Kendall tau {t:.2f} over {n} rows" if t is not None else
                 f"- {p}: fewer than two comparable rows" for p, (t, n) in sorted(tau.items())]
        out += ["", "## Rank agreement (top-1)", "",
                "Kendall tau between the reported and the reproduced ordering of the rows "
                "(1: same order, -1: reversed), for numbers of the paper's kind only: the paper "
                "profile on the paper's dataset and split. Synthetic and smoke numbers are never "
                "ranked against the paper's.", "", *lines]
    return out


def _int(v) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _fmt(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else (
        f"{v:.1f}" if isinstance(v, float) else str(v))


def _labels(df: pd.DataFrame) -> str:
    """'profile synthetic, dataset ..., 8 frames, 1x1 views, 16 epochs' for a uniform block."""
    parts = []
    for col, fmt in (("profile", "profile {}"), ("run_dataset", "dataset {}"), ("frames", "{} frames"),
                     ("views", "{} views"), ("epochs", "{} epochs")):
        vals = sorted({str(v) for v in df[col]})
        parts.append(fmt.format("/".join(vals)))
    return ", ".join(parts)


def _spec_file(spec: Spec) -> str:
    return f"experiments/{spec.id}.yaml" if spec.builtin else str(spec.path)


def _other_section(other: list[dict], results_dir: Path | None) -> list[str]:
    """Results kept aside: made by another config than the row's current one."""
    if not other:
        return []
    rows = []
    for r in sorted(other, key=lambda r: (r["row"], r["provenance"].get("profile", ""), str(r.get("seed")))):
        path = Path(r["_path"])
        shown = path.relative_to(results_dir) if results_dir and path.is_relative_to(results_dir) else path
        m = r["metrics"]
        top1 = f"{m['top1']:.1f}" if isinstance(m.get("top1"), (int, float)) else ""
        rows.append([r["row"], r["provenance"].get("profile", ""), _fmt(r.get("seed")), top1,
                     r["_why"], f"`{shown}`"])
    return ["", "## Results not used", "",
            f"{len(other)} result(s) were made by another config than the row's current one (a "
            "`--set` override, an edited spec or recipe, a truncated run). They are not averaged "
            "into the table above and get no Delta; they are listed with what differs.", "",
            tabulate(rows, headers=["Row", "Profile", "Seed", "Top-1", "Config", "File"],
                     tablefmt="github", disable_numparse=True)]


def markdown(spec: Spec, df: pd.DataFrame, results: list[dict], plot_name: str | None,
             other: list[dict] | None = None, results_dir: Path | None = None,
             extra: list[str] | None = None, variants: list[str] | None = None) -> str:
    """A table's report: header, reported vs reproduced, costs, claims, the probe's families,
    provenance, your --set variants, results not used, row notes and the plot."""
    out = _header(spec, results)
    out += _main_section(df)
    out += _cost_section(df)
    out += _claims_section(spec, df)
    out += _probe_section(spec, df)
    out += _provenance_section(spec, results)
    out += variants or []
    out += _other_section(other or [], results_dir)
    out += extra or []
    notes = [f"- **{r.label}**: {' '.join(r.note.split())}" for r in spec.rows if r.note]
    if notes:
        out += ["", "## Row notes", "", *notes]
    if plot_name:
        out += ["", f"![{spec.id}]({plot_name})"]
    return "\n".join(out) + "\n"


def _header(spec: Spec, results: list[dict]) -> list[str]:
    paper = PAPER_NAMES.get(spec.paper, spec.paper)
    src = f"{paper} {spec.table}, {spec.dataset} {spec.split}"
    arxiv = f" (arXiv {ARXIV[spec.paper]})" if spec.paper in ARXIV else ""
    out = [f"# {spec.id}: {spec.title}", "",
           f"Reported numbers: {src}{arxiv}; the papers and the sources of their numbers: docs/facts.md section 1. "
           f"Spec: `{_spec_file(spec)}`.",
           f"Regenerate with `python run_all.py --table {_spec_file(spec) if not spec.builtin else spec.id} "
           "--report-only`.", ""]
    profiles = sorted({r["provenance"]["profile"] for r in results})
    out.append(f"Profiles with results here: {', '.join(profiles) if profiles else 'none yet'}.")
    if "synthetic" in profiles:
        out += ["", f"> {NOT_COMPARABLE}"]
    if spec.note:
        out += ["", spec.note.strip()]
    return out


def _main_section(df: pd.DataFrame) -> list[str]:
    """Reported vs reproduced, one line per row in one table per dataset, split and metric (the
    lines with a paper number and the always-shown metrics); run settings are in Provenance."""
    main = df[df["reported"].notna() | df["metric"].isin(SHOWN)]
    main = main[~main["metric"].str.startswith("family:") & (main["metric"] != "reversal_pairs")
                & ~main["metric"].isin(list(TOLERANCE))]
    main = main[~((main["profile"] == "synthetic") & main["reported"].isna() & ~main["metric"].isin(SHOWN))]
    out = ["", "## Reported vs reproduced", "",
           "One table per dataset, split and metric, one line per row. Reported: the paper's number. "
           "Reproduced: this harness's, with the profile it comes from and its seeds; over several "
           "seeds it is the mean ± the standard deviation over seeds. Frames, views, epochs and the "
           "dataset copy of each run are in *Provenance*."]
    blocks = main.groupby(["dataset", "split", "metric"], sort=False)
    for (dataset, split, metric), sub in blocks:
        rows = [_main_row(label, lines) for label, lines in sub.groupby("label", sort=False)]
        out += ["", f"### {dataset} {split}, {M.label(metric) if metric in M.metric_names() else metric}", "",
                tabulate(rows, headers=["Row", "Reported", "Source", "Reproduced", "Delta", "Status"],
                         tablefmt="github", disable_numparse=True)]
    return out


def _main_row(label: str, lines: pd.DataFrame) -> list[str]:
    """One row's cells: its reproduced numbers of every profile joined, each with its profile."""
    repro = [f"{fmt_mean_std(r.reproduced, r.reproduced_std, _int(r.seeds))} ({_run_of(r)})"
             for r in lines.itertuples() if not pd.isna(r.reproduced)]
    many = len(repro) > 1  # name the profile of each Delta only when it could be mistaken
    deltas = [f"{r.delta:+.1f}" + (f" ({r.profile})" if many else "")
              for r in lines.itertuples() if not pd.isna(r.delta)]
    reported = lines[lines["reported"].notna()]
    rep, src = (reported.iloc[0][["reported", "reported_source"]] if not reported.empty else (None, ""))
    return [label, _fmt(rep), src, "; ".join(repro),
            "; ".join(deltas), "; ".join(dict.fromkeys(lines["status"]))]


def _run_of(r) -> str:
    """'synthetic, 3 seeds' / 'paper, 1 seed'."""
    n = _int(r.seeds)
    return f"{r.profile}, {n} seed{'s' if n != 1 else ''}" if n else str(r.profile)


def _probe_section(spec: Spec, df: pd.DataFrame) -> list[str]:
    """The synthetic probe's accuracy per class family, and why rows are left out of the tier."""
    out: list[str] = []
    probe = probe_lines(df)
    if not probe.empty:
        headers, prows = family_table(probe, {r.id: r.label for r in spec.rows})
        out += ["", "## Synthetic probe: accuracy by class family (%)", "",
                "Mean ± standard deviation over seeds. Reversal pairs: percent of videos of an "
                "order-dependent class scored above its time-reversed partner class. Both classes of "
                "a pair share one frame distribution, so a model blind to frame order stays at 50. "
                f"Order: *aware* when reversal pairs exceed 50 by more than {AWARE_STDS:.0f} seed "
                f"standard deviations and {BLIND_BAND:.0f} points, *blind* within {BLIND_BAND:.0f} "
                "points of 50, else *unclear*. Top-1 per seed: every seed's value, in seed order; "
                f"**split** marks a row whose seeds span more than {SPLIT_RANGE:.0f} points (some "
                "seeds learn the task and others do not, so the mean describes neither).", "",
                "Every number in these tables: " + _labels(probe) + ".", "",
                *narrow_tables(headers, prows, family_groups(headers))]
    if spec.probe and spec.probe.get("note"):
        out += ["", f"Not in the synthetic tier: {' '.join(spec.probe['note'].split())}"]
    return out


def _provenance_section(spec: Spec, results: list[dict]) -> list[str]:
    """Two tables: how each row and profile ran (dataset copy, frames, views, epochs, places),
    then commit, spec hash, seed, device and wall time of every result, and where copies came from."""
    if not results:
        return []
    order = {r.id: i for i, r in enumerate(spec.rows)}
    results = sorted(results, key=lambda r: (order.get(r["row"], 99), r["provenance"]["profile"],
                                             str(r["provenance"].get("seed", ""))))
    reused = any(r["provenance"].get("reused_from") for r in results)
    out = ["", "## Provenance", "", "How each row ran, per profile (over all its seeds):", "",
           tabulate(_settings_rows(results), headers=["Row", "Profile", "Run dataset", "Frames", "Views",
                                                      "Epochs", "Inserted at"],
                    tablefmt="github", disable_numparse=True), "", "Every result:", ""]
    if reused:
        out += ["*Copied from*: a run of another table with the identical config and seed, "
                "whose result is reused rather than trained again (on CPU at a fixed thread count a config "
                "and seed train deterministically on one machine).", ""]
    rows = []
    for r in results:
        p = r["provenance"]
        rows.append([r["row"], p["profile"], p["commit"][:12] + ("+dirty" if p["commit"].endswith("+dirty") else ""),
                     p["spec_hash"], p["seed"], p["device"], f"{p['wall_time_s']:.0f}", p.get("videos_skipped", 0)]
                    + ([p.get("reused_from", "")] if reused else []))
    return out + [tabulate(rows, headers=["Row", "Profile", "Commit", "Spec hash", "Seed", "Device",
                                          "Wall time (s)", "Videos skipped"] + (["Copied from"] if reused else []),
                           tablefmt="github", disable_numparse=True)]


def _settings_rows(results: list[dict]) -> list[list[str]]:
    """One line per (row, profile); a setting that differs between seeds lists every value."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["row"], r["provenance"]["profile"]), []).append(r["provenance"])
    keys = ("dataset", "frames", "views", "epochs", "places")
    return [[row, prof] + [" / ".join(dict.fromkeys(_fmt(p.get(k, "")) for p in provs)) for k in keys]
            for (row, prof), provs in groups.items()]


def probe_lines(df: pd.DataFrame) -> pd.DataFrame:
    """The synthetic profile's top-1/top-5, reversal-pair and per-family lines of a long table."""
    sel = (df["metric"].str.startswith("family:") | df["metric"].isin(["top1", "top5", "reversal_pairs"]))
    return df[sel & (df["profile"] == "synthetic") & df["reproduced"].notna()]


def family_table(probe: pd.DataFrame, labels: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows (in ``labels`` order) of the per-family table: mean ± std per cell, the
    top-1 of every seed, and whether the seeds split (:func:`repro.report.stats.splits`)."""
    fams = sorted({m for m in probe["metric"] if m.startswith("family:")})
    cols = ["top1", "top5", "reversal_pairs"] + fams
    order = {k: i for i, k in enumerate(labels)}
    rows = []
    for row, sub in sorted(probe.groupby("row", sort=False), key=lambda kv: order.get(kv[0], 99)):
        cell = {r.metric: (r.reproduced, r.reproduced_std, _int(r.seeds)) for r in sub.itertuples()}
        seeds = {r.metric: r.per_seed for r in sub.itertuples()}
        rev = cell.get("reversal_pairs")
        top1 = list(seeds.get("top1") or ())
        rows.append([labels.get(row, row), _fmt(sub["seeds"].iloc[0])]
                    + [fmt_mean_std(*cell[c]) if c in cell else "" for c in cols]
                    + [order_sensitivity(rev[0], rev[1]) if rev else "",
                       " / ".join(f"{v:.1f}" for v in top1) + (" **split**" if splits(top1) else "")])
    headers = ["Row", "Seeds", *[M.label(c) for c in cols], "Order", f"{M.label('top1')} per seed"]
    return headers, rows


def write_csv(df: pd.DataFrame, path: Path) -> None:
    write_atomic(path, df.to_csv(index=False, float_format="%.2f", lineterminator="\n"), fsync=False)


MOST_COLUMNS = 9  # a wider markdown table wraps on a normal screen and cannot be read


def narrow_tables(headers: list[str], rows: list[list], groups: list[list[int]] | None = None,
                  key: int = 1, most: int = MOST_COLUMNS) -> list[str]:
    """A wide table as several markdown tables of at most ``most`` columns, each repeating the
    first ``key`` (naming) columns; ``groups``: which other columns go together (in order)."""
    rest = list(range(key, len(headers)))
    groups = groups or [rest]
    width = most - key
    chunks = [g[i:i + width] for g in groups for i in range(0, len(g), width)]
    out: list[str] = []
    for cols in chunks:
        idx = list(range(key)) + cols
        out += ([""] if out else []) + [tabulate([[r[i] for i in idx] for r in rows],
                                                 headers=[headers[i] for i in idx],
                                                 tablefmt="github", disable_numparse=True)]
    return out


def family_groups(headers: list[str]) -> list[list[int]]:
    """Column groups of :func:`family_table`: the summary (seeds, top-1, top-5, reversal pairs,
    order, top-1 per seed), then the class families."""
    n_fams = len(headers) - 7
    return [[1, 2, 3, 4, 5 + n_fams, 6 + n_fams], list(range(5, 5 + n_fams))]
