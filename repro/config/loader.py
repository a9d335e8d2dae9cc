"""Load table specs (experiments/<table>.yaml), recipes and profiles, validate them, and resolve
one row under one profile into a complete run config.

Resolution order, later wins: recipe (the profile's if it names one, else the spec's) ->
spec ``defaults`` -> the row -> the profile -> command-line ``--set`` overrides. Insertion
places are then fitted to the backbone actually built (see :func:`fit_places`).
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from repro.config import schema as S
from repro.data.fingerprint import sha256
from repro.data.registry import dataset_names
from repro.errors import SpecError
from repro.models.depths import DEPTHS, STAGES
from repro.models.registry import module_names

# The checkout's experiments/, or the copy an installed package carries (repro/experiments).
_HERE = Path(__file__).resolve().parents[1]
EXPERIMENTS = _HERE / "experiments" if (_HERE / "experiments").is_dir() else _HERE.parent / "experiments"
PROFILES_FILE = "profiles.yaml"


@dataclass
class ReportedValue:
    metric: str
    value: float
    paper: str
    table: str
    dataset: str
    split: str
    note: str = ""


@dataclass
class Row:
    id: str
    label: str
    overrides: dict
    reported: list[ReportedValue] = field(default_factory=list)
    note: str = ""
    reported_only: str | None = None  # why the harness does not build this row
    ensemble: list[str] | None = None  # member rows whose saved class scores are averaged
    recipe: str | None = None  # the row's own recipe, where it is not the spec's
    fidelity: dict = field(default_factory=dict)  # per-setting references over the recipe's
    member_eval: dict | None = None  # an ensemble's test protocol for its members, if not theirs
    checkpoints: list[dict] = field(default_factory=list)  # published checkpoints (schema.CHECKPOINT)
    features: dict | None = None  # retrieval rows: {table, row} of the classifier giving the features
    retrieval: dict = field(default_factory=dict)  # retrieval rows: their settings over the spec's

    @property
    def built(self) -> bool:
        """A model is built and trained for this row (not reported-only, an ensemble or retrieval)."""
        return self.reported_only is None and self.ensemble is None and self.features is None

    @property
    def is_ensemble(self) -> bool:
        return self.ensemble is not None

    @property
    def is_retrieval(self) -> bool:
        """Trained as a text-video retrieval network on a classifier row's clip features."""
        return self.features is not None and self.reported_only is None

    @property
    def runnable(self) -> bool:
        """The harness produces a result for this row (by training, averaging or retrieval)."""
        return self.built or self.is_ensemble or self.is_retrieval


@dataclass
class Claim:
    """A checkable statement of the paper about its rows (see :mod:`repro.report.claims`)."""

    id: str
    text: str
    kind: str  # greater: rows[0] > rows[1]; best: rows[0] is max of among; order: increasing
    rows: list[str]
    among: list[str] = field(default_factory=list)
    metric: str = "top1"
    dataset: str | None = None


@dataclass
class Spec:
    id: str
    title: str
    path: Path
    paper: str
    table: str
    dataset: str
    split: str
    recipe: str | None
    defaults: dict
    rows: list[Row]
    note: str = ""
    claims: list[Claim] = field(default_factory=list)
    probe: dict | None = None  # {"rows": [...], "note": ...}: the synthetic probe tier
    fidelity: dict = field(default_factory=dict)  # per-setting references over the recipe's
    member_eval: dict | None = None  # an ensemble's test protocol for its members, if not theirs
    checkpoints: list[dict] = field(default_factory=list)  # published checkpoints (schema.CHECKPOINT)
    retrieval: dict = field(default_factory=dict)  # settings of its retrieval rows (schema.RETRIEVAL)

    @property
    def key(self) -> str:
        """Folder name of this spec's results and report: its id for a spec of ``experiments/``,
        else ``<id>@<hash of its path>``, so that an edited copy never mixes with the real table."""
        if self.path.resolve().parent == EXPERIMENTS.resolve():
            return self.id
        return f"{self.id}@{hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:8]}"

    @property
    def builtin(self) -> bool:
        return self.key == self.id

    @property
    def probe_rows(self) -> list[str]:
        """Built rows of the synthetic probe tier: ``probe.rows``, or every built row."""
        rows = (self.probe or {}).get("rows")
        return list(rows) if rows else [r.id for r in self.rows if r.runnable]

    def row(self, row_id: str) -> Row:
        for r in self.rows:
            if r.id == row_id:
                return r
        raise KeyError(f"{self.path}: no row {row_id!r}; rows are {', '.join(r.id for r in self.rows)}")


# Parsed files by (path, mtime, size): a report resolves every row of every result, and parsing
# the same recipe and profiles thousands of times dominated --report-only. Callers get copies.
_PARSED: dict[tuple, Any] = {}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise SpecError(path, ["file not found"])
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _PARSED:
        try:
            _PARSED[key] = yaml.load(path.read_text(), Loader=_LOADER)
        except yaml.YAMLError as e:
            raise SpecError(path, [f"not valid YAML: {_yaml_problem(e)}"]) from None
    return copy.deepcopy(_PARSED[key])


class Replace(dict):
    """A mapping that replaces the one it is merged over instead of merging into it: ``--set K=null``
    (or ``K={}``) followed by ``--set K.sub=V`` clears ``K``, then sets ``sub``."""


def deep_merge(base: dict, over: dict, _at: str = "") -> dict:
    """``over`` merged into a copy of ``base``, key by key. ``{}`` or ``null`` given for a mapping
    key of the config (:data:`schema.CLEARABLE`: module and backbone arguments, insertion stages,
    lr multipliers, generator knobs) clears it: ``--set 'model.insert.args={}'`` drops a row's
    inherited arguments. A whole section (``eval: {}``) merges as usual."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        path = f"{_at}.{k}" if _at else str(k)
        if path in S.CLEARABLE and (v is None or v == {}):
            out[k] = {}
        elif isinstance(v, Replace):
            out[k] = copy.deepcopy(dict(v))
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v, path)
        else:
            out[k] = copy.deepcopy(v)
    return out


def list_tables(root: Path = EXPERIMENTS) -> list[str]:
    return sorted(p.stem for p in root.glob("*.yaml") if p.name != PROFILES_FILE)


# The synthetic probe's module comparison: every module at the same places (reports/probe.md).
MODULES_TABLE = "probe_modules"


def _natural(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def probe_tables() -> list[str]:
    """Tables with a ``probe:`` block: the module comparison first, then SSAN's, then GTA's."""
    tier = [t for t in list_tables() if load_spec(t).probe is not None]
    rank = {"probe": 0, "ssa": 1, "gta": 2}
    return sorted(tier, key=lambda t: (rank.get(t.split("_")[0], 3), t != MODULES_TABLE, _natural(t)))


def table_listing() -> str:
    """``run_all.py --list``: every table, its title and its rows."""
    lines = []
    for t in list_tables():
        spec = load_spec(t)
        runs = [r.id + (" (ensemble)" if r.is_ensemble else " (retrieval)" if r.is_retrieval else "")
                for r in spec.rows if r.runnable]
        shown = [r.id for r in spec.rows if not r.runnable]
        lines += [f"{t:14s} {spec.paper.upper()} {spec.table}: {spec.title}",
                  f"{'':14s} built: {', '.join(runs) or '-'}"]
        if shown:
            lines.append(f"{'':14s} reported only (shown, never run): {', '.join(shown)}")
    return "\n".join(lines)


def load_recipe(name: str, root: Path = EXPERIMENTS) -> dict:
    path = root / "recipes" / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in (root / "recipes").glob("*.yaml")))
        raise SpecError(path, [f"recipe {name!r} not found (known recipes: {known})"])
    data = _read_yaml(path) or {}
    problems: list[str] = []
    S.check(data, S.RECIPE, "", problems)
    _check_config_values(data, "", problems)
    problems += _fidelity_keys(data.get("fidelity"), "fidelity")
    if problems:
        raise SpecError(path, problems)
    data.pop("description", None)
    data.pop("fidelity", None)  # references, not config: see recipe_fidelity
    return data


def recipe_fidelity(name: str, root: Path = EXPERIMENTS) -> dict:
    """A recipe's ``fidelity:`` block (setting -> reference entry); checked by load_recipe."""
    load_recipe(name, root)
    return _read_yaml(root / "recipes" / f"{name}.yaml").get("fidelity") or {}


def _fidelity_keys(block: Any, where: str) -> list[str]:
    """Problems of a ``fidelity:`` block beyond its shape: every expect/show key is a config key."""
    problems = []
    for setting, entry in (block or {}).items() if isinstance(block, dict) else ():
        entry = entry if isinstance(entry, dict) else {}
        for key in [*(entry.get("expect") or {}), *(entry.get("show") or [])]:
            if not S.schema_has(key):
                problems.append(f"{where}.{setting}: {key!r} is not a config key")
    return problems


def fidelity_entries(spec: "Spec", row_id: str, root: Path = EXPERIMENTS) -> dict:
    """Setting -> reference entry for a row: its recipe's, then the spec's, then the row's."""
    row = spec.row(row_id)
    name = row.recipe or spec.recipe
    return {**(recipe_fidelity(name, root) if name else {}), **spec.fidelity, **row.fidelity}


def load_profiles(root: Path = EXPERIMENTS) -> dict[str, dict]:
    path = root / PROFILES_FILE
    data = _read_yaml(path) or {}
    problems: list[str] = []
    S.check(data, {"*": S.PROFILE}, "", problems)
    for name, prof in data.items():
        if isinstance(prof, dict):
            _check_config_values(prof, name, problems)
    if problems:
        raise SpecError(path, problems)
    return data


def _check_config_values(cfg: dict, prefix: str, problems: list[str]) -> None:
    """Value checks beyond types: module names, positions, schedules."""
    p = f"{prefix}." if prefix else ""
    ins = (cfg.get("model") or {}).get("insert") or {}
    mod = ins.get("module")
    if isinstance(mod, str) and ":" in mod:
        from repro.models.registry import import_path

        try:
            import_path(mod)
        except KeyError as e:
            problems.append(f"{p}model.insert.module: {e.args[0]}")
    elif isinstance(mod, str) and mod not in module_names():
        problems.append(f"{p}model.insert.module: unknown module {mod!r} (known: {', '.join(module_names())}, "
                        "or a class path package.module:Class)")
    pos = ins.get("position")
    if isinstance(pos, str) and pos not in S.POSITIONS:
        problems.append(f"{p}model.insert.position: {pos!r} is not one of {', '.join(S.POSITIONS)}")
    sched = (cfg.get("train") or {}).get("schedule")
    if isinstance(sched, str) and sched not in S.SCHEDULES:
        problems.append(f"{p}train.schedule: {sched!r} is not one of {', '.join(S.SCHEDULES)}")


def load_spec(table: str, root: Path = EXPERIMENTS) -> Spec:
    """Load and validate ``experiments/<table>.yaml``; raises :class:`SpecError` naming each bad key."""
    path = Path(table) if str(table).endswith(".yaml") else root / f"{table}.yaml"
    if not path.is_file():
        raise SpecError(path, [f"no such table spec; known tables: {', '.join(list_tables(root))}"])
    data = _read_yaml(path)
    problems: list[str] = []
    S.check(data, S.SPEC, "", problems)
    if problems:
        raise SpecError(path, problems)
    for key in ("id", "title", "paper", "table", "dataset", "split", "rows"):
        if key not in data:
            problems.append(f"{key}: required key missing")
    if data.get("dataset") not in (None, *dataset_names()):
        problems.append(f"dataset: {data['dataset']!r} is not one of {', '.join(dataset_names())}")
    if data.get("split") not in (None, *S.SPLITS):
        problems.append(f"split: {data['split']!r} is not one of {', '.join(S.SPLITS)}")
    if data.get("id") not in (None, path.stem):
        problems.append(f"id: {data['id']!r} must match the file name {path.stem!r}")
    _check_config_values(data.get("defaults") or {}, "defaults", problems)
    problems += _fidelity_keys(data.get("fidelity"), "fidelity")
    rows, seen = [], set()
    for i, r in enumerate(data.get("rows") or []):
        rp = f"rows[{i}]"
        if "id" not in r:
            problems.append(f"{rp}.id: required key missing")
            continue
        if r["id"] in seen:
            problems.append(f"{rp}.id: duplicate row id {r['id']!r}")
        seen.add(r["id"])
        _check_config_values(r, rp, problems)
        problems += _fidelity_keys(r.get("fidelity"), f"{rp}.fidelity")
        reported = _reported(data, r, rp, problems)
        overrides = {k: r[k] for k in ("model", "data", "train", "eval") if k in r}
        rows.append(Row(r["id"], r.get("label", r["id"]), overrides, reported, r.get("note", ""),
                        r.get("reported_only"), r.get("ensemble"), r.get("recipe"),
                        r.get("fidelity") or {}, r.get("member_eval"), r.get("checkpoints") or [],
                        r.get("features"), r.get("retrieval") or {}))
        for j, c in enumerate(r.get("checkpoints") or []):
            if isinstance(c, dict) and c.get("source") not in S.WEIGHT_SOURCES:
                problems.append(f"{rp}.checkpoints[{j}].source: {c.get('source')!r} is not one of "
                                f"{', '.join(S.WEIGHT_SOURCES)}")
    _check_ensembles(rows, problems)
    _check_retrieval_rows(rows, root, problems)
    claims = _claims(data.get("claims") or [], seen, problems)
    by_id = {r.id: r for r in rows}
    for rid in (data.get("probe") or {}).get("rows") or []:
        if rid not in by_id:
            problems.append(f"probe.rows: no row {rid!r}")
        elif not by_id[rid].runnable:
            problems.append(f"probe.rows: row {rid!r} is reported-only; the probe can only run built rows")
    if problems:
        raise SpecError(path, problems)
    return Spec(data["id"], data["title"], path, data["paper"], data["table"], data["dataset"],
                data["split"], data.get("recipe"), data.get("defaults") or {}, rows, data.get("note", ""),
                claims, data.get("probe"), data.get("fidelity") or {}, retrieval=data.get("retrieval") or {})


def _check_retrieval_rows(rows: list[Row], root: Path, problems: list[str]) -> None:
    """A retrieval row names a built row of a spec as its classifier and trains nothing else."""
    sources: dict[str, Spec] = {}  # a table's rows usually share one source spec: load it once
    for i, r in enumerate(rows):
        rp = f"rows[{i}] ({r.id})"
        if r.features is None:
            if r.retrieval:
                problems.append(f"{rp}.retrieval: only a retrieval row (one with features:) has "
                                "retrieval settings")
            continue
        if r.ensemble is not None or r.overrides:
            what = "ensemble" if r.ensemble is not None else "/".join(r.overrides)
            problems.append(f"{rp}: a retrieval row's model is the classifier named by features; "
                            f"{what} does not apply (set it on that row)")
        missing = [k for k in ("table", "row") if k not in r.features]
        if missing:
            problems.append(f"{rp}.features: needs {' and '.join(missing)} (a built row of a spec)")
            continue
        try:
            table = r.features["table"]
            src = sources[table] = sources.get(table) or load_spec(table, root)
            built = src.row(r.features["row"]).built
        except SpecError as e:
            problems.append(f"{rp}.features.table: {r.features['table']!r}: {e.problems[0]}")
            continue
        except KeyError:
            problems.append(f"{rp}.features.row: {r.features['table']} has no row {r.features['row']!r}")
            continue
        if not built:
            problems.append(f"{rp}.features.row: {r.features['table']}/{r.features['row']} is not a "
                            "built row; features come from a trained classifier")


def _check_ensembles(rows: list[Row], problems: list[str]) -> None:
    """An ensemble row averages the saved scores of two or more distinct built rows of this spec."""
    by_id = {r.id: r for r in rows}
    for i, r in enumerate(rows):
        rp = f"rows[{i}] ({r.id})"
        if r.ensemble is None:
            if r.member_eval is not None:
                problems.append(f"{rp}.member_eval: only an ensemble row tests its members under "
                                "another protocol; set eval on this row instead")
            continue
        if r.reported_only is not None:
            problems.append(f"{rp}: ensemble and reported_only exclude each other; drop reported_only "
                            "to compute the ensemble from its members' scores, or drop ensemble")
        if r.overrides:
            problems.append(f"{rp}: an ensemble row trains nothing, so model/data/train/eval "
                            f"({', '.join(r.overrides)}) do not apply; set them on its member rows")
        if len(r.ensemble) < 2 or len(set(r.ensemble)) != len(r.ensemble):
            problems.append(f"{rp}.ensemble: needs two or more distinct member rows, got {r.ensemble}")
        for m in r.ensemble:
            if m not in by_id:
                problems.append(f"{rp}.ensemble: no row {m!r} in this spec")
            elif not by_id[m].built:
                why = "an ensemble" if by_id[m].is_ensemble else f"reported-only ({by_id[m].reported_only})"
                problems.append(f"{rp}.ensemble: member {m!r} is {why}; members must be built rows")


def _reported(data: dict, row: dict, rp: str, problems: list[str]) -> list[ReportedValue]:
    """A row's reported numbers, each completed with paper/table/dataset/split from above it."""
    src = {k: data.get(k) for k in ("paper", "table", "dataset", "split")}
    src.update(row.get("source") or {})
    src.pop("note", None)
    raw = row.get("reported") or {}
    entries = ([{"metric": m, "value": v} for m, v in raw.items()] if isinstance(raw, dict) else raw)
    out = []
    for j, e in enumerate(entries):
        where = f"{rp}.reported.{e['metric']}" if isinstance(raw, dict) else f"{rp}.reported[{j}]"
        full = {**src, **e}
        if "metric" not in full or "value" not in full:
            problems.append(f"{where}: needs metric and value")
            continue
        if full["metric"] not in S.METRICS:
            problems.append(f"{where}: unknown metric {full['metric']!r} (known: {', '.join(S.METRICS)})")
        # The spec's own dataset is checked once, above; only an entry's (or its row's) is checked here.
        if (e.get("dataset") or src.get("dataset") != data.get("dataset")) and full.get("dataset") not in dataset_names():
            problems.append(f"{where}: dataset {full.get('dataset')!r} is not one of {', '.join(dataset_names())}")
        if full.get("split") not in S.SPLITS:
            problems.append(f"{where}: split {full.get('split')!r} is not one of {', '.join(S.SPLITS)}")
        missing = [k for k in ("paper", "table") if not full.get(k)]
        if missing:
            problems.append(f"{where}: no reported source for {', '.join(missing)}")
            continue
        out.append(ReportedValue(full["metric"], float(full["value"]), str(full["paper"]),
                                 str(full["table"]), str(full["dataset"]), str(full["split"]),
                                 str(full.get("note", ""))))
    return out


def _claims(raw: list[dict], row_ids: set[str], problems: list[str]) -> list[Claim]:
    out = []
    for i, c in enumerate(raw):
        cp = f"claims[{i}]"
        missing = [k for k in ("id", "text", "kind", "rows") if k not in c]
        if missing:
            problems.append(f"{cp}: missing {', '.join(missing)}")
            continue
        if c["kind"] not in S.CLAIM_KINDS:
            problems.append(f"{cp}.kind: {c['kind']!r} is not one of {', '.join(S.CLAIM_KINDS)}")
        for key in ("rows", "among"):
            for rid in c.get(key) or []:
                if rid not in row_ids:
                    problems.append(f"{cp}.{key}: no row {rid!r}")
        need = {"greater": 2, "best": 1, "order": 2}.get(c["kind"], 1)
        if len(c["rows"]) < need:
            problems.append(f"{cp}.rows: {c['kind']} needs at least {need} rows")
        out.append(Claim(c["id"], c["text"], c["kind"], list(c["rows"]), list(c.get("among") or []),
                         c.get("metric", "top1"), c.get("dataset")))
    return out


def parse_set(items: list[str]) -> dict:
    """``["train.epochs=2", "data.crop=28"]`` -> nested dict, values parsed as YAML scalars.

    Later items win. A key given a mapping (``K={a: 1}``) and then keys under it (``K.b=2``)
    holds both; a key cleared (``K=null`` or ``K={}``) and then given keys under it holds only
    those (a :class:`Replace`); a key given a plain value and then keys under it is an error.
    """
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise SpecError("--set", [f"{item!r}: expected key.path=value"])
        key, raw = item.split("=", 1)
        if not key or any(not p for p in key.split(".")):
            raise SpecError("--set", [f"{item!r}: {key!r} is not a key path (e.g. train.lr=0.01)"])
        try:
            value = _scalar(yaml.safe_load(raw))
        except yaml.YAMLError as e:
            raise SpecError("--set", [f"{item!r}: the value is not valid YAML ({_yaml_problem(e)}); quote "
                                      "it for the shell, e.g. --set 'train.steps=[30, 40]'"]) from None
        _set_path(out, key.split("."), value, item)
    check_overrides(out)
    return out


def _set_path(out: dict, parts: list[str], value: Any, item: str) -> None:
    """``value`` at ``parts`` of ``out``, merged with what earlier items put there (see parse_set)."""
    node = out
    for i, p in enumerate(parts[:-1]):
        cur = node.get(p)
        if cur is None or cur == {}:
            # Absent, or cleared by an earlier item: keys given now are all it holds.
            cleared = p in node and ".".join(parts[: i + 1]) in S.CLEARABLE
            node[p] = Replace() if cleared else {}
        elif not isinstance(cur, dict):
            at = ".".join(parts[: i + 1])
            raise SpecError("--set", [f"{item!r}: an earlier --set gave {at} the value {cur!r}, so it has no "
                                      f"key {parts[i + 1]!r}; give {at} as a mapping, e.g. --set '{at}={{"
                                      f"{parts[i + 1]}: ...}}'"])
        node = node[p]
    leaf = parts[-1]
    old = node.get(leaf)
    if isinstance(value, dict) and isinstance(old, dict):
        merged = deep_merge(old, value)
        node[leaf] = Replace(merged) if isinstance(old, Replace) else merged
    else:
        node[leaf] = value


def _scalar(v: Any) -> Any:
    """YAML 1.1 reads ``1e-6`` (no dot) as a string; on a command line it means the number."""
    if isinstance(v, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", v):
        return float(v)
    return v


def check_overrides(over: dict) -> None:
    """Keys and types of ``--set`` overrides (values are range-checked once resolved)."""
    problems: list[str] = []
    S.check(over, S.SET, "", problems)
    if not problems:  # value checks need the right shapes
        _check_config_values(over, "", problems)
    if problems:
        raise SpecError("--set", problems)


def _yaml_problem(e: yaml.YAMLError) -> str:
    """One line for a YAML error: what and where (line, column)."""
    mark = getattr(e, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{getattr(e, 'problem', None) or type(e).__name__}{where}"


def fit_places(stages: dict[str, list[int]], layers: list[int]) -> dict[str, list[int]]:
    """Fit the paper's block indices to a shallower backbone, keeping their count and order.

    Indices are clipped to the stage depth, then pushed down where they collide, so that on a
    stage of 2 blocks ``[1, 3]`` becomes ``[0, 1]`` (two modules, as in the paper) rather than
    ``[1]``: an ablation of how many blocks hold a module stays an ablation. A stage with fewer
    blocks than indices keeps one module per block. The paper profile keeps them unchanged
    (ResNet-50 has every block they name); indices the spec's own backbone lacks never get here
    (:func:`resolve` refuses them).
    """
    out = {}
    for i, name in enumerate(STAGES):
        wanted = sorted(set(stages.get(name) or []))
        if not wanted:
            continue
        fitted: list[int] = []
        nxt = layers[i]
        for b in reversed(wanted):
            nxt = min(b, nxt - 1)
            if nxt < 0:
                break
            fitted.append(nxt)
        out[name] = sorted(fitted)
    return out


def profile_seeds(profile: str, root: Path = EXPERIMENTS) -> list[int] | None:
    """The seeds a profile runs every row with (``seeds:`` in profiles.yaml), or None for one run."""
    seeds = load_profiles(root).get(profile, {}).get("seeds")
    return list(seeds) if seeds else None


def _layers(bb: dict) -> list[int] | None:
    return list(bb["layers"]) if bb.get("layers") else (list(DEPTHS[bb["depth"]])
                                                         if bb.get("depth") in DEPTHS else None)


def resolve(spec: Spec, row_id: str, profile: str, overrides: dict | None = None,
            root: Path = EXPERIMENTS, check_modules: bool = False) -> dict:
    """Complete config for one row under one profile (see module docstring for the order).

    Every key of :data:`schema.DEFAULTS` is filled in, so the config (and its hash) holds every
    value that runs. Out-of-range values raise one :class:`SpecError` line each, naming the file
    (or ``--set``) that set the value and its key; ``check_modules`` also checks the module's
    arguments against its constructor (which imports it).
    """
    _check_buildable(spec, row_id)
    profiles = load_profiles(root)
    if profile not in profiles:
        raise SpecError(root / PROFILES_FILE, [f"unknown profile {profile!r} (known: {', '.join(profiles)})"])
    prof = copy.deepcopy(profiles[profile])
    recipe_name = prof.pop("recipe", None) or spec.row(row_id).recipe or spec.recipe
    dataset = prof.pop("dataset", "paper")
    for key in ("description", "seeds", "retrieval"):  # how many runs / retrieval rows' settings
        prof.pop(key, None)
    overrides = {k: v for k, v in (overrides or {}).items() if k != "retrieval"}
    if overrides:
        check_overrides(overrides)
    layers = _config_layers(spec, row_id, profile, recipe_name, prof, overrides, root)
    cfg, declared = _merge(layers)
    problems_at, moved = _fit_and_check(cfg, declared, check_modules)
    if problems_at:
        origins = [_origin(key, layers, spec.path) for key, _ in problems_at]
        raise SpecError(origins[0], [f"{k}: {p}" for k, p in problems_at], origins)
    cfg["data"]["dataset"] = spec.dataset if dataset == "paper" else dataset
    cfg["meta"] = {"table": spec.id, "row": row_id, "profile": profile, "recipe": recipe_name}
    digest = weights_digest(cfg["model"]["weights"])
    if digest:  # keyed by content: a file replaced at the same path is another config
        cfg["meta"]["weights_sha256"] = digest
    if moved:
        cfg["meta"]["places_fitted_from"] = moved
    return cfg


def _check_buildable(spec: Spec, row_id: str) -> None:
    """A SpecError unless ``row_id`` is a built row (not retrieval, ensemble or reported-only)."""
    row = spec.row(row_id)
    if row.is_retrieval:
        raise SpecError(spec.path, [f"row {row_id!r} is a retrieval row on the features of "
                                    f"{row.features['table']}/{row.features['row']}; resolve it with "
                                    "repro.retrieval.config.resolve_retrieval"])
    if row.is_ensemble:
        raise SpecError(spec.path, [f"row {row_id!r} is neither trained nor reported-only: it is an "
                                    f"ensemble of {', '.join(row.ensemble)}, computed from their saved "
                                    "scores, and has no config of its own; resolve its members"])
    if not row.built:
        raise SpecError(spec.path, [f"row {row_id!r} is reported-only ({row.reported_only}); "
                                    "it has no model to build or run"])


def _config_layers(spec: Spec, row_id: str, profile: str, recipe_name: str | None, prof: dict,
                   overrides: dict, root: Path) -> list[tuple[str, dict]]:
    """The layers of a config, earliest first, each named so that a bad value points at the
    file (and row, or profile) that set it."""
    idx = next(i for i, r in enumerate(spec.rows) if r.id == row_id)
    recipe = load_recipe(recipe_name, root) if recipe_name else {}
    return [(str(root / "recipes" / f"{recipe_name}.yaml"), recipe),
            (f"{spec.path} (defaults)", spec.defaults),
            (f"{spec.path} (rows[{idx}] {row_id})", spec.row(row_id).overrides),
            (f"{root / PROFILES_FILE} ({profile})", prof),
            ("--set", overrides or {})]


def _merge(layers: list[tuple[str, dict]]) -> tuple[dict, list[int] | None]:
    """The layers over the defaults, completed; and the blocks per stage of the spec's own
    backbone (recipe, defaults and row: before the profile shrinks it)."""
    cfg = copy.deepcopy(S.DEFAULTS)
    for _, layer in layers[:3]:
        cfg = _merge_layer(cfg, layer)
    declared = _layers(cfg["model"]["backbone"])
    for _, layer in layers[3:]:
        cfg = _merge_layer(cfg, layer)
    return complete(cfg), declared


def _merge_layer(cfg: dict, layer: dict) -> dict:
    """One layer over ``cfg``. A row's module arguments belong to its module: a layer that names
    another module (``--set model.insert.module=my_blocks:X``) gives it only the arguments the
    same layer gives (``--set 'model.insert.args={scale: 0.5}'``, ``model.insert.args.scale=0.5``,
    or ``model.insert={module: ..., args: {...}}``), never the row's."""
    out = deep_merge(cfg, layer)
    ins = (layer.get("model") or {}).get("insert") or {}
    if isinstance(ins, dict) and "module" in ins and ins["module"] != cfg["model"]["insert"].get("module"):
        out["model"]["insert"]["args"] = copy.deepcopy(dict(ins.get("args") or {}))
    return out


def _fit_and_check(cfg: dict, declared: list[int] | None,
                   check_modules: bool) -> tuple[list[tuple[str, str]], dict | None]:
    """Fill in the blocks per stage and fit the insertion places to them (in ``cfg``); returns
    the problems ``(key, what)`` and the paper's places when they had to move."""
    bb, ins = cfg["model"]["backbone"], cfg["model"]["insert"]
    problems_at: list[tuple[str, str]] = []
    layers_now = _layers(bb)
    if layers_now is None:
        problems_at.append(("model.backbone.depth", f"depth {bb.get('depth')!r} unknown and no layers given "
                            f"(depths: {', '.join(map(str, DEPTHS))})"))
    else:
        bb["layers"] = layers_now
    stages = {k: v for k, v in (ins.get("stages") or {}).items() if v}
    moved = None
    problems_at += S.value_problems(cfg)
    if declared and layers_now and not any(k.startswith(("model.insert.stages", "model.backbone"))
                                           for k, _ in problems_at):
        problems_at += _missing_blocks(stages, declared)
        fitted = fit_places(stages, layers_now)
        if fitted != {k: sorted(set(v)) for k, v in stages.items()}:
            moved = stages  # said in the plan and kept in the config's meta
        ins["stages"] = fitted
    if check_modules and ins.get("module") and not problems_at:
        # Imports the module's file (torch): done when planning a run, not for every report.
        from repro.models.registry import argument_problems

        # One key per argument: the error names the layer that gave that argument.
        problems_at += [(f"model.insert.args.{k}", p) for k, v in (ins.get("args") or {}).items()
                        for p in argument_problems(ins["module"], {k: v})]
    return problems_at, moved


def _missing_blocks(stages: dict[str, list[int]], declared: list[int]) -> list[tuple[str, str]]:
    """Block indices the spec's own backbone lacks (the profile may shrink it; see fit_places)."""
    out = []
    for i, name in enumerate(STAGES):
        bad = [b for b in stages.get(name, []) if b >= declared[i]]
        if bad:
            out.append((f"model.insert.stages.{name}", f"block {bad[0]} does not exist: {name} of the spec's "
                        f"backbone has {declared[i]} blocks (0-{declared[i] - 1})"))
    return out


_DIGESTS: dict[tuple, str] = {}


def weights_digest(path: str | None) -> str | None:
    """sha256 of a ``model.weights`` file (None when unset or absent: loading it names the
    problem), computed once per (path, size, mtime) in a process."""
    if not path or not Path(path).is_file():
        return None
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256(Path(path))
    return _DIGESTS[key]


def complete(cfg: dict) -> dict:
    """``cfg`` over :data:`schema.DEFAULTS`, with the derived eval defaults filled in."""
    cfg = deep_merge(S.DEFAULTS, cfg)
    for key, src in S.DERIVED.items():
        sect, name = key.split(".")
        if cfg[sect].get(name) is None:
            cfg[sect][name] = S.get_key_or(cfg, src)
    return cfg


def _origin(key: str, layers: list[tuple[str, dict]], spec_path: Path) -> str:
    """The last config layer that sets ``key`` (the spec when only a default does)."""
    for name, layer in reversed(layers):
        node = layer
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        else:
            return name
    return str(spec_path)


def fitted_note(cfg: dict) -> str | None:
    """'layer3 [1, 3, 5] -> [0, 1]' when resolve moved places to fit a smaller backbone."""
    src = cfg["meta"].get("places_fitted_from")
    if not src:
        return None
    to = cfg["model"]["insert"]["stages"]
    return "; ".join(f"{k} {v} -> {to.get(k, [])}" for k, v in src.items()
                     if sorted(set(v)) != to.get(k, []))


def config_hash(cfg: dict) -> str:
    """Stable hash of a resolved config: a result is reused only for the same hash. Keys that say
    how a run is carried out rather than what it computes (``hashed=False`` in
    :mod:`repro.config.keys`) are left out, also where a config holds another (a retrieval row's
    ``classifier``)."""
    return hashlib.sha256(json.dumps(hashed_part(cfg), sort_keys=True).encode()).hexdigest()[:16]


def hashed_part(cfg: Any) -> Any:
    """A copy of ``cfg`` without its unhashed keys (those of :data:`S.UNHASHED` always, those of
    :data:`S.UNHASHED_AT_DEFAULT` at their default), looked up under every mapping it holds."""
    if not isinstance(cfg, dict):
        return cfg
    out = {k: hashed_part(v) for k, v in cfg.items()}
    for path in (*S.UNHASHED, *S.UNHASHED_AT_DEFAULT):
        *parent, leaf = path
        node = out
        for k in parent:
            node = node.get(k) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            continue
        if tuple(path) not in S.UNHASHED_AT_DEFAULT or node[leaf] == S.UNHASHED_AT_DEFAULT[tuple(path)]:
            node.pop(leaf)
    return out


def ensemble_hash(members: dict[str, str], member_eval: dict | None = None) -> str:
    """Spec hash of an ensemble row: a function of its members, their spec hashes and the test
    protocol it gives them (``member_eval``) only."""
    return config_hash({"ensemble": members, **({"member_eval": member_eval} if member_eval else {})})


def seed_override(seed: int | None, overrides: dict | None = None) -> dict:
    """``overrides`` with ``train.seed`` set for one seed of a row (None: the config's own)."""
    over = dict(overrides or {})
    return over if seed is None else deep_merge(over, {"train": {"seed": seed}})
