"""``run_all.py``: run the rows of paper tables under a profile and write their reports.

Under ``torchrun --nproc_per_node=N run_all.py ...`` every process runs the same rows
data-parallel (repro/engine/distributed.py); rank 0 alone prints, writes results and reports.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from repro.results.store import REPO, RESULTS_DIR, git_commit, result_path, write_json_atomic
from repro.spec.schema import SpecError

REPORTS_DIR = REPO / "reports"
RUNS_DIR = REPO / "runs"


class UsageError(RuntimeError):
    """Bad command-line input; printed without a traceback."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="run_all.py",
        description="Train and evaluate the rows of paper tables, then write reports that put the "
                    "papers' numbers beside this harness's.")
    p.add_argument("--table", action="append", help="table id (repeatable); see --list")
    p.add_argument("--list", action="store_true", help="list the tables and their rows")
    p.add_argument("--profile", default="auto", help="paper | smoke | synthetic | auto (default: paper "
                   "if the table's dataset is configured, else synthetic)")
    p.add_argument("--rows", help="comma-separated row ids to run (default: all; the synthetic "
                   "profile runs the table's probe tier)")
    p.add_argument("--probe", action="store_true", help="run the synthetic probe tier of every table "
                   "that has one (profile synthetic, every seed), then reports/probe.md")
    p.add_argument("--seeds", help="comma-separated seeds, each row runs once per seed (default: the "
                   "profile's seeds; synthetic: 0,1,2)")
    p.add_argument("--jobs", default="auto", help="runs at once, each in its own process (default "
                   "auto: on CPU, cores / train.threads; 1 on GPU or without train.threads)")
    p.add_argument("--force", action="store_true", help="re-run rows whose result already exists")
    p.add_argument("--report-only", action="store_true", help="only regenerate reports from results/")
    p.add_argument("--cost", action="store_true", help="compute GFLOPs and parameters of every built "
                   "row's paper-profile model at the paper's input (no data, no training)")
    p.add_argument("--data-root", action="append", default=[], metavar="NAME=PATH",
                   help="dataset root, e.g. ssv2=/data/ssv2 (or set REPRO_SSV2_ROOT)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a resolved config value, e.g. train.epochs=2 (changes the spec hash)")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--reports-dir", type=Path, default=REPORTS_DIR)
    p.add_argument("--runs-dir", type=Path, default=RUNS_DIR, help="checkpoints (not committed)")
    p.add_argument("--cache-dir", type=Path, default=None, help="generated datasets (default .cache/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def _data_roots(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--data-root {item!r}: expected NAME=PATH, e.g. ssv2=/data/ssv2")
        k, v = item.split("=", 1)
        out[k] = v
    return out


def choose_profile(requested: str, dataset: str, roots: dict[str, str]) -> tuple[str, str]:
    from repro.data.registry import dataset_root

    if requested != "auto":
        return requested, "requested"
    if dataset_root(dataset, roots) is not None:
        return "paper", f"{dataset} root is configured"
    return "synthetic", f"no {dataset} root configured (embedded default)"


def _say(*a, **kw) -> None:
    """print on rank 0 only: N processes would print every line N times."""
    from repro.engine.distributed import world

    if world().is_main:
        print(*a, **kw)


def _seeds(args: argparse.Namespace, profile: str) -> list[int | None]:
    """--seeds, else the profile's ``seeds:``, else one run with the config's own seed."""
    from repro.spec.loader import profile_seeds

    if args.seeds:
        try:
            return [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            raise UsageError(f"--seeds {args.seeds!r}: expected comma-separated integers, e.g. 0,1,2") from None
    return profile_seeds(profile) or [None]


def _dirs(args: argparse.Namespace):
    from repro.runner import Dirs

    return Dirs(args.results_dir, args.runs_dir, args.cache_dir, _data_roots(args.data_root),
                tuple(args.set))


@dataclass
class Plan:
    """What one table will run: its units (row x seed) and ensemble rows, under which profile."""

    spec: object
    profile: str
    why: str
    rows: list[str]
    ensembles: list[str]
    seeds: list
    overrides: dict
    units: list = field(default_factory=list)


def plan_table(table: str, args: argparse.Namespace) -> Plan:
    from repro.runner import Unit
    from repro.spec.loader import load_spec, parse_set

    spec = load_spec(table)
    profile, why = choose_profile(args.profile, spec.dataset, _data_roots(args.data_root))
    overrides = parse_set(args.set)
    # The synthetic profile runs the table's probe tier (all built rows unless the spec says).
    tier = spec.probe_rows if profile == "synthetic" else [r.id for r in spec.rows if r.built or r.is_ensemble]
    rows = [r for r in tier if spec.row(r).built]
    ensembles = [r for r in tier if spec.row(r).is_ensemble]
    if args.rows:
        wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
        known = [r.id for r in spec.rows if r.built or r.is_ensemble]
        unknown = [r for r in wanted if r not in known]
        if unknown:
            raise UsageError(f"{spec.path}: no row(s) {', '.join(unknown)}; rows are {', '.join(known)}")
        rows = [r for r in wanted if spec.row(r).built]
        ensembles = [r for r in wanted if spec.row(r).is_ensemble]
    seeds = _seeds(args, profile)
    plan = Plan(spec, profile, why, rows, ensembles, seeds, overrides)
    plan.units = [Unit(str(spec.path), r, profile, s, overrides) for r in rows for s in seeds]
    return plan


def run_tables(tables: list[str], args: argparse.Namespace) -> list[str]:
    """Run the rows (x seeds) of several tables; returns the failures as messages.

    Side by side (``--jobs`` > 1) every table's runs share one pool, and a run whose config and
    seed another table already has is trained once and copied. A failed run does not stop the
    others: finished results stay, and each table's report is rebuilt as its runs finish, so a
    long background run shows rows as they complete.
    """
    from repro.engine import distributed as D
    from repro.runner import default_jobs

    plans = [plan_table(t, args) for t in tables]
    W = D.world()
    for p in plans:
        seed_txt = f"; seeds: {', '.join(map(str, p.seeds))}" if p.seeds != [None] else ""
        _say(f"[{p.spec.id}] profile: {p.profile} ({p.why}); rows: {', '.join(p.rows + p.ensembles)}"
             f"{seed_txt}", flush=True)
    units = [(p, u) for p in plans for u in p.units]
    jobs = args.jobs
    if jobs == "auto":
        jobs = default_jobs(units[0][1].config()[1]["train"].get("threads")) if units and not W.enabled else 1
    jobs = int(jobs)
    if W.enabled and jobs > 1:
        raise UsageError("--jobs > 1 runs rows in separate processes; under torchrun use --jobs 1")
    progress = not args.no_progress and W.is_main
    if jobs > 1 and len(units) > 1:
        failures = _run_parallel(units, args, jobs, progress)
    else:
        failures = _run_sequential(units, args, progress)
    for p in plans:
        if p.ensembles:
            D.barrier()  # members' scores are written by rank 0
            for row_id in p.ensembles:
                for s in p.seeds:
                    run_ensemble(p.spec, p.spec.id, row_id, p.profile, p.overrides, args, s)
    return failures


def _run_sequential(units: list, args: argparse.Namespace, progress: bool) -> list[str]:
    from repro.errors import TrainingError
    from repro.runner import run_unit, summary_line

    failures = []
    for i, (plan, unit) in enumerate(units, 1):
        table, pos = plan.spec.id, f"{i}/{len(units)} "
        try:
            done = run_unit(unit, _dirs(args), args.force, progress, say=_say, position=pos)
        except TrainingError as e:
            failures.append(f"[{table}] {unit.key}: {e}")
            _say(f"[{table}] {pos}{unit.key}: FAILED: {e}", flush=True)
            continue
        if done["status"] == "trained":
            _say(summary_line(table, pos + unit.key, done["result"], done["path"]), flush=True)
        if done["status"] in ("trained", "reused"):
            _rebuild(plan.spec, args)
    return failures


def _run_parallel(units: list, args: argparse.Namespace, jobs: int, progress: bool) -> list[str]:
    """``jobs`` worker processes; one training per distinct (config, seed), copies for the rest."""
    from concurrent.futures import as_completed

    from tqdm import tqdm

    from repro.runner import Pool, prepare_data, run_hash, run_unit, summary_line

    dirs = _dirs(args)
    # Generate missing data here, once, with its progress bar; workers then only read it.
    configs = [u.config()[1] for _, u in units]  # loads and validates the spec: once per unit
    datas = {}
    for (_, u), cfg in zip(units, configs):
        datas.setdefault(json.dumps(cfg["data"], sort_keys=True), u)
    for u in datas.values():
        prepare_data(u, dirs, progress)
    groups: dict[str, list] = {}
    for (plan, u), cfg in zip(units, configs):
        groups.setdefault(run_hash(cfg), []).append((plan, u))
    _say(f"{len(units)} runs ({len(groups)} distinct configs x seeds), {jobs} at a time (--jobs); "
         "each result is written as it finishes", flush=True)
    bar = tqdm(total=len(units), desc="runs", unit="run", disable=not progress, dynamic_ncols=True)

    def emit(msg: str) -> None:
        if progress:
            tqdm.write(msg)
        else:
            print(msg, flush=True)

    failures: list[str] = []
    pool = Pool(jobs)
    try:
        futures = {pool.submit(group[0][1], dirs, args.force): group for group in groups.values()}
        for fut in as_completed(futures):
            group = futures[fut]
            (plan, u), done = group[0], fut.result()
            table = plan.spec.id
            bar.update(1)
            if done["status"] == "failed":
                failures.append(f"[{table}] {u.key}: {done['error']}")
                emit(f"[{table}] {u.key}: FAILED: {done['error']}")
                for twin_plan, twin in group[1:]:
                    failures.append(f"[{twin_plan.spec.id}] {twin.key}: not run (same config as the "
                                    f"failed {table}/{u.key})")
                    bar.update(1)
                continue
            emit(summary_line(table, u.key, done["result"], done["path"]) if done["status"] == "trained"
                 else f"[{table}] {u.key}: result exists, skipped (--force to re-run)")
            touched = {table: plan.spec}
            for twin_plan, twin in group[1:]:
                # The same training for another table's row: copy the result just written.
                res = run_unit(twin, dirs, args.force, False, say=lambda *a, **k: None, copy_twins=True)
                if res["status"] == "reused":
                    emit(f"[{twin_plan.spec.id}] {twin.key}: same config and seed as {table}/{u.key}: "
                         "result copied")
                touched[twin_plan.spec.id] = twin_plan.spec
                bar.update(1)
            for spec in touched.values():
                _rebuild(spec, args)
        bar.close()
    except BaseException:
        pool.close(cancel=True)
        raise
    pool.close()
    return failures


def _rebuild(spec, args: argparse.Namespace) -> None:
    """Regenerate the table's report after a finished run (cheap: no training)."""
    from repro.report.build import build_report

    if not _outside_experiments(str(spec.path)):
        build_report(spec.id, args.results_dir, args.reports_dir)


def run_ensemble(spec, table: str, row_id: str, profile: str, overrides: dict,
                 args: argparse.Namespace, seed: int | None = None) -> dict | None:
    """Average the saved scores of an ensemble row's members and write its result like any row's."""
    from repro.engine import distributed as D
    from repro.engine.ensemble import (EnsembleError, average, ensemble_hash, file_hash,
                                       load_scores, save_scores, scores_path)
    from repro.engine.metrics import summarize
    from repro.runner import Unit, up_to_date
    from repro.spec.loader import config_hash

    row = spec.row(row_id)
    members: dict[str, dict] = {}
    hashes: dict[str, str] = {}
    keys: dict[str, str] = {}
    for m in row.ensemble:
        unit = Unit(str(spec.path), m, profile, seed, overrides)
        keys[m] = unit.key
        hashes[m] = config_hash(unit.config()[1])
        sets = "".join(f" --set {x}" for x in args.set)
        seed_arg = f" --seeds {seed}" if seed is not None else ""
        hint = (f"run its member first: run_all.py --table {table} --rows {m} --profile {profile}"
                f"{seed_arg}{sets} --force (the ensemble {row_id!r} of {spec.path} needs it)")
        members[m] = load_scores(scores_path(args.runs_dir, table, profile, keys[m]), m, hashes[m], hint)
    h = ensemble_hash(hashes)
    key = row_id if seed is None else f"{row_id}.seed{seed}"
    out = result_path(args.results_dir, table, profile, key)
    old = up_to_date(out, h, args.force)
    if old:
        _say(f"[{table}] {key}: ensemble result exists for spec hash {h}, skipped (--force to "
             f"re-run)", flush=True)
        return old
    try:
        scores, labels, ids = average(members)
    except EnsembleError as e:
        raise EnsembleError(f"{spec.path}: ensemble row {row_id!r}: {e}") from e
    first = members[row.ensemble[0]]
    metrics = summarize(scores, labels, first.get("info") or {})
    files = {m: scores_path(args.runs_dir, table, profile, keys[m]) for m in row.ensemble}
    member_results = {}
    for m in row.ensemble:
        res_path = result_path(args.results_dir, table, profile, keys[m])
        member_results[m] = {"spec_hash": hashes[m], "scores_file": str(files[m]),
                             "scores_sha256": file_hash(files[m]),
                             "result_sha256": file_hash(res_path) if res_path.is_file() else None}
    distinct = lambda k: "+".join(dict.fromkeys(str(members[m].get(k, "")) for m in row.ensemble))  # noqa: E731
    provenance = {
        "commit": git_commit(), "spec_hash": h, "profile": profile, "dataset": first.get("dataset", ""),
        "split": spec.split, "frames": "+".join(str(members[m].get("frames", "")) for m in row.ensemble),
        "views": distinct("views"), "epochs": distinct("epochs"), "seed": "" if seed is None else seed,
        "device": "cpu", "wall_time_s": 0.0, "val_videos": len(ids), "ensemble": list(row.ensemble),
        "members": member_results, "overrides": args.set, "torch": __import__("torch").__version__,
    }
    scores_file = scores_path(args.runs_dir, table, profile, key)
    provenance["scores_file"] = str(scores_file)
    result = {"table": table, "row": row_id, "seed": seed, "metrics": metrics, "provenance": provenance,
              "config": {"ensemble": list(row.ensemble), "member_spec_hashes": hashes}}
    if D.world().is_main:
        save_scores(scores_file, scores, labels, ids, h, table=table, row=row_id, profile=profile,
                    views=provenance["views"], frames=provenance["frames"],
                    dataset=provenance["dataset"], epochs=provenance["epochs"], info=first.get("info"))
        write_json_atomic(result, out)
    _say(f"[{table}] {key}: ensemble of {', '.join(row.ensemble)}: top1 {metrics['top1']:.1f}, "
         f"top5 {metrics['top5']:.1f} -> {out}", flush=True)
    return result


def run_cost(table: str, args: argparse.Namespace) -> None:
    """Fill the reproduced gflops/params_m of every built row: results/<table>/cost/<row>.json."""
    from repro.cost import cost_of
    from repro.data.registry import num_classes
    from repro.models.build import build_from_config
    from repro.spec.loader import config_hash, load_spec, resolve

    spec = load_spec(table)
    commit = git_commit()
    for row in spec.rows:
        if not row.built:
            continue
        cfg = resolve(spec, row.id, "paper")
        frames, size = cfg["model"].get("frames", 8), cfg["data"].get("crop", 224)
        classes = num_classes(cfg["data"]["dataset"])
        t0 = time.time()
        c = cost_of(lambda: build_from_config(cfg, classes), frames, size)
        prov = {"commit": commit, "spec_hash": config_hash(cfg), "profile": "cost",
                "dataset": f"none ({classes} classes of {cfg['data']['dataset']})", "split": spec.split,
                "frames": frames, "views": "1x1", "epochs": "", "seed": "", "device": "meta",
                "input": f"1x3x{frames}x{size}x{size}", "wall_time_s": round(time.time() - t0, 2),
                "places": " ".join(f"{s}{b}" for s, b in cfg["model"]["insert"]["stages"].items())
                if cfg["model"]["insert"].get("module") else ""}
        out = result_path(args.results_dir, table, "cost", row.id)
        write_json_atomic({"table": table, "row": row.id, "metrics": c, "provenance": prov}, out)
        print(f"[{table}] {row.id}: {c['gflops']:.1f} GFLOPs, {c['params_m']:.2f} M params "
              f"at {prov['input']}", flush=True)


def list_tables() -> None:
    from repro.spec.loader import list_tables as tables, load_spec

    for t in tables():
        spec = load_spec(t)
        print(f"{t:14s} {spec.paper.upper()} {spec.table}: {spec.title}")
        print(f"{'':14s} rows: {', '.join(r.id for r in spec.rows)}")


def _outside_experiments(table: str) -> bool:
    from repro.spec.loader import EXPERIMENTS

    p = Path(table)
    return str(table).endswith(".yaml") and p.resolve().parent != EXPERIMENTS


def main(argv: list[str] | None = None) -> int:
    from repro.data.ssv2 import DatasetError
    from repro.data.video import DecodeError
    from repro.engine.ensemble import EnsembleError
    from repro.errors import TrainingError, WeightsError
    from repro.report.build import build_report
    from repro.report.index import write_index
    from repro.engine import distributed as D
    from repro.report.probe import probe_tables, write_probe_report
    from repro.spec.loader import list_tables as tables

    args = parse_args(argv)
    W = D.init_from_env()
    try:
        if W.enabled and (args.list or args.report_only or args.cost):
            raise UsageError("--list, --report-only and --cost do not train: run them without torchrun")
        if args.list:
            list_tables()
            return 0
        if args.probe and args.table:
            raise UsageError("--probe runs every table of the probe tier; give it without --table "
                             "(or run one table with --table T --profile synthetic)")
        if args.probe:
            if args.profile not in ("auto", "synthetic"):
                raise UsageError(f"--probe is the synthetic tier; --profile {args.profile} does not apply")
            args.profile = "synthetic"
        targets = args.table or (probe_tables() if args.probe else
                                 tables() if args.report_only or args.cost else None)
        if not targets:
            raise UsageError("give --table TABLE (see --list), --probe, or --report-only / --cost "
                             "for all tables")
        failures: list[str] = []
        if args.cost:
            for t in targets:
                run_cost(t, args)
        elif not args.report_only:
            # One call for every table: their runs share one pool of workers (--jobs).
            failures = run_tables(targets, args)
        for t in targets:
            if W.is_main and _outside_experiments(t):
                # build_report reads the spec from experiments/ by id; a spec elsewhere has run
                # and written its results, but has no report.
                print(f"[{t}] spec is outside experiments/: results written, no report built")
            elif W.is_main:
                for p in build_report(t, args.results_dir, args.reports_dir):
                    print(f"[{t}] wrote {p}")
        if W.is_main:
            if args.probe or (args.report_only and not args.table):
                print(f"wrote {write_probe_report(args.results_dir, args.reports_dir)}")
            print(f"wrote {write_index(args.results_dir, args.reports_dir)}")
        if failures:
            raise TrainingError(f"{len(failures)} run(s) failed (the others finished and are "
                                "reported):\n  " + "\n  ".join(failures))
        return 0
    except (SpecError, DatasetError, DecodeError, WeightsError, TrainingError, UsageError,
            EnsembleError) as e:
        rank = f"[rank {W.rank}] " if W.rank else ""
        print(f"{rank}error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished rows are saved, and a re-run resumes from the last checkpoint",
              file=sys.stderr)
        return 130
    finally:
        D.shutdown()
