"""Regenerate a table's report (md, csv, png) from its spec and result files; no training."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from repro.config.loader import Spec, load_spec
from repro.errors import SpecError
from repro.files import write_atomic
from repro.report.curves import checkpoint_lines, plot_curves
from repro.report.datasets import dataset_section
from repro.report.fidelity import table_markdown
from repro.report.plots import paired_bars
from repro.report.published import published_section
from repro.report.retrieval import retrieval_section, settings_section
from repro.report.tables import long_table, markdown, write_csv
from repro.report.variants import variants_section
from repro.results.select import select_results
from repro.results.store import read_checkpoint_results


@dataclass
class Built:
    paths: list[Path]
    used: int
    skipped: int  # results whose config is not the row's current config (listed in the report)
    variants: list[Path] = field(default_factory=list)  # folders of the --set variants it shows


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
    paired_bars(df, f"{spec.id}: {spec.table} ({spec.dataset} {spec.split})", png, dataset=spec.dataset)
    curves = reports_dir / f"{spec.key}.curves.png"
    retrieval_png = reports_dir / f"{spec.key}.retrieval.png"
    extra = retrieval_section(spec, sel.current, retrieval_png) + checkpoint_lines(sel.current)
    if plot_curves(spec, sel.current, curves):
        extra += ["", "## Learning curves", "",
                  "Per epoch, from each result's history (TensorBoard event files are in its run "
                  "folder, runs/.../tb). Where the official code publishes a training log of the same "
                  "dataset and frame count, it is drawn dashed.", "", f"![learning curves]({curves.name})"]
    evaluated = read_checkpoint_results(Path(results_dir), spec.key)
    extra += published_section(spec, evaluated)
    extra += dataset_section(sel.current + evaluated)
    extra += fidelity_section(spec) + settings_section(spec)
    lines, variants = variants_section(spec, sel.current, sel.other, Path(results_dir))
    shown = {r["_path"] for v in variants for r in v.runs}
    other = [r for r in sel.other if r["_path"] not in shown]
    md_text = markdown(spec, df, sel.current, png.name, other, Path(results_dir), extra, variants=lines)
    write_atomic(md, md_text, fsync=False)
    paths = [md, csv, png] + [p for p in (curves, retrieval_png) if p.exists()]
    return Built(paths, len(sel.current), len(sel.other), [v.folder for v in variants])


def fidelity_section(spec: Spec) -> list[str]:
    """The report's fidelity table: the paper profile's recipe of every built row, judged."""
    head = ["", "## Recipe fidelity (--profile paper)", "",
            "How `--profile paper` trains and tests each built row, setting by setting, beside what "
            "the paper states or, where it is silent, what its reference code does (`run_all.py "
            f"--table {spec.id} --fidelity` prints the same). Generated from the `fidelity:` blocks "
            "of the recipes and specs. The synthetic and smoke profiles change data, backbone and "
            "schedule by design, so their numbers are never a reproduction.", ""]
    try:
        return head + table_markdown(spec)
    except SpecError as e:  # a user spec whose recipe lacks references: say so, keep the report
        return head + [f"Not available: {e}"]
