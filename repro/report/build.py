"""Regenerate a table's report (md, csv, png) from its spec and result files; no training."""
from __future__ import annotations

from pathlib import Path

from repro.report.plots import paired_bars
from repro.report.tables import long_table, markdown, write_csv
from repro.results.store import read_results
from repro.spec.loader import load_spec


def build_report(table: str, results_dir: Path, reports_dir: Path) -> list[Path]:
    spec = load_spec(table)
    results = read_results(results_dir, table)
    df = long_table(spec, results)
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    csv, md, png = (reports_dir / f"{table}.{ext}" for ext in ("csv", "md", "png"))
    write_csv(df, csv)
    paired_bars(df, f"{spec.id}: {spec.table} ({spec.dataset} {spec.split})", png)
    md.write_text(markdown(spec, df, results, png.name))
    return [md, csv, png]
