"""The report section of published checkpoints evaluated by this harness (``--eval-only``).

Such a number is the publisher's training, tested through this harness's data pipeline and the
row's test protocol: it checks data, label order and views before any training is paid for, and
it is never mixed with the harness's own trained numbers.
"""
from __future__ import annotations

from pathlib import Path


def published_section(spec, results_dir: Path) -> list[str]:
    """Markdown lines (none when no checkpoint of ``spec`` was evaluated)."""
    from repro.run.weights import read_checkpoint_results

    found = read_checkpoint_results(results_dir, spec.key)
    if not found:
        return []
    out = ["", "## Published checkpoints, evaluated here", "",
           "Numbers of published checkpoints tested by `run_all.py --eval-only --weights PATH` with "
           "each row's test protocol (published checkpoint, evaluated here; nothing trained). The "
           "sha256 tells whether two evaluations used the same file.", "",
           "| row | profile | dataset | views | top1 | top5 | paper top1 | file | source | sha256 |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in found:
        p, m = r["provenance"], r["metrics"]
        w = p.get("weights") or {}
        try:
            row = spec.row(r["row"])
        except KeyError:
            continue  # a row since removed from the spec
        paper = [v.value for v in row.reported if v.metric == "top1" and v.dataset == p.get("dataset")]
        out.append(f"| {row.label} | {p['profile']} | {p.get('dataset', '')} | {p.get('views', '')} | "
                   f"{m['top1']:.1f} | {m['top5']:.1f} | {paper[0] if paper else '-'} | "
                   f"{Path(w.get('file', '')).name} | {w.get('source', '')} | {str(w.get('sha256', ''))[:12]} |")
    return out
