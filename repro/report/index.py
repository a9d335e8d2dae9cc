"""reports/README.md: one line per table with how many of its rows have which kind of number,
then its claims' verdicts and its recipe fidelity."""
from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from repro.config.loader import list_tables, load_spec
from repro.errors import SpecError
from repro.files import write_atomic
from repro.report.claims import CANNOT_TELL, CONTRADICTED, MISSING, UPHELD, check_claims
from repro.report.fidelity import VERDICTS, grouped
from repro.report.tables import long_table
from repro.results.select import select_results

VERDICT_ORDER = (UPHELD, CONTRADICTED, CANNOT_TELL, MISSING, "not run")


def table_counts(table: str, results_dir: Path) -> dict:
    spec = load_spec(table)
    results = select_results(spec, results_dir).current
    df = long_table(spec, results)
    profiles_by_row: dict[str, set[str]] = {}
    for r in results:
        profiles_by_row.setdefault(r["row"], set()).add(r["provenance"]["profile"])
    built = [r for r in spec.rows if r.runnable]
    cost = df[df["profile"] == "cost"]
    within = {row for row, sub in cost.groupby("row")
              if (sub["status"] == "within tolerance").any() and not (sub["status"] == "differs").any()}
    return {
        "claims": len(spec.claims), "claim counts": claim_counts(spec, df), "fidelity": fidelity_counts(spec),
        "table": table, "paper": spec.paper.upper(), "source": spec.table, "rows": len(spec.rows),
        "reproduced (paper)": sum("paper" in profiles_by_row.get(r.id, ()) for r in built),
        "synthetic": sum("synthetic" in profiles_by_row.get(r.id, ()) for r in built),
        "cost within tolerance": len(within),
        "not run": sum(not (profiles_by_row.get(r.id, set()) - {"cost"}) for r in built),
        "reported only": sum(r.reported_only is not None for r in spec.rows),
    }


def claim_counts(spec, df) -> dict[str, str]:
    """Per source (the paper's numbers, each reproduced profile): how many of the spec's claims
    got each verdict, from the same check as the table's report (claims.check_claims)."""
    checked = check_claims(spec.claims, df, spec.dataset, spec.split) if spec.claims else []
    sources = sorted({k for c in checked for k in c} - {"claim", "text"}, key=lambda s: (s != "paper", s))
    out = {}
    for src in sources:
        verdicts = [c.get(src, "not run").split(" (")[0] for c in checked]
        out[src] = ", ".join(f"{verdicts.count(v)} {v}" for v in VERDICT_ORDER if v in verdicts)
    return out


def fidelity_counts(spec) -> str:
    """Settings judged same / silent / unknowable / diverges, summed over the built rows (each
    group of rows of fidelity.grouped counts once per row), as in the report's fidelity section."""
    try:
        groups = grouped(spec)
    except SpecError as e:  # a recipe without references: the report says the same
        return f"not available: {e}"
    if not groups:
        return "no built rows"
    counts = {v: sum(len(rows) * sum(ln.verdict == v for ln in lines) for rows, lines in groups)
              for v in VERDICTS}
    n_rows = sum(len(rows) for rows, _ in groups)
    return ", ".join(f"{n} {v}" for v, n in counts.items()) + f" (over {n_rows} row{'s' * (n_rows != 1)})"


def verdict_table(verdicts: list[dict]) -> list[str]:
    """Markdown: per table, its claims' verdicts and its recipe fidelity."""
    rows = [[f"[{v['table']}]({v['table']}.md)", v["claims"], v["claim counts"].get("paper", ""),
             "; ".join(f"{p}: {t}" for p, t in v["claim counts"].items() if p != "paper"), v["fidelity"]]
            for v in verdicts]
    return ["## Claims and recipe fidelity", "",
            "*Claims*: the paper's qualitative claims in the spec, each judged on the paper's own numbers "
            "and on every reproduced profile (the report's *The paper's claims* section; synthetic "
            "verdicts test the mechanism on the probe, not the paper's numbers). *Recipe fidelity*: the "
            "paper profile's settings of every built row beside the paper or its reference code (the "
            "report's *Recipe fidelity* section, `run_all.py --table T --fidelity`), counted over "
            "settings x rows.", "",
            tabulate(rows, headers=["Table", "Claims", "Paper's numbers", "Reproduced", "Recipe fidelity"],
                     tablefmt="github", disable_numparse=True), ""]


def write_index(results_dir: Path, reports_dir: Path) -> Path:
    counts = [table_counts(t, results_dir) for t in list_tables()]
    headers = ["Table", "Paper", "Source", "Rows", "Reproduced (paper)", "Synthetic",
               "Cost within tolerance", "Not run", "Reported only"]
    rows = [[f"[{c['table']}]({c['table']}.md)", c["paper"], c["source"], c["rows"],
             c["reproduced (paper)"], c["synthetic"], c["cost within tolerance"], c["not run"],
             c["reported only"]] for c in counts]
    text = "\n".join([
        "# Reports", "",
        "One report per paper table: the paper's numbers beside this harness's. Regenerate all of "
        "them with `python run_all.py --report-only`.", "",
        "Counts are rows. *Reproduced (paper)*: trained and evaluated with the paper profile. "
        "*Synthetic*: run on the synthetic probe (not comparable to the paper). *Cost within "
        "tolerance*: counted GFLOPs and parameters match the printed ones (1% / 0.1 M). *Not run*: "
        "built, but no accuracy result yet. *Reported only*: methods this harness does not build.", "",
        tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), "",
        *verdict_table(counts), *checkpoint_table(), ""])
    path = Path(reports_dir) / "README.md"
    write_atomic(path, text, fsync=False)
    return path


def checkpoint_table() -> list[str]:
    """Every published checkpoint listed in the specs, one line per (row, file): the checkpoint
    table of the README (each table's report adds this harness's test of the file)."""
    lines = []
    for t in list_tables():
        spec = load_spec(t)
        for r in spec.rows:
            for c in r.checkpoints:
                nums = "; ".join(f"{n['dataset']} {n['views']}: " + f"{n['metric']} {n['value']}"
                                 for n in c.get("reported") or [])
                lines.append([f"[{t}]({t}.md)", r.label, c["publisher"], f"[`{c['file']}`]({c['page']})",
                              c["source"], nums or "-", c.get("where", "")])
    if not lines:
        return []
    return ["## Published checkpoints", "",
            "Checkpoints released for rows of these tables (specs' `checkpoints:`), with the publisher's "
            "own numbers and where they are printed. Test one with `run_all.py --table T --rows ROW "
            "--eval-only --weights FILE`; start a run from one with `--weights FILE`.", "",
            tabulate(lines, headers=["Table", "Row", "Publisher", "File", "Converter", "Publisher's numbers",
                                     "Where"], tablefmt="github", disable_numparse=True)]
