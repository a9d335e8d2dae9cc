"""Your ``--set`` runs of a table as rows of their own: each variant (a row under the same
overrides, all its seeds) summarised beside the row it replaced and every other row of the table.

A variant counts while its config is still what its recorded ``--set`` strings resolve to and its
model's code is unchanged; the others stay under *Results not used*. Its comparisons follow the
claims' rule (:data:`repro.report.stats.RULE`): Welch's test over per-seed top-1.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

from repro.code_digest import code_changes
from repro.config.loader import Spec, parse_set
from repro.errors import SpecError
from repro.metrics import FAMILY_PREFIX
from repro.report.seeds import flat_metrics, fmt_mean_std
from repro.report.stats import ALPHA, RULE, SPLIT_RANGE, splits, welch
from repro.results.select import CurrentConfigs


@dataclass
class Group:
    """One row (a variant, or a row of the spec) under one profile, over its seeds."""

    label: str
    row: str
    places: str
    runs: list[dict] = field(default_factory=list)
    folder: Path | None = None

    def values(self, metric: str = "top1") -> list[float]:
        return [m[metric] for m in map(flat_metrics, self.runs) if metric in m]

    def stats(self, metric: str = "top1") -> tuple[float, float, int]:
        v = self.values(metric)
        return (statistics.fmean(v) if v else float("nan"), statistics.stdev(v) if len(v) > 1 else 0.0, len(v))


def _current_variant(spec: Spec, r: dict) -> bool:
    """Whether ``r`` (a ``--set`` run) ran what its overrides resolve to now, with today's code."""
    prov = r["provenance"]
    try:
        over = parse_set(list(prov["overrides"]))
    except SpecError:
        return False  # a --set the harness no longer accepts
    _, h, _ = CurrentConfigs(spec, over).get(r["row"], prov["profile"], r.get("seed"))
    return h is not None and h == prov.get("spec_hash") and not code_changes(prov.get("code"))


def _places(r: dict) -> str:
    return r["provenance"].get("places") or "none"


def variant_groups(spec: Spec, other: list[dict]) -> list[Group]:
    """The current ``--set`` runs among ``other``, grouped by (row, profile, overrides)."""
    groups: dict[tuple, Group] = {}
    for r in other:
        prov = r["provenance"]
        if prov.get("profile") == "cost" or not prov.get("overrides") or "top1" not in r["metrics"] \
                or not _current_variant(spec, r):
            continue
        key = (r["row"], prov["profile"], tuple(prov["overrides"]))
        label = f"{r['row']} with " + " ".join(f"--set {s}" for s in prov["overrides"])
        g = groups.setdefault(key, Group(label, r["row"], _places(r), folder=Path(r["_path"]).parent))
        g.runs.append(r)
    for g in groups.values():
        g.runs.sort(key=lambda r: str(r.get("seed")))
    return list(groups.values())


def _row_groups(spec: Spec, current: list[dict], profile: str) -> list[Group]:
    by_row: dict[str, Group] = {}
    labels = {r.id: r.label for r in spec.rows}
    for r in current:
        if r["provenance"].get("profile") == profile and "top1" in r["metrics"]:
            g = by_row.setdefault(r["row"], Group(labels.get(r["row"], r["row"]), r["row"], _places(r)))
            g.runs.append(r)
    order = {r.id: i for i, r in enumerate(spec.rows)}
    return sorted(by_row.values(), key=lambda g: order.get(g.row, 99))


def _test(a: Group, b: Group) -> str:
    t = welch(a.stats(), b.stats())
    if not t.testable:
        return t.text()
    verdict = "higher" if t.p < ALPHA and t.diff > 0 else "lower" if t.p < ALPHA else "cannot tell"
    return f"{verdict} ({t.text()})"


def _families(groups: list[Group]) -> tuple[list[str], list[list[str]]]:
    fams = sorted({k for g in groups for r in g.runs for k in flat_metrics(r) if k.startswith(FAMILY_PREFIX)})
    rows = [[g.label, *[fmt_mean_std(*g.stats(f)) if g.values(f) else "" for f in fams]] for g in groups]
    return [f.removeprefix(FAMILY_PREFIX) for f in fams], rows


def _one(variant: Group, rows: list[Group], profile: str, results_dir: Path | None) -> list[str]:
    replaced = next((g for g in rows if g.row == variant.row), None)
    others = [g for g in rows if g is not replaced]
    table = []
    for g, what in [(variant, "your variant"), *([(replaced, "the row it replaced")] if replaced else []),
                    *[(g, "another row") for g in others]]:
        per_seed = ", ".join(f"{v:.1f}" for v in g.values())
        vs = "" if g is variant else _test(variant, g)
        table.append([g.label if g is not variant else f"**{g.label}**", what, g.places,
                      fmt_mean_std(*g.stats()), per_seed, "split" if splits(g.values()) else "", vs])
    folder = variant.folder
    if results_dir is not None and folder is not None and folder.is_relative_to(results_dir):
        folder = folder.relative_to(results_dir)
    out = ["", f"### {variant.label} ({profile}, {len(variant.runs)} seed(s))", "",
           f"Results: `{folder}/` (seeds {', '.join(str(r.get('seed')) for r in variant.runs)}). "
           f"Inserted at: {variant.places}" + ("" if replaced is None or replaced.places == variant.places
                                               else f" (the row it replaced: {replaced.places})") + ".", "",
           tabulate(table, headers=["Row", "", "Inserted at", "Top-1 (mean ± std)", "Top-1 per seed", "Seeds",
                                    "Your variant against it (Welch)"],
                    tablefmt="github", disable_numparse=True)]
    heads, fam_rows = _families([variant, *([replaced] if replaced else []), *others])
    if heads:
        out += ["", "Accuracy by class family (%, mean ± std over seeds):", "",
                tabulate(fam_rows, headers=["Row", *heads], tablefmt="github", disable_numparse=True)]
    if not rows:
        out += ["", f"No current result of the table's own rows on the {profile} profile to compare with: "
                f"run the table without `--set` first."]
    return out


def variants_section(spec: Spec, current: list[dict], other: list[dict],
                     results_dir: Path | None = None) -> tuple[list[str], list[Group]]:
    """The report section of the table's variants (none: no lines) and the variants shown."""
    groups = variant_groups(spec, other)
    if not groups:
        return [], []
    out = ["", "## Your variants (--set runs)", "",
           "Each row's run under the same `--set` overrides, over its seeds, beside the row it replaced "
           "and every other row of the table on the same profile (their current results). Top-1 per "
           "seed in seed order; **split** marks seeds that span more than "
           f"{SPLIT_RANGE:.0f} points (some learn, some do not: the mean describes neither). " + RULE, ""]
    for v in groups:
        out += _one(v, _row_groups(spec, current, v.runs[0]["provenance"]["profile"]),
                    v.runs[0]["provenance"]["profile"], results_dir)
    return out, groups
