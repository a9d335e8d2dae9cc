"""Fidelity table: every setting of a row's paper-profile config beside what its paper or
reference code does, with the source and a verdict (same, paper silent, diverges).

The references live next to the settings they judge: a recipe's ``fidelity:`` block (and a
spec's or a row's, which override it per setting). Each entry names the config keys it judges,
the reference values (``expect``), where they come from (``source``), and optionally
``silent: true`` with ``follows`` (the paper says nothing; the value follows that code) or
``why`` (a divergence kept on purpose), or ``hint`` (what to do when a judged value is off, e.g.
which checkpoint to pass; an expect value ``<file>`` accepts any path). The harness value is read from the resolved config,
so a table cannot drift from the YAML, and a ``--set`` that changes a judged value shows up as
*diverges*.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from repro.spec import schema as S
from repro.spec.schema import ENSEMBLE_SETTINGS, SETTINGS

SAME, SILENT, DIVERGES = "same", "paper silent", "diverges"


@dataclass(frozen=True)
class Line:
    setting: str
    harness: str
    reference: str
    source: str
    verdict: str  # same | paper silent | diverges
    detail: str = ""
    per_row: bool = False  # the value is the row's own (frames): not compared, not grouped on

    @property
    def text(self) -> str:
        return self.verdict + (f": {self.detail}" if self.detail else "")


ANY_FILE = "<file>"  # an expect value: any path (a checkpoint the recipe cannot ship)


def _equal(a: Any, b: Any) -> bool:
    if b == ANY_FILE:
        return isinstance(a, str) and bool(a)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _fmt(v: Any) -> str:
    return "null" if v is None else str(v).replace("'", "")


def judge(setting: str, entry: dict | None, cfg: dict) -> Line:
    """One line of the table for ``setting`` of the resolved ``cfg``."""
    if not entry:
        return Line(setting, "", "", "", DIVERGES, "no reference recorded for this setting")
    expect = entry.get("expect") or {}
    keys = list(expect) + [k for k in entry.get("show", []) if k not in expect]
    have = {k: S.get_key_or(cfg, k) for k in keys}
    harness = ", ".join(f"{k}={_fmt(v)}" for k, v in have.items())
    reference = entry.get("paper") or ", ".join(f"{k}={_fmt(v)}" for k, v in expect.items())
    source = entry.get("source", "")
    off = [k for k, v in expect.items() if not _equal(have[k], v)]
    if off:
        known = entry.get("why") or entry.get("hint")
        detail = "; ".join(f"{k} is {_fmt(have[k])}, reference {_fmt(expect[k])}" for k in off)
        return Line(setting, harness, reference, source, DIVERGES, f"{known} ({detail})" if known else detail)
    if entry.get("why"):  # a divergence that no single key captures (e.g. a missing mechanism)
        return Line(setting, harness, reference, source, DIVERGES, entry["why"])
    if entry.get("silent"):
        return Line(setting, harness, reference, source, SILENT, f"following {entry.get('follows', source)}")
    if entry.get("per_row"):
        return Line(setting, harness, reference, source, SAME, "set per row, from the paper's table", True)
    return Line(setting, harness, reference, source, SAME)


def row_lines(spec, row_id: str, overrides: dict | None = None, profile: str = "paper") -> list[Line]:
    """The fidelity lines of one built or ensemble row under ``profile`` (default paper).

    An ensemble row has one line: its first member's config under the ensemble's protocol
    (``member_eval``), judged by the row's ``ensemble`` entry.
    """
    from repro.spec.loader import deep_merge, fidelity_entries, resolve

    row = spec.row(row_id)
    if row.is_ensemble:
        cfg = resolve(spec, row.ensemble[0], profile,
                      deep_merge(overrides or {}, {"eval": row.member_eval or {}}))
        return [judge(s, row.fidelity.get(s), cfg) for s in ENSEMBLE_SETTINGS]
    cfg = resolve(spec, row_id, profile, overrides)
    entries = fidelity_entries(spec, row_id)
    return [judge(s, entries.get(s), cfg) for s in SETTINGS]


def status(lines: list[Line]) -> str:
    """One status per row: faithful, or which settings diverge; paper-silent ones counted."""
    div = [ln.setting for ln in lines if ln.verdict == DIVERGES]
    silent = sum(ln.verdict == SILENT for ln in lines)
    tail = f", paper silent on {silent}" if silent else ""
    return (f"diverges on {len(div)}: {', '.join(div)}" if div else "faithful") + tail


def grouped(spec, overrides: dict | None = None) -> list[tuple[list[str], list[Line]]]:
    """``(rows, lines)`` per group of built rows whose lines are equal but for per-row values
    (frames), which are then listed row by row in the harness column."""
    groups: dict[tuple, list[tuple[str, list[Line]]]] = {}
    for r in spec.rows:
        if r.built or r.is_ensemble:
            lines = row_lines(spec, r.id, overrides)
            key = tuple(replace(ln, harness="") if ln.per_row else ln for ln in lines)
            groups.setdefault(key, []).append((r.id, lines))
    out = []
    for members in groups.values():
        rows = [rid for rid, _ in members]
        lines = [replace(ln, harness="; ".join(f"{rid}: {ls[i].harness}" for rid, ls in members))
                 if ln.per_row and len(members) > 1 else ln for i, ln in enumerate(members[0][1])]
        out.append((rows, lines))
    return out


def table_markdown(spec, overrides: dict | None = None) -> list[str]:
    """Markdown of a spec's fidelity under the paper profile, one table per group of rows."""
    out = []
    for rows, lines in grouped(spec, overrides):
        out += [f"**{', '.join(rows)}**: {status(lines)}", "",
                "| setting | harness | paper / reference | source | verdict |", "|---|---|---|---|---|"]
        out += [f"| {ln.setting} | {_cell(ln.harness)} | {_cell(ln.reference)} | {_cell(ln.source)} | "
                f"{_cell(ln.text)} |" for ln in lines]
        out.append("")
    retrieval = any(r.is_retrieval for r in spec.rows)
    return out or ["No built rows: nothing is trained for this table"
                   + (" but its retrieval networks (see below)." if retrieval else ".")]


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def print_fidelity(table: str, overrides: dict | None = None, say=print) -> None:
    """``run_all.py --table T --fidelity``: the table, grouped, as plain text."""
    from repro.spec.loader import load_spec

    spec = load_spec(table)
    say(f"# {spec.key}: {spec.paper.upper()} {spec.table} -- fidelity of --profile paper")
    for rows, lines in grouped(spec, overrides):
        say(f"\nrows {', '.join(rows)}: {status(lines)}")
        for ln in lines:
            say(f"  {ln.setting:16s} {ln.text}")
            say(f"  {'':16s}   harness:   {ln.harness}")
            say(f"  {'':16s}   reference: {ln.reference}  [{ln.source}]")
    if not any(r.built for r in spec.rows):
        say("\nno built rows: nothing is trained for this table"
            + (" but its retrieval networks:" if any(r.is_retrieval for r in spec.rows) else ""))
    from repro.report.retrieval import settings_section

    for line in settings_section(spec)[4:]:  # the retrieval settings beside their sources
        say(line)
