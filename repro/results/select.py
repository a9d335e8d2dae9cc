"""Which results a report may use: only those made by the row's current resolved config.

A result counts for its row when its spec hash equals the hash of the row's config resolved
now (same profile and seed) and the code of its model is the code now
(:func:`repro.code_digest.code_changes`). Every other result (a ``--set`` variant, a run of an edited spec or
recipe, a truncated run) is kept aside with a label naming what differs; it is never averaged in
and never gets a Delta against the paper.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from repro.code_digest import code_changes
from repro.results.store import read_results
from repro.config.loader import Spec, config_hash, ensemble_hash, hashed_part, resolve, seed_override
from repro.errors import SpecError

COST = "cost"  # results of run_all.py --cost: the paper-profile model, counted


@dataclass
class Selection:
    current: list[dict] = field(default_factory=list)
    other: list[dict] = field(default_factory=list)  # each with "_why"


class CurrentConfigs:
    """The resolved config and hash of (row, profile, seed) under a spec as it is now (memoised)."""

    def __init__(self, spec: Spec, overrides: dict | None = None) -> None:
        self.spec, self.overrides = spec, overrides or {}
        self._memo: dict[tuple, tuple[dict | None, str | None, str]] = {}

    def get(self, row: str, profile: str, seed: int | None) -> tuple[dict | None, str | None, str]:
        """``(config, hash, why-not)``; config and hash are None where the row cannot run now."""
        k = (row, profile, seed)
        if k not in self._memo:
            self._memo[k] = self._resolve(row, profile, seed)
        return self._memo[k]

    def _resolve(self, row_id: str, profile: str, seed: int | None):
        try:
            row = self.spec.row(row_id)
        except KeyError:
            return None, None, f"row {row_id!r} is no longer in {self.spec.path}"
        if row.is_ensemble:
            hashes = {}
            for m in row.ensemble:
                _, h, why = self.get(m, profile, seed)
                if h is None:
                    return None, None, why
                hashes[m] = h
            return None, ensemble_hash(hashes, row.member_eval), ""
        if row.is_retrieval:
            from repro.retrieval.config import resolve_retrieval

            try:
                cfg = resolve_retrieval(self.spec, row_id, profile, seed, self.overrides)
            except SpecError as e:
                return None, None, f"the row does not resolve now ({e.problems[0]})"
            return cfg, config_hash(cfg), ""
        try:
            cfg = resolve(self.spec, row_id, "paper" if profile == COST else profile,
                          seed_override(None if profile == COST else seed, self.overrides))
        except SpecError as e:
            return None, None, f"the row does not resolve now ({e.problems[0]})"
        return cfg, config_hash(cfg), ""


def flatten(d: dict, prefix: str = "") -> dict[str, object]:
    """``{"train": {"lr": 0.1}}`` -> ``{"train.lr": 0.1}`` (an empty mapping stays a value)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def difference(ran: dict, now: dict, limit: int = 4) -> str:
    """``train.lr=0.05 (spec: 0.1), ...``: where a result's config differs from the current one."""
    a, b = (flatten(hashed_part({k: v for k, v in c.items() if k != "meta"})) for c in (ran, now))
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k, "(unset)") != b.get(k, "(unset)"))
    parts = [f"{k}={a.get(k, '(unset)')} (spec: {b.get(k, '(unset)')})" for k in keys[:limit]]
    more = f", and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(parts) + more


def why_not_current(result: dict, now_cfg: dict | None, now_hash: str | None, why: str) -> str:
    prov = result["provenance"]
    if prov.get("overrides"):
        return "override: " + ", ".join(prov["overrides"])
    if now_hash is None:
        return why
    if now_cfg is not None and isinstance(result.get("config"), dict):
        diff = difference(result["config"], now_cfg)
        if diff:
            return "stale: " + diff
    return f"stale: made for spec hash {prov.get('spec_hash')}, the row's config now has {now_hash}"


def select(spec: Spec, results: list[dict], overrides: dict | None = None) -> Selection:
    """Split ``results`` by whether they ran the row's config (with ``overrides``, if given: the
    probe CLI's view of its own ``--set`` runs)."""
    configs = CurrentConfigs(spec, overrides)
    sel = Selection()
    for r in results:
        prov = r["provenance"]
        cfg, h, why = configs.get(r["row"], prov.get("profile", ""), r.get("seed"))
        same_config = h is not None and prov.get("spec_hash") == h
        changed = code_changes(prov.get("code")) if same_config else []
        if same_config and not changed:
            sel.current.append(r)
        elif same_config and not prov.get("overrides"):
            sel.other.append({**r, "_why": "code changed since it ran: " + "; ".join(changed)})
        else:
            sel.other.append({**r, "_why": why_not_current(r, cfg, h, why)})
    return sel


def select_results(spec: Spec, results_dir: Path, overrides: dict | None = None) -> Selection:
    """The spec's results in ``results_dir``, split into current and the rest."""
    return select(spec, read_results(results_dir, spec.key), overrides)
