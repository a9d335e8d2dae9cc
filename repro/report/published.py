"""The report section of published checkpoints: what their publishers print, and what this
harness measures when it tests them (``run_all.py --eval-only --weights PATH``).

Such a number is the publisher's training, tested through this harness's data pipeline and the
row's test protocol: it checks data, label order and views before any training is paid for, and
it is never mixed with the harness's own trained numbers.
"""
from __future__ import annotations

from pathlib import Path


def published_section(spec, found: list[dict]) -> list[str]:
    """Markdown lines (none when the spec lists no checkpoint and none was evaluated);
    ``found``: the table's evaluated-checkpoint results
    (:func:`repro.results.store.read_checkpoint_results`)."""
    listed = [(r, c) for r in spec.rows for c in r.checkpoints]
    if not found and not listed:
        return []
    out = ["", "## Published checkpoints", ""]
    if listed:
        out += ["Checkpoints their publishers released for rows of this table, with the publisher's own "
                "number and test views, the paper's number, and this harness's test of the same file "
                "(`run_all.py --table {} --rows ROW --eval-only --weights FILE`; '-' until run). An "
                "initialisation file (e.g. Kinetics weights) is for `--weights`, not this row's model.".format(spec.id),
                "", "| row | publisher | file | dataset | views | publisher top1 / top5 | paper top1 | "
                "evaluated here |", "|---|---|---|---|---|---|---|---|"]
        for row, c in listed:
            groups: dict[tuple, dict] = {}  # one line per (dataset, views): top1 and top5 side by side
            for n in c.get("reported") or [{}]:
                groups.setdefault((n.get("dataset", spec.dataset), n.get("views", "")), {})[n.get("metric")] = n.get("value")
            for (ds, views), vals in groups.items():
                # The same file name can be published per dataset (RSA): match on both.
                ours = [f"{r['metrics']['top1']:.1f} ({r['provenance']['profile']})" for r in found
                        if r["row"] == row.id and r["provenance"].get("dataset") == ds
                        and Path((r["provenance"].get("weights") or {}).get("file", "")).name == c["file"]]
                pub = " / ".join(f"{vals[m]:.1f}" if vals.get(m) is not None else "-" for m in ("top1", "top5"))
                out.append(f"| {row.label} | [{c['publisher']}]({c['page']}) | `{c['file']}` | {ds} | "
                           f"{views} | {pub} | {_paper_top1(row, ds)} | {', '.join(ours) or '-'} |")
        out.append("")
    if found:
        out += ["### Evaluated here", "",
                "Every checkpoint tested by `--eval-only` (published checkpoint, evaluated here; nothing "
                "trained). The sha256 tells whether two evaluations used the same file.", "",
                "| row | profile | dataset | views | top1 | top5 | paper top1 | file | source | sha256 |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for r in found:
            p, m = r["provenance"], r["metrics"]
            w = p.get("weights") or {}
            try:
                row = spec.row(r["row"])
            except KeyError:
                continue  # a row since removed from the spec
            out.append(f"| {row.label} | {p['profile']} | {p.get('dataset', '')} | {p.get('views', '')} | "
                       f"{m['top1']:.1f} | {m['top5']:.1f} | {_paper_top1(row, p.get('dataset'))} | "
                       f"{Path(w.get('file', '')).name} | {w.get('source', '')} | {str(w.get('sha256', ''))[:12]} |")
    return out


def _paper_top1(row, dataset: str | None) -> str:
    """The row's top-1 as its paper reports it for ``dataset``, or '-'."""
    paper = [v.value for v in row.reported if v.metric == "top1" and v.dataset == dataset]
    return str(paper[0]) if paper else "-"
