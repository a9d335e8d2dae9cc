"""Regenerate a table's report (md, csv, png) from its spec and result files; no training."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from repro.report.plots import paired_bars
from repro.report.tables import long_table, markdown, write_csv
from repro.results.select import select_results
from repro.spec.loader import Spec, load_spec


@dataclass
class Built:
    paths: list[Path]
    used: int
    skipped: int  # results whose config is not the row's current config (listed in the report)


def build_report(table: str | Spec, results_dir: Path, reports_dir: Path) -> Built:
    """The report of ``table`` (an id, a spec path or a loaded spec) from the results that match
    its current configs; the others are listed in the report, never averaged in."""
    spec = table if isinstance(table, Spec) else load_spec(table)
    sel = select_results(spec, results_dir)
    df = long_table(spec, sel.current)
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    csv, md, png = (reports_dir / f"{spec.key}.{ext}" for ext in ("csv", "md", "png"))
    write_csv(df, csv)
    paired_bars(df, f"{spec.id}: {spec.table} ({spec.dataset} {spec.split})", png)
    md.write_text(markdown(spec, df, sel.current, png.name, sel.other, Path(results_dir)))
    return Built([md, csv, png], len(sel.current), len(sel.other))
