"""From command-line choices to a plan: which tables, profile, rows, seeds and folders.

Everything a run could get wrong from its input is checked here, before anything trains:
flags (seeds, jobs, data roots, output folders, ``--set``) and every unit's resolved config
(value ranges, block indices, module arguments). Each problem is one line naming the flag, or
the file and key, and what to do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from repro.config.loader import fitted_note, load_profiles, load_spec, parse_set as parse, profile_seeds
from repro.data.registry import dataset_names, dataset_root
from repro.errors import SpecError, UsageError
from repro.retrieval.config import resolve_retrieval
from repro.run.unit import Dirs, Unit


@dataclass(frozen=True)
class Options:
    """What the command line asked for, parsed and checked (see :func:`options`)."""

    profile: str = "auto"
    rows: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None
    jobs: int | None = None  # None: auto
    force: bool = False
    set_args: tuple[str, ...] = ()
    overrides: dict = field(default_factory=dict)
    dirs: Dirs | None = None
    reports: Path | None = None
    progress: bool = True


def parse_seeds(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    parts = [s.strip() for s in text.split(",")]
    try:
        seeds = tuple(int(s) for s in parts if s)
    except ValueError:
        raise UsageError(f"--seeds {text!r}: expected comma-separated integers >= 0, e.g. 0,1,2") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text!r}: expected one or more distinct integers >= 0, e.g. 0,1,2")
    return seeds


def parse_jobs(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        jobs = int(text)
    except ValueError:
        jobs = 0
    if jobs < 1:
        raise UsageError(f"--jobs {text!r}: expected auto or a positive integer (runs at once)")
    return jobs


def parse_data_roots(items: list[str]) -> dict[str, str]:
    known = dataset_names()
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--data-root {item!r}: expected NAME=PATH, e.g. ssv2=/data/ssv2")
        if name not in known:
            raise UsageError(f"--data-root {item!r}: unknown dataset {name!r} (known: {', '.join(known)})")
        if not Path(path).is_dir():
            raise UsageError(f"--data-root {item!r}: {path} is not a folder; give the dataset's root folder")
        out[name] = path
    return out


def check_dir(flag: str, path: Path | None, must_exist: bool = False) -> None:
    """An output folder must be a folder (or creatable); ``must_exist`` for folders only read."""
    if path is None:
        return
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag} {p}: is a file, not a folder; give a folder")
    if must_exist and not p.is_dir():
        raise UsageError(f"{flag} {p}: no such folder; check the path (nothing was written)")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{flag} {p}: {parent} is a file, not a folder")
            break


def parse_set(items: list[str]) -> dict:
    try:
        return parse(items)
    except SpecError as e:
        raise UsageError(f"--set {e.problems[0]}") from None


def choose_profile(requested: str, dataset: str, roots: dict[str, str]) -> tuple[str, str]:
    if requested != "auto":
        return requested, "requested"
    if dataset_root(dataset, roots) is not None:
        return "paper", f"{dataset} root is configured"
    return "synthetic", f"no {dataset} root configured (embedded default)"


@dataclass
class Plan:
    """What one table will run: its units (row x seed) and ensemble rows, under which profile."""

    spec: object
    profile: str
    why: str
    rows: list[str]
    ensembles: list[str]
    seeds: list
    retrievals: list[str] = field(default_factory=list)  # retrieval rows, run after the units
    units: list[Unit] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # places moved to fit the backbone -> rows


def plan_table(table: str, opts: Options) -> Plan:
    """The units of one table; every unit's config is resolved and checked here."""
    spec = load_spec(table)
    profile, why = choose_profile(opts.profile, spec.dataset, opts.dirs.data_roots)
    if profile not in load_profiles():
        raise UsageError(f"--profile {profile!r}: unknown (known: auto, {', '.join(load_profiles())})")
    # The synthetic profile runs the table's probe tier (all built rows unless the spec says).
    tier = spec.probe_rows if profile == "synthetic" else [r.id for r in spec.rows if r.runnable]
    if opts.rows is not None:
        known = [r.id for r in spec.rows if r.runnable]
        unknown = [r for r in opts.rows if r not in known]
        if unknown or not opts.rows:
            raise UsageError(f"--rows: {spec.path} has no row(s) {', '.join(unknown) or '(empty)'}; "
                             f"its runnable rows are {', '.join(known)}")
        tier = list(opts.rows)
    rows = [r for r in tier if spec.row(r).built]
    ensembles = [r for r in tier if spec.row(r).is_ensemble]
    seeds = list(opts.seeds) if opts.seeds else (profile_seeds(profile) or [None])
    if seeds != [None] and "seed" in (opts.overrides.get("train") or {}):
        raise UsageError(f"--set train.seed: each run takes its seed from --seeds (or the {profile} "
                         f"profile's seeds {', '.join(map(str, seeds))}); give the seeds with --seeds")
    retrievals = [r for r in tier if spec.row(r).is_retrieval]
    plan = Plan(spec, profile, why, rows, ensembles, seeds, retrievals)
    plan.units = [Unit(str(spec.path), r, profile, s, opts.overrides, opts.set_args) for r in rows for s in seeds]
    for r in rows:  # validation before anything runs (module arguments need the module's file)
        _, cfg = Unit(str(spec.path), r, profile, seeds[0], opts.overrides).config(check_modules=True)
        note = fitted_note(cfg)
        if note:
            plan.notes.setdefault(note, []).append(r)
    for r in retrievals:  # the retrieval settings, word vectors and classifier config, checked now
        from repro.run.retrieval import check_word_vectors

        check_word_vectors(spec, r, resolve_retrieval(spec, r, profile, seeds[0], opts.overrides, check_modules=True))
    return plan
