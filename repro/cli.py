"""``run_all.py``: parse the command line and dispatch; the work is in :mod:`repro.run` and :mod:`repro.report`.

Under ``torchrun --nproc_per_node=N run_all.py ...`` every process runs the same rows
data-parallel (repro/engine/distributed.py); rank 0 alone prints, writes results and reports.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from repro.config.loader import list_tables, probe_tables, table_listing
from repro.engine import preempt
from repro.engine.world import env_world
from repro.errors import DiskFull, Preempted, ReproError, UsageError
from repro.files import disk_full, thread_disk_full, watch_threads
from repro.results.store import REPO, RESULTS_DIR
from repro.run import plan as P
from repro.run.unit import Dirs


class _ArgParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit code 2, as for every bad input
        self.exit(2, f"error: {message} (see run_all.py --help)\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = _ArgParser(prog="run_all.py", description="Train and evaluate the rows of paper tables, then "
                   "write reports that put the papers' numbers beside this harness's.")
    p.add_argument("--table", action="append", help="table id or spec path (repeatable); see --list")
    p.add_argument("--list", action="store_true", help="list the tables and their rows")
    p.add_argument("--profile", default="auto", help="paper | smoke | synthetic | auto (default: paper "
                   "if the table's dataset is configured, else synthetic)")
    p.add_argument("--rows", help="comma-separated row ids (default: all; synthetic: the probe tier)")
    p.add_argument("--probe", action="store_true", help="run the synthetic probe tier of every table "
                   "that has one (profile synthetic, every seed), then reports/probe.md")
    p.add_argument("--undecided-seeds", type=int, metavar="N", help="with --probe (or --table T on the "
                   "synthetic profile): run seeds 0..N-1 of every row that a claim undecided by Welch's "
                   f"test compares, then judge the claims again on all seeds (N is fixed in advance: "
                   "8 is the documented choice)")
    p.add_argument("--seeds", help="comma-separated seeds >= 0, one run per seed (default: the profile's)")
    p.add_argument("--jobs", default="auto", help="runs at once, each in its own process (default "
                   "auto: on CPU, cores / train.threads; 1 on GPU or without train.threads)")
    p.add_argument("--force", action="store_true", help="re-run rows whose result already exists")
    p.add_argument("--report-only", action="store_true", help="only regenerate reports from results/")
    p.add_argument("--cost", action="store_true", help="GFLOPs and parameters of every built row's "
                   "paper-profile model at the paper's input (no data, no training; --set applies)")
    p.add_argument("--fidelity", action="store_true", help="print every built row's recipe beside its "
                   "paper and reference code, with sources and verdicts (no training; --set applies)")
    p.add_argument("--weights", type=Path, metavar="PATH", help="start each row from this published "
                   "checkpoint (TSM, RSA, PySlowFast, mmaction2, torchvision; converted, classifier and "
                   "inserted modules left at their init); same as --set model.weights=PATH")
    p.add_argument("--eval-only", action="store_true", help="with --weights: test the checkpoint with "
                   "each row's test protocol, train nothing (results/<table>/<profile>/checkpoints/)")
    p.add_argument("--extract-features", action="store_true", help="retrieval tables (ssa_table7, "
                   "ssa_table8): train each retrieval row's classifier where needed and extract its clip "
                   "features into the cache (<cache>/features/), without training the retrieval network")
    p.add_argument("--data-root", action="append", default=[], metavar="NAME=PATH",
                   help="dataset root, e.g. ssv2=/data/ssv2 (or set REPRO_SSV2_ROOT)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a resolved config value, e.g. train.epochs=2; such a run is kept "
                        "apart from the row's results (variants/<hash>/) and never averaged in")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--reports-dir", type=Path, default=None, help="where reports go (default: reports/ "
                   "beside the results folder read, so --results-dir X never rewrites the committed reports)")
    p.add_argument("--runs-dir", type=Path, default=REPO / "runs", help="checkpoints (not committed)")
    p.add_argument("--cache-dir", type=Path, default=None, help="generated datasets (default .cache/)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def options(args: argparse.Namespace):
    """Check every flag (one line naming it on failure) and bundle them for the run layer."""
    if args.reports_dir is None:  # the reports of the results read, never another folder's
        args.reports_dir = Path(args.results_dir).parent / "reports"
    for flag, path in (("--results-dir", args.results_dir), ("--reports-dir", args.reports_dir),
                       ("--runs-dir", args.runs_dir), ("--cache-dir", args.cache_dir)):
        P.check_dir(flag, path, must_exist=flag == "--results-dir" and args.report_only)
    rows = tuple(r.strip() for r in args.rows.split(",") if r.strip()) if args.rows is not None else None
    dirs = Dirs(args.results_dir, args.runs_dir, args.cache_dir, P.parse_data_roots(args.data_root))
    profile = "synthetic" if args.probe else args.profile  # the probe tier is the synthetic profile
    if args.eval_only and not args.weights:
        raise UsageError("--eval-only tests a published checkpoint: give it with --weights PATH")
    sets = [*args.set, *([f"model.weights={args.weights.resolve()}"] if args.weights else [])]
    return P.Options(profile, rows, P.parse_seeds(args.seeds), P.parse_jobs(args.jobs), args.force,
                     tuple(sets), P.parse_set(sets), dirs, args.reports_dir, not args.no_progress)


def targets(args: argparse.Namespace) -> list[str]:
    if args.probe and args.table:
        raise UsageError("--probe runs every table of the probe tier; give it without --table "
                         "(or run one table with --table T --profile synthetic)")
    if args.probe and args.profile not in ("auto", "synthetic"):
        raise UsageError(f"--probe is the synthetic tier; --profile {args.profile} does not apply")
    if args.undecided_seeds is not None:
        if args.undecided_seeds < 2:
            raise UsageError(f"--undecided-seeds: {args.undecided_seeds} is too few for a t-test; give at "
                             "least 2 (the documented choice is 8)")
        if args.seeds is not None or args.rows is not None:
            raise UsageError("--undecided-seeds chooses the rows and seeds itself; drop --seeds and --rows")
        if not args.probe and args.profile not in ("auto", "synthetic"):
            raise UsageError(f"--undecided-seeds runs the synthetic profile; --profile {args.profile} does not apply")
    modes = [m for m, on in (("--report-only", args.report_only), ("--cost", args.cost),
                             ("--fidelity", args.fidelity), ("--eval-only", args.eval_only),
                             ("--extract-features", args.extract_features)) if on]
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)}: give one of them")
    if modes and not (args.eval_only or args.extract_features):  # they train nothing: a flag about runs would be ignored
        given = [f for f, on in (("--rows", args.rows is not None and not args.cost),
                                 ("--seeds", args.seeds is not None),
                                 ("--jobs", args.jobs != "auto"), ("--force", args.force),
                                 ("--set", bool(args.set) and args.report_only)) if on]
        if given:
            raise UsageError(f"{', '.join(given)} does not apply to {modes[0]}, which trains nothing; drop it")
    found = args.table or (probe_tables() if args.probe else
                           list_tables() if modes else None)
    if not found:
        raise UsageError("give --table TABLE (see --list), --probe, or --report-only / --cost for all tables")
    return found


class Stopped(KeyboardInterrupt):
    """SIGTERM: unwinds like Ctrl-C, so workers are stopped and temp files removed."""


def _stop() -> None:
    raise Stopped()


# Ctrl-C seen, even if the KeyboardInterrupt it raised was swallowed: one landing in a __del__
# (decord's VideoReader) is printed as "Exception ignored" and the run would go on to exit 0.
_SIGINT_SEEN: list[bool] = []


def _on_sigint(signum, frame) -> None:  # noqa: ARG001
    _SIGINT_SEEN.append(True)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as e:  # argparse has printed its one line (or --help)
        return int(e.code or 0)
    # A module named by class path (model.insert.module=my_blocks:X) is usually beside the user,
    # not installed: import it from the working folder, as `python -m` would.
    if str(Path.cwd()) not in sys.path and "" not in sys.path:
        sys.path.append(str(Path.cwd()))
    W = env_world()
    if W.enabled:  # torch only under torchrun: --list, --help, --fidelity and --report-only run without it
        from repro.engine import distributed as D

        W = D.init_from_env()
    restore = _install_signals()
    try:
        return _dispatch(args, W)
    except (Preempted, ReproError, DiskFull, OSError, KeyboardInterrupt) as e:
        return _exit_code(e, W.rank)
    finally:
        preempt.clear()  # a stop request belongs to this run, not to a later one in the same process
        if W.enabled:
            D.shutdown()
        restore()


def _dispatch(args: argparse.Namespace, W) -> int:
    """Run what the flags ask for; its exit code."""
    if W.enabled and (args.list or args.report_only or args.cost or args.fidelity):
        raise UsageError("--list, --report-only, --cost and --fidelity do not train: run them without torchrun")
    if args.list:
        print(table_listing())
        return 0
    tables, opts = targets(args), options(args)  # every flag checked before anything runs
    from repro.run.command import run_command

    rc = run_command(tables, opts, cost=args.cost, report_only=args.report_only, probe=args.probe,
                     all_tables=not args.table, fidelity=args.fidelity, eval_only=args.eval_only,
                     extract=args.extract_features, undecided_seeds=args.undecided_seeds)
    if _SIGINT_SEEN:  # interrupted, though something swallowed the KeyboardInterrupt
        raise KeyboardInterrupt
    if thread_disk_full() is not None:  # e.g. TensorBoard's writer thread: its events are incomplete
        raise thread_disk_full()
    return rc


def _exit_code(e: BaseException, rank: int) -> int:
    """Say how the run ended, in one line (a line per problem for bad input); its exit code:
    143 stopped at a checkpoint, 2 bad input, 1 a full disk, 130 Ctrl-C. Anything else re-raises."""
    if isinstance(e, Preempted):
        print(f"stopped: {e}{_requeue()}", file=sys.stderr)
        return 143
    if isinstance(e, ReproError):
        who = f"[rank {rank}] " if rank else ""
        for line in str(e).splitlines() or [type(e).__name__]:
            print(f"{who}error: {line}", file=sys.stderr)
        return 2
    if isinstance(e, BrokenPipeError):  # the reader went away (run_all.py --list | head): nothing left to say
        return 0
    full = e if isinstance(e, DiskFull) else disk_full(e) if isinstance(e, OSError) else None
    if full is not None:  # not bad input: exit code 1; what was being written is left as it was
        print(f"error: {full}", file=sys.stderr)
        return 1
    if isinstance(e, KeyboardInterrupt):
        how = "stopped (SIGTERM)" if isinstance(e, Stopped) else "interrupted"
        print(f"{how}; finished rows are saved, and a re-run resumes from the last checkpoint", file=sys.stderr)
        return 143 if isinstance(e, Stopped) else 130
    raise e


def _install_signals():
    """This run's handlers; returns the function that puts the previous ones back."""
    # SIGTERM inside training finishes the step and writes a step checkpoint, as SIGUSR1 does.
    previous = {signal.SIGTERM: _install(signal.SIGTERM, preempt.term_handler(_stop)),
                signal.SIGINT: _install(signal.SIGINT, _on_sigint),
                signal.SIGUSR1: _install(signal.SIGUSR1, preempt.request)}  # SLURM's warning
    _SIGINT_SEEN.clear()
    preempt.clear()
    watch_threads()
    return lambda: [_install(sig, handler) for sig, handler in previous.items()]


def _requeue() -> str:
    """Under SLURM, put this job back in the queue (``scontrol requeue``); what happened, in words."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job or env_world().rank != 0:
        return ""
    scontrol = shutil.which("scontrol")
    if scontrol is None:
        return f"; SLURM job {job}: scontrol is not on PATH, so resubmit it yourself"
    r = subprocess.run([scontrol, "requeue", job], capture_output=True, text=True)
    return f"; SLURM job {job} requeued" if r.returncode == 0 else f"; scontrol requeue {job} failed: {r.stderr.strip()}"


def _install(signum: int, handler):
    """Set a signal handler where Python allows it (the main thread); returns the one it replaced."""
    try:
        return signal.signal(signum, handler)
    except (ValueError, TypeError):  # not the main thread, or no previous Python-level handler
        return handler


if __name__ == "__main__":
    sys.exit(main())
