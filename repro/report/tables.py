"""Build a table's long result frame (reported beside reproduced) and its markdown and CSV."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from repro.spec.loader import Spec

PAPER_NAMES = {"ssan": "SSAN", "gta": "GTA", "rsa": "RSA"}
COLUMNS = ["row", "label", "dataset", "split", "metric", "reported", "reported_source",
           "reproduced", "delta", "profile", "run_dataset", "frames", "views", "epochs", "status"]
NOT_COMPARABLE = ("Synthetic-profile numbers are **not comparable** to the paper's: they come from "
                  "a generated temporal-reasoning dataset and a CPU-sized backbone, and only show "
                  "how the rows' modules behave relative to each other. Their Delta column is left "
                  "empty on purpose.")


def _status(profile: str | None, reported: float | None) -> str:
    if profile is None:
        return "not run"
    if profile == "synthetic":
        return "synthetic (not comparable)" if reported is not None else "probe metric"
    return "reproduced" if reported is not None else "extra metric"


def _reproduced_metrics(result: dict) -> dict[str, float]:
    m = result["metrics"]
    out = {k: m[k] for k in ("top1", "top5") if m.get(k) is not None}
    if m.get("reversal_pairs") is not None:
        out["reversal_pairs"] = m["reversal_pairs"]
    for fam, v in sorted((m.get("family") or {}).items()):
        out[f"family:{fam}"] = v
    return out


def long_table(spec: Spec, results: list[dict]) -> pd.DataFrame:
    """One line per (row, metric, profile): the paper's value, ours, and how ours was produced."""
    by_row: dict[str, list[dict]] = {}
    for r in results:
        by_row.setdefault(r["row"], []).append(r)
    lines = []
    for row in spec.rows:
        reported = {rv.metric: rv for rv in row.reported}
        runs = sorted(by_row.get(row.id, []), key=lambda r: r["provenance"]["profile"])
        for run in runs or [None]:
            prov = run["provenance"] if run else {}
            repro = _reproduced_metrics(run) if run else {}
            for metric in list(reported) + [m for m in repro if m not in reported]:
                rv = reported.get(metric)
                val = repro.get(metric)
                comparable = rv is not None and val is not None and prov.get("profile") != "synthetic"
                lines.append({
                    "row": row.id, "label": row.label,
                    "dataset": rv.dataset if rv else spec.dataset,
                    "split": rv.split if rv else spec.split, "metric": metric,
                    "reported": rv.value if rv else math.nan,
                    "reported_source": f"{PAPER_NAMES.get(rv.paper, rv.paper)} {rv.table}" if rv else "",
                    "reproduced": val if val is not None else math.nan,
                    "delta": val - rv.value if comparable else math.nan,
                    "profile": prov.get("profile", ""), "run_dataset": prov.get("dataset", ""),
                    "frames": prov.get("frames", ""), "views": prov.get("views", ""),
                    "epochs": prov.get("epochs", ""),
                    "status": _status(prov.get("profile"), rv.value if rv else None)})
    return pd.DataFrame(lines, columns=COLUMNS)


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


def markdown(spec: Spec, df: pd.DataFrame, results: list[dict], plot_name: str | None) -> str:
    paper = PAPER_NAMES.get(spec.paper, spec.paper)
    src = f"{paper} {spec.table}, {spec.dataset} {spec.split}"
    out = [f"# {spec.id}: {spec.title}", "",
           f"Reported numbers: {src} (full text in shared/papers/). Spec: `experiments/{spec.id}.yaml`.",
           "Regenerate with `python run_all.py --table {0} --report-only`.".format(spec.id), ""]
    profiles = sorted({r["provenance"]["profile"] for r in results})
    out.append(f"Profiles with results here: {', '.join(profiles) if profiles else 'none yet'}.")
    if "synthetic" in profiles:
        out += ["", f"> {NOT_COMPARABLE}"]
    if spec.note:
        out += ["", spec.note.strip()]
    main = df[df["reported"].notna() | df["metric"].isin(["top1"])]
    main = main[main["metric"].isin(sorted(set(main["metric"]) & {"top1", "top5", "gflops", "params_m"}))]
    rows = [[r.label, r.metric, _fmt(r.reported), _fmt(r.reproduced), _fmt(r.delta), r.profile,
             r.run_dataset, _fmt(r.frames), _fmt(r.views), _fmt(r.epochs), r.status]
            for r in main.itertuples()]
    out += ["", "## Reported vs reproduced", "",
            tabulate(rows, headers=["Row", "Metric", f"Reported ({src})", "Reproduced", "Delta",
                                    "Profile", "Run dataset", "Frames", "Views", "Epochs", "Status"],
                     tablefmt="github", disable_numparse=True)]
    probe = df[df["metric"].str.startswith("family:") |
               df["metric"].isin(["reversal_pairs"]) |
               (df["metric"].isin(["top1", "top5"]) & (df["profile"] == "synthetic"))]
    probe = probe[probe["profile"] == "synthetic"]
    if not probe.empty:
        wide = probe.pivot_table(index=["row", "profile"], columns="metric", values="reproduced",
                                 sort=False)
        fams = [c for c in wide.columns if c.startswith("family:")]
        cols = ["top1", "top5", "reversal_pairs"] + fams
        order = {r.id: i for i, r in enumerate(spec.rows)}
        prows = []
        for (row, prof), vals in sorted(wide.iterrows(), key=lambda kv: order[kv[0][0]]):
            prows.append([spec.row(row).label, prof] + [_fmt(vals.get(c)) for c in cols])
        out += ["", "## Synthetic probe: accuracy by class family (%)", "",
                "Reversal pairs: percent of videos of an order-dependent class scored above its "
                "time-reversed partner class. Both classes of a pair share one frame distribution, "
                "so a model blind to frame order stays near 50.", "",
                "Every number in this table: " + _labels(probe) + ".", "",
                tabulate(prows, headers=["Row", "Profile", "Top-1", "Top-5", "Reversal pairs"] +
                         [c.split(":", 1)[1] for c in fams], tablefmt="github", disable_numparse=True)]
    if results:
        order = {r.id: i for i, r in enumerate(spec.rows)}
        prov_rows = []
        for r in sorted(results, key=lambda r: (order.get(r["row"], 99), r["provenance"]["profile"])):
            p = r["provenance"]
            prov_rows.append([r["row"], p["profile"], p["commit"][:12] + ("+dirty" if p["commit"].endswith("+dirty") else ""),
                              p["spec_hash"], p["seed"], p["device"], f"{p['wall_time_s']:.0f}",
                              p.get("videos_skipped", 0), p.get("places", "")])
        out += ["", "## Provenance", "",
                tabulate(prov_rows, headers=["Row", "Profile", "Commit", "Spec hash", "Seed", "Device",
                                             "Wall time (s)", "Videos skipped", "Inserted at"],
                         tablefmt="github", disable_numparse=True)]
    if plot_name:
        out += ["", f"![{spec.id}]({plot_name})"]
    return "\n".join(out) + "\n"


def write_csv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, index=False, float_format="%.2f", lineterminator="\n")
