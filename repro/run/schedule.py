"""Run the units of planned tables, one by one or side by side, then their ensemble rows.

Side by side (``--jobs`` > 1) every table's runs share one :class:`~repro.run.pool.Pool`, and a
run whose config and seed another table already has is trained once and copied. A failed run
does not stop the others: finished results stay, and each table's report is rebuilt as its runs
finish, so a long background run shows rows as they complete.
"""
from __future__ import annotations

import json

from repro.errors import TrainingError
from repro.run.plan import Options, Plan
from repro.run.unit import finished, run_hash, run_unit, summary_line


def say(*a, **kw) -> None:
    """print on rank 0 only: N processes would print every line N times."""
    from repro.engine.distributed import world

    if world().is_main:
        print(*a, **kw)


def run_plans(plans: list[Plan], opts: Options) -> list[str]:
    """Run every unit and ensemble of ``plans``; returns the failures as messages."""
    from repro.engine import distributed as D
    from repro.errors import UsageError
    from repro.run.ensemble import run_ensemble
    from repro.run.pool import default_jobs

    W = D.world()
    for p in plans:
        seed_txt = f"; seeds: {', '.join(map(str, p.seeds))}" if p.seeds != [None] else ""
        say(f"[{p.spec.key}] profile: {p.profile} ({p.why}); rows: {', '.join(p.rows + p.ensembles)}"
            f"{seed_txt}", flush=True)
        for note, rows in p.notes.items():
            say(f"[{p.spec.key}] places fitted to the {p.profile} backbone ({', '.join(rows)}): {note}", flush=True)
    units = []
    for p in plans:  # finished units are said here, so that no data is made and no worker started for them
        for u in p.units:
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
    return failures


def _sequential(units: list, opts: Options, progress: bool) -> list[str]:
    failures = []
    for i, (plan, unit) in enumerate(units, 1):
        table, pos = plan.spec.key, f"{i}/{len(units)} "
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
    """``jobs`` worker processes; one training per distinct (config, seed), copies for the rest."""
    from concurrent.futures import as_completed

    from tqdm import tqdm

    from repro.run.pool import Pool
    from repro.run.unit import prepare_data

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
    bar = tqdm(total=len(units), desc="runs", unit="run", disable=not progress, dynamic_ncols=True)
    emit = tqdm.write if progress else (lambda m: print(m, flush=True))
    failures: list[str] = []
    pool = Pool(jobs)
    try:
        futures = {pool.submit(group[0][1], dirs, opts.force): group for group in groups.values()}
        for fut in as_completed(futures):
            group = futures[fut]
            (plan, u), done = group[0], fut.result()
            table = plan.spec.key
            bar.update(1)
            if done["status"] == "failed":
                failures.append(f"[{table}] {u.key}: {done['error']}")
                emit(f"[{table}] {u.key}: FAILED: {done['error']}")
                for twin_plan, twin in group[1:]:
                    failures.append(f"[{twin_plan.spec.key}] {twin.key}: not run (same config as the "
                                    f"failed {table}/{u.key})")
                    bar.update(1)
                continue
            emit(summary_line(table, u.key, done["result"], done["path"]) if done["status"] == "trained"
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
        bar.close()
    except BaseException:
        pool.close(cancel=True)
        raise
    pool.close()
    return failures


def rebuild(spec, opts: Options) -> None:
    """Regenerate the table's report after a finished run (cheap: no training)."""
    from repro.report.build import build_report

    build_report(spec, opts.dirs.results, opts.reports)
