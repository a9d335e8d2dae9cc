"""Run the units of planned tables, one by one or side by side, then their ensemble rows.

Side by side (``--jobs`` > 1) every table's runs share one :class:`~repro.run.pool.Pool`, and a
run whose config and seed another table already has is trained once and copied. A failed run
does not stop the others: finished results stay, and each table's report is rebuilt as its runs
finish, so a long background run shows rows as they complete.
"""
from __future__ import annotations

import json
from concurrent.futures import as_completed

from tqdm import tqdm

from repro.config.loader import load_spec
from repro.engine import distributed as D, preempt
from repro.engine.world import say
from repro.errors import Preempted, TrainingError, UsageError, WeightsError
from repro.progress import progress_bar
from repro.report.build import build_report
from repro.run.datasets import prepare_data
from repro.run.ensemble import run_ensemble
from repro.run.plan import Options, Plan
from repro.run.pool import Pool, default_jobs
from repro.run.retrieval import classifier_units, run_retrieval, summary_line as retrieval_line
from repro.run.train import run_unit
from repro.run.unit import finished, run_hash, summary_line


def run_plans(plans: list[Plan], opts: Options, retrieval: bool = True) -> list[str]:
    """Run every unit, ensemble and (``retrieval``) retrieval row of ``plans``; returns the
    failures as messages. Classifiers that retrieval rows need are trained with the units."""
    W = D.world()
    for p in plans:
        seed_txt = f"; seeds: {', '.join(map(str, p.seeds))}" if p.seeds != [None] else ""
        say(f"[{p.spec.key}] profile: {p.profile} ({p.why}); rows: {', '.join(p.rows + p.ensembles + p.retrievals)}"
            f"{seed_txt}", flush=True)
        for note, rows in p.notes.items():
            say(f"[{p.spec.key}] places fitted to the {p.profile} backbone ({', '.join(rows)}): {note}", flush=True)
    units = []
    extra = _classifiers(plans, opts, all_rows=not retrieval)
    for p in plans:  # finished units are said here, so that no data is made and no worker started for them
        for u in p.units + extra.pop(p.spec.key, []):
            if finished(u, opts.dirs, opts.force):
                say(f"[{p.spec.key}] {u.key}: result exists for its current config, skipped (--force to re-run)",
                    flush=True)
            else:
                units.append((p, u))
    jobs = opts.jobs
    if jobs is None:
        jobs = default_jobs(units[0][1].config()[1]["train"]["threads"]) if units and not W.enabled else 1
    if W.enabled and jobs > 1:
        raise UsageError("--jobs > 1 runs rows in separate processes; under torchrun use --jobs 1")
    progress = opts.progress and W.is_main
    failures = (_parallel(units, opts, jobs, progress) if jobs > 1 and len(units) > 1
                else _sequential(units, opts, progress))
    for p in plans:
        if p.ensembles:
            D.barrier()  # members' scores are written by rank 0
            for row_id in p.ensembles:
                for s in p.seeds:
                    run_ensemble(p.spec, row_id, p.profile, s, opts.overrides, opts.set_args, opts.dirs,
                                 opts.force, say, progress)
            rebuild(p.spec, opts)
    for p in plans:
        if p.retrievals and retrieval:
            failures += _retrievals(p, opts, progress)
    return failures


def extract_features(plans: list[Plan], opts: Options) -> None:
    """``--extract-features``: the retrieval rows' classifiers (trained where needed), then their
    clip features in the cache; no retrieval network is trained."""
    with_rows = [p for p in plans if p.retrievals]
    if not with_rows:
        raise UsageError(f"--extract-features: {', '.join(p.spec.key for p in plans)} has no retrieval row "
                         "(rows with features:); the retrieval tables are ssa_table7 and ssa_table8")
    for p in with_rows:
        p.units, p.ensembles, p.rows = [], [], []
    failures = run_plans(with_rows, opts, retrieval=False)  # every row's classifier, done or not
    if failures:
        raise TrainingError(f"{len(failures)} classifier run(s) failed:\n  " + "\n  ".join(failures))
    for p in with_rows:
        for row_id in p.retrievals:
            for s in p.seeds:
                done = run_retrieval(p.spec, row_id, p.profile, s, opts.overrides, opts.set_args, opts.dirs,
                                     opts.force, say, opts.progress, extract_only=True)
                say(f"[{p.spec.key}] {row_id}{'' if s is None else f'.seed{s}'}: features in "
                    + ", ".join(f"{k}: {v}" for k, v in done["features"].items()), flush=True)


def _classifiers(plans: list[Plan], opts: Options, all_rows: bool = False) -> dict[str, list]:
    """Classifier units of retrieval rows that must be trained first, by the plan whose units
    they join (their own table's where it is planned, else the retrieval table's)."""
    planned = {(str(u.spec), u.row, u.seed): p for p in plans for u in p.units}
    out: dict[str, list] = {}
    for u in classifier_units([p for p in plans if p.retrievals], opts, say, all_rows):
        own = planned.get((u.spec, u.row, u.seed))
        if own is not None and not u.retrain:
            continue  # trained anyway as a unit of its own table
        key = next(p.spec.key for p in plans if p.retrievals) if own is None else own.spec.key
        if own is not None:  # the planned unit would be skipped (result, no checkpoint): retrain it
            own.units = [v for v in own.units if (str(v.spec), v.row, v.seed) != (u.spec, u.row, u.seed)]
        out.setdefault(key, []).append(u)
    return out


def _retrievals(plan: Plan, opts: Options, progress: bool) -> list[str]:
    """Every retrieval row x seed of ``plan``, one after the other, after the classifiers."""
    failures = []
    for row_id in plan.retrievals:
        for s in plan.seeds:
            try:
                done = run_retrieval(plan.spec, row_id, plan.profile, s, opts.overrides, opts.set_args,
                                     opts.dirs, opts.force, say, progress)
            except (TrainingError, WeightsError) as e:
                failures.append(f"[{plan.spec.key}] {row_id} seed {s}: {e}")
                say(f"[{plan.spec.key}] {row_id} seed {s}: FAILED: {e}", flush=True)
                continue
            if done["status"] == "trained":
                say(retrieval_line(plan.spec.key, done["result"], done["path"]), flush=True)
                rebuild(plan.spec, opts)
    return failures


def _sequential(units: list, opts: Options, progress: bool) -> list[str]:
    failures = []
    for i, (plan, unit) in enumerate(units, 1):
        table, pos = _table_of(plan, unit), f"{i}/{len(units)} "
        if preempt.requested():  # the warning came during an evaluation: start nothing new
            raise Preempted(f"stopped on {preempt.signal_name()} before [{table}] {unit.key}; every finished "
                            "row is saved. Run the same command to go on")
        try:
            done = run_unit(unit, opts.dirs, opts.force, progress, say=say, position=pos)
        except TrainingError as e:
            failures.append(f"[{table}] {unit.key}: {e}")
            say(f"[{table}] {pos}{unit.key}: FAILED: {e}", flush=True)
            continue
        if done["status"] == "trained":
            say(summary_line(table, pos + unit.key, done["result"], done["path"]), flush=True)
        if done["status"] in ("trained", "reused"):
            rebuild(plan.spec, opts)
    return failures


def _parallel(units: list, opts: Options, jobs: int, progress: bool) -> list[str]:
    """``jobs`` worker processes; one training per distinct (config, seed), copies for the rest.
    The cluster's warning (SIGUSR1) is passed on to the workers, which stop at step checkpoints."""
    dirs = opts.dirs
    configs = [u.config()[1] for _, u in units]
    # Generate missing data here, once, with its progress bar; workers then only read it.
    datas = {}
    for cfg in configs:
        datas.setdefault(json.dumps(cfg["data"], sort_keys=True), cfg)
    for cfg in datas.values():
        prepare_data(cfg, dirs, progress)
    groups: dict[str, list] = {}
    for (plan, u), cfg in zip(units, configs):
        groups.setdefault(run_hash(cfg), []).append((plan, u))
    say(f"{len(units)} runs ({len(groups)} distinct configs x seeds), {jobs} at a time (--jobs); "
        "each result is written as it finishes", flush=True)
    bar = progress_bar(total=len(units), desc="runs", unit="run", enabled=progress, dynamic_ncols=True)
    emit = tqdm.write if progress else (lambda m: print(m, flush=True))
    failures: list[str] = []
    stopped: list[str] = []
    pool = Pool(jobs)
    try:
        futures = {pool.submit(group[0][1], dirs, opts.force): group for group in groups.values()}
        with preempt.listening(pool.forward):
            for fut in as_completed(futures):
                _collect(futures[fut], fut.result(), opts, bar, emit, failures, stopped)
        bar.close()
    except BaseException:
        pool.close(cancel=True)
        raise
    pool.close()
    if stopped:
        raise Preempted(f"stopped on {preempt.signal_name()}: {len(stopped)} run(s) wrote a step checkpoint or did "
                        f"not start ({', '.join(stopped)}); every finished run is saved. Run the same command "
                        "to resume them")
    return failures


def _collect(group: list, done: dict, opts: Options, bar, emit, failures: list[str], stopped: list[str]) -> None:
    """One finished pool run: say it, copy it to the twins that share its config, rebuild reports."""
    dirs = opts.dirs
    (plan, u) = group[0]
    table = _table_of(plan, u)
    bar.update(1)
    if done["status"] == "preempted":
        stopped.extend(f"{_table_of(p, t)}/{t.key}" for p, t in group)
        bar.update(len(group) - 1)
        return
    if done["status"] == "failed":
        failures.append(f"[{table}] {u.key}: {done['error']}")
        emit(f"[{table}] {u.key}: FAILED: {done['error']}")
        for twin_plan, twin in group[1:]:
            failures.append(f"[{twin_plan.spec.key}] {twin.key}: not run (same config as the "
                            f"failed {table}/{u.key})")
            bar.update(1)
        return
    emit(summary_line(table, u.key, done["result"], done["path"]) if done["status"] == "trained"
         else f"[{table}] {u.key}: same config and seed as "
              f"{done['result']['provenance']['reused_from']}: result copied" if done["status"] == "reused"
         else f"[{table}] {u.key}: result exists, skipped (--force to re-run)")
    touched = {table: plan.spec}
    for twin_plan, twin in group[1:]:
        # The same training for another table's row: copy the result just written.
        res = run_unit(twin, dirs, opts.force, False, say=lambda *a, **k: None, copy_twins=True)
        if res["status"] == "reused":
            emit(f"[{twin_plan.spec.key}] {twin.key}: same config and seed as {table}/{u.key}: "
                 "result copied")
        touched[twin_plan.spec.key] = twin_plan.spec
        bar.update(1)
    for spec in touched.values():
        rebuild(spec, opts)


def _table_of(plan: Plan, unit) -> str:
    """The table a unit belongs to: its plan's, or for a retrieval row's classifier its own."""
    if unit.spec == str(plan.spec.path):
        return plan.spec.key

    return load_spec(unit.spec).key


def rebuild(spec, opts: Options) -> None:
    """Regenerate the table's report after a finished run (cheap: no training)."""
    build_report(spec, opts.dirs.results, opts.reports)
