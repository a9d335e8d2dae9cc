"""What one ``run_all.py`` call does once its flags are checked: cost, runs, or reports only.

Every table is planned (and so validated) before the first run starts; reports are rebuilt from
the results that match each row's current config, and the number of others is said.
"""
from __future__ import annotations

from dataclasses import replace

from repro.engine.world import env_world, say
from repro.errors import TrainingError
from repro.report.build import build_report
from repro.report.index import write_index
from repro.report.probe import write_probe_report
from repro.results.store import short_path
from repro.run.plan import Options, plan_table
from repro.run.undecided import undecided_rows
from repro.run.unit import Unit


def run_command(tables: list[str], opts: Options, cost: bool = False, report_only: bool = False,
                probe: bool = False, all_tables: bool = False, fidelity: bool = False,
                eval_only: bool = False, extract: bool = False, undecided_seeds: int | None = None) -> int:
    """Do what the flags ask for ``tables``, then write their reports (rank 0). Modes that train
    nothing (``--fidelity``, ``--report-only``) import no torch."""
    if fidelity:
        from repro.report.fidelity import print_fidelity

        for t in tables:
            print_fidelity(t, opts.overrides)
        return 0
    failures: list[str] = []
    if cost:
        from repro.run.cost import run_cost

        for t in tables:
            run_cost(t, opts.overrides, opts.set_args, opts.dirs.results, say, opts.rows)
    elif eval_only:
        _evaluate_checkpoints(tables, opts)
    elif extract:
        from repro.run.schedule import extract_features

        extract_features([plan_table(t, opts) for t in tables], opts)
    elif undecided_seeds:
        failures = _run_undecided(tables, opts, undecided_seeds)
    elif not report_only:
        from repro.run.schedule import run_plans

        plans = [plan_table(t, opts) for t in tables]  # all checked before anything runs
        failures = run_plans(plans, opts)
    if env_world().is_main:
        _write_reports(tables, opts, report_only, probe or (report_only and all_tables))
    if failures:
        raise TrainingError(f"{len(failures)} run(s) failed (the others finished and are reported):\n  "
                            + "\n  ".join(failures))
    return 0


def _evaluate_checkpoints(tables: list[str], opts: Options) -> None:
    """``--eval-only --weights``: one test per row (a checkpoint has no seeds)."""
    from repro.run.weights import evaluate_checkpoint

    for p in (plan_table(t, opts) for t in tables):
        for row in p.rows:
            evaluate_checkpoint(Unit(str(p.spec.path), row, p.profile, None, opts.overrides, opts.set_args),
                                opts.dirs, opts.progress, say)


def _write_reports(tables: list[str], opts: Options, report_only: bool, probe_report: bool) -> None:
    skipped = 0
    for t in tables:
        built = build_report(t, opts.dirs.results, opts.reports)
        skipped += built.skipped
        for p in built.paths:
            say(f"[{t}] wrote {short_path(p)}")
        for folder in built.variants:
            say(f"[{t}] your variant's results: {short_path(folder)}/ (summarised in {short_path(built.paths[0])}, "
                "section 'Your variants')")
        if built.skipped:
            say(f"[{t}] {_not_used(built.skipped, bool(opts.set_args))}")
    if report_only:
        say(f"--report-only: {skipped} result(s) skipped as not matching the current spec")
    if probe_report:
        say(f"wrote {short_path(write_probe_report(opts.dirs.results, opts.reports))}")
    say(f"wrote {short_path(write_index(opts.dirs.results, opts.reports))}")


def _not_used(n: int, set_given: bool) -> str:
    """Why a report leaves results out, in the user's words when their own --set made them."""
    if set_given:
        return (f"{n} result(s) of other configs, your --set runs among them, are kept under "
                "variants/<config hash>/ beside the row's own results. The report compares the paper "
                "with the spec's own config: your variants get a section of their own ('Your "
                "variants'), never averaged into the rows they replaced")
    return (f"{n} result(s) not used: made by another config than the row's current one (listed under "
            "'Results not used' in the report)")


def _run_undecided(tables: list[str], opts: Options, n: int) -> list[str]:
    """Seeds 0..n-1 for the rows of every claim that cannot tell on the current results."""
    from repro.run.schedule import run_plans

    targets = undecided_rows(tables, opts.dirs.results)
    if not targets:
        say("--undecided-seeds: no claim is undecided on the synthetic profile; nothing to run")
        return []
    for t, rows in targets.items():
        say(f"[{t}] undecided claims rest on {', '.join(rows)}: seeds 0..{n - 1}")
    seeds = tuple(range(n))
    plans = [plan_table(t, replace(opts, profile="synthetic", rows=tuple(rows), seeds=seeds))
             for t, rows in targets.items()]
    return run_plans(plans, opts)
