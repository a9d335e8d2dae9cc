"""Fidelity table: every setting of a row's paper-profile config beside what its paper or
reference code does, with the source and a verdict.

Verdicts (``Line.verdict``; ``Line.text`` adds the detail after a colon):

- ``same``: a paper sentence or an official file:line states the value, the entry's ``source``
  cites it, and the resolved config has it.
- ``silent: following X``: the paper says nothing; the value follows the code X named by the
  entry's ``follows`` (with file:line).
- ``unknowable: <reason>``: the sources cannot settle the value (e.g. the script of the cited
  checkpoints is not published); the reason says what is missing and what the harness uses.
- ``diverges: <what, and the expected effect>``: a judged value differs from the reference, or
  the entry's ``why`` names a difference that no single key captures.

The references live next to the settings they judge: a recipe's ``fidelity:`` block (and a
spec's or a row's, which override it per setting). Each entry names the config keys it judges,
the reference values (``expect``), where they come from (``source``), and optionally
``silent: true`` with ``follows``, ``unknowable: "<reason>"``, ``why`` (a divergence kept on
purpose, with its expected effect), or ``hint`` (what to do when a judged value is off, e.g.
which checkpoint to pass; an expect value ``<file>`` accepts any path). ``on_dataset: {ssv1:
{...}}`` replaces those fields of the entry for rows run on that dataset (e.g. a flip list whose
class indices are verified for SSv2 only). The harness value is read from the resolved config,
so a table cannot drift from the YAML, and a ``--set`` that changes a judged value shows up as
*diverges*.

Citations (checked for every ``same`` line by tests/test_recipe_fidelity.py through
:func:`citation_problems`): the ``source`` must match :data:`CITATION`, i.e. contain either

- an official file and line, ``path/file.ext:LINE`` (``.py``, ``.yaml``/``.yml``, ``.sh``,
  ``.md``, ``.txt``, ``.json``; ``LINE`` a number or a range/list such as ``13-15`` or ``4,39``),
  e.g. ``TSM main.py:72``, ``PySlowFast configs/SSv2/SLOWFAST_16x8_R50.yaml:42-43``; or
- a paper place: a paper name (GTA, SSAN, RSA, TSM, SlowFast) followed in the same citation by
  ``Sec.``/``Section``, ``App.``/``Appendix``, ``Table(s)`` or ``Fig.``/``Figure`` and its number
  or letter, e.g. ``GTA App. E``, ``SSAN Sec. 4.2``, ``GTA Table 1``; or an arXiv id
  (``arXiv 2105.13033``).

and its ``paper`` text must not call the value unstated (:data:`NOT_STATED`: "not stated", "not
given", "unstated", "none stated", "silent"): such a line is ``silent`` or ``unknowable``. A
``silent`` line's ``follows`` must cite its code the same way.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

from repro.config import schema as S
from repro.config.loader import deep_merge, fidelity_entries, load_spec, resolve
from repro.config.schema import ENSEMBLE_SETTINGS, SETTINGS
from repro.report.retrieval import settings_section

SAME, SILENT, UNKNOWABLE, DIVERGES = "same", "silent", "unknowable", "diverges"
VERDICTS = (SAME, SILENT, UNKNOWABLE, DIVERGES)
LEGEND = ("same = a paper sentence or official file:line states it; silent = the paper says nothing, "
          "the value follows the cited code; unknowable = the sources cannot settle it; diverges = "
          "differs from the reference (with the expected effect)")

FILE_LINE = r"[\w.-]+\.(?:py|ya?ml|sh|md|txt|json):\d+"
PAPER_PLACE = (r"\b(?:GTA|SSAN|RSA|TSM|SlowFast)\b[^;]*?\b(?:(?:Sec|App|Fig)\.\s*|(?:Section|Appendix|Tables?|"
               r"Figure)\s+)(?:\d|[A-Z]\b)|\barXiv:? ?\d{4}\.\d{4,5}")
CITATION = re.compile(f"{FILE_LINE}|{PAPER_PLACE}", re.IGNORECASE)
NOT_STATED = re.compile(r"not stated|not given|unstated|none stated|silent", re.IGNORECASE)


@dataclass(frozen=True)
class Line:
    setting: str
    harness: str
    reference: str
    source: str
    verdict: str  # same | silent | unknowable | diverges (VERDICTS)
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
    dataset = (cfg.get("data") or {}).get("dataset")
    entry = {**entry, **((entry.get("on_dataset") or {}).get(dataset) or {})}
    per_row = bool(entry.get("per_row"))
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
        return Line(setting, harness, reference, source, DIVERGES, f"{known} ({detail})" if known else detail,
                    per_row)
    if entry.get("why"):  # a divergence that no single key captures (e.g. a missing mechanism)
        return Line(setting, harness, reference, source, DIVERGES, entry["why"], per_row)
    if entry.get("unknowable"):
        return Line(setting, harness, reference, source, UNKNOWABLE, entry["unknowable"], per_row)
    if entry.get("silent"):
        return Line(setting, harness, reference, source, SILENT, f"following {entry.get('follows', source)}",
                    per_row)
    if per_row:
        return Line(setting, harness, reference, source, SAME, "set per row, from the paper's table", True)
    return Line(setting, harness, reference, source, SAME)


def citation_problems(line: Line) -> list[str]:
    """Why a line's verdict is not backed by its citation (empty: it is): a ``same`` line needs a
    :data:`CITATION` in its source and a paper text that does not call the value unstated; a
    ``silent`` one needs a cited ``follows``; ``unknowable`` and ``diverges`` need their reason."""
    if line.verdict == SAME:
        out = []
        if not line.source.strip():
            out.append("no source")
        elif not CITATION.search(line.source):
            out.append(f"source {line.source!r} cites no paper section or file:line")
        if NOT_STATED.search(line.reference):
            out.append(f"its paper text says the value is unstated ({NOT_STATED.search(line.reference).group(0)!r})")
        return out
    if line.verdict == SILENT and not CITATION.search(line.detail):
        return [f"silent line {line.detail!r} cites no file:line of the code it follows"]
    if line.verdict in (UNKNOWABLE, DIVERGES) and not line.detail.strip():
        return [f"{line.verdict} without a reason"]
    return []


def row_lines(spec, row_id: str, overrides: dict | None = None, profile: str = "paper") -> list[Line]:
    """The fidelity lines of one built or ensemble row under ``profile`` (default paper).

    An ensemble row has one line: its first member's config under the ensemble's protocol
    (``member_eval``), judged by the row's ``ensemble`` entry.
    """
    row = spec.row(row_id)
    if row.is_ensemble:
        cfg = resolve(spec, row.ensemble[0], profile,
                      deep_merge(overrides or {}, {"eval": row.member_eval or {}}))
        return [judge(s, row.fidelity.get(s), cfg) for s in ENSEMBLE_SETTINGS]
    cfg = resolve(spec, row_id, profile, overrides)
    entries = fidelity_entries(spec, row_id)
    return [judge(s, entries.get(s), cfg) for s in SETTINGS]


def status(lines: list[Line]) -> str:
    """One status per row: ``faithful`` when nothing diverges, else ``diverges on N: <settings>``;
    then the silent and unknowable lines counted, e.g. ``faithful; silent on 9, unknowable on 1``."""
    div = [ln.setting for ln in lines if ln.verdict == DIVERGES]
    counts = [f"{v} on {n}" for v in (SILENT, UNKNOWABLE) if (n := sum(ln.verdict == v for ln in lines))]
    head = f"diverges on {len(div)}: {', '.join(div)}" if div else "faithful"
    return head + (f"; {', '.join(counts)}" if counts else "")


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
        if not out:
            out += [f"Verdicts: {LEGEND}.", ""]
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
    spec = load_spec(table)
    say(f"# {spec.key}: {spec.paper.upper()} {spec.table} -- fidelity of --profile paper")
    if any(r.built or r.is_ensemble for r in spec.rows):
        say(f"# verdicts: {LEGEND}")
    for rows, lines in grouped(spec, overrides):
        say(f"\nrows {', '.join(rows)}: {status(lines)}")
        for ln in lines:
            say(f"  {ln.setting:16s} {ln.text}")
            say(f"  {'':16s}   harness:   {ln.harness}")
            say(f"  {'':16s}   reference: {ln.reference}  [{ln.source}]")
    if not any(r.built for r in spec.rows):
        say("\nno built rows: nothing is trained for this table"
            + (" but its retrieval networks:" if any(r.is_retrieval for r in spec.rows) else ""))

    for line in settings_section(spec, overrides)[4:]:  # the retrieval settings beside their sources
        say(line)
