"""``python -m repro.launch --table T``: one torchrun job per row of a table, printed, written
as SLURM batch files, and with ``--submit`` submitted with sbatch.

Each row is its own job so rows train in parallel on different nodes; each job runs
``run_all.py --table T --rows ROW`` under torchrun with ``--gpus`` processes per node, and
writes its result (and refreshes the table's report) when it ends. Reported-only rows have no
model and are skipped.
"""
from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from repro.config.loader import load_spec
from repro.errors import LaunchError, ReproError
from repro.results.store import REPO

# The template ships inside the package, so that an installed repro finds it from any folder.
TEMPLATE = Path(__file__).resolve().parent / "templates" / "slurm.sbatch"
PLACEHOLDERS = ("job_name", "nodes", "gpus", "time", "command", "log_dir", "environment", "workdir")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m repro.launch",
                                description="One torchrun job per table row, as SLURM batch files.")
    p.add_argument("--table", required=True, help="table id (see run_all.py --list)")
    p.add_argument("--rows", help="comma-separated row ids (default: every built row)")
    p.add_argument("--profile", default="paper", help="profile passed to run_all.py (default: paper)")
    p.add_argument("--gpus", type=int, default=8, help="GPUs (processes) per node (default: 8)")
    p.add_argument("--nodes", type=int, default=1, help="nodes per job (default: 1)")
    p.add_argument("--time", default="48:00:00", help="SLURM time limit per job (default: 48:00:00)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="passed on to run_all.py (e.g. train.batch_size=256)")
    p.add_argument("--data-root", action="append", default=[], metavar="NAME=PATH",
                   help="passed on to run_all.py")
    p.add_argument("--out-dir", type=Path, default=None,
                   help="folder for the sbatch files (default: slurm/<table>/)")
    p.add_argument("--template", type=Path, default=TEMPLATE,
                   help="SLURM batch template with {{placeholders}} (default: repro/templates/slurm.sbatch)")
    p.add_argument("--submit", action="store_true", help="submit every written file with sbatch")
    return p.parse_args(argv)


def rows_of(table: str, wanted: str | None) -> list[str]:
    """Built rows of ``table`` (reported-only rows have no model), or the ``wanted`` subset."""
    spec = load_spec(table)
    built = [r.id for r in spec.rows if r.built]
    if not wanted:
        return built
    rows = [r.strip() for r in wanted.split(",") if r.strip()]
    bad = [r for r in rows if r not in built]
    if bad:
        raise LaunchError(f"{table}: no built row(s) {', '.join(bad)}; built rows are {', '.join(built)}")
    return rows


def torchrun_command(table: str, row: str, profile: str, gpus: int, nodes: int,
                     sets: list[str] = (), data_roots: list[str] = ()) -> str:
    """The shell command that trains one row on ``nodes`` x ``gpus`` processes."""
    if gpus < 1 or nodes < 1:
        raise LaunchError(f"--gpus {gpus} / --nodes {nodes}: both must be at least 1")
    if nodes == 1:
        rdzv = ["--standalone"]
    else:  # MASTER_ADDR/MASTER_PORT/SLURM_JOB_ID are set by the sbatch template at run time
        rdzv = ["--rdzv_backend=c10d", "--rdzv_endpoint=$MASTER_ADDR:$MASTER_PORT", "--rdzv_id=$SLURM_JOB_ID"]
    args = [*_entry(), "--table", table, "--rows", row, "--profile", profile, "--no-progress"]
    for s in sets:
        args += ["--set", s]
    for d in data_roots:
        args += ["--data-root", d]
    # rdzv values must stay unquoted so that the shell expands the variables.
    # repro.torchrun: torchrun whose agent survives SLURM's SIGUSR1 warning (the ranks act on it).
    return " ".join(["python", "-m", "repro.torchrun", f"--nnodes={nodes}", f"--nproc_per_node={gpus}", *rdzv,
                     *(shlex.quote(a) for a in args)])


def _entry() -> list[str]:
    """How torchrun starts the CLI: ``run_all.py`` in a checkout, the installed package otherwise
    (an installed repro has no run_all.py to point at)."""
    return ["run_all.py"] if (REPO / "run_all.py").is_file() else ["-m", "repro"]


def environment() -> str:
    """The shell line that puts the launcher's own Python environment first on the job's PATH:
    its ``activate`` script when it is a virtual environment (the checkout's ``.venv/``), else its
    ``bin`` folder."""
    bin_dir = Path(sys.executable).parent
    if (bin_dir / "activate").is_file():
        return f"source {shlex.quote(str(bin_dir / 'activate'))}"
    return f"export PATH={shlex.quote(str(bin_dir))}:$PATH"


def render(template: str, values: dict[str, object]) -> str:
    """``template`` with every ``{{name}}`` replaced; an error names any left unfilled."""
    out = template
    for k, v in values.items():
        out = out.replace("{{" + k + "}}", str(v))
    left = sorted(set(re.findall(r"\{\{(\w+)\}\}", out)))
    if left:
        raise LaunchError(f"template placeholders without a value: {', '.join(left)} "
                          f"(known: {', '.join(PLACEHOLDERS)})")
    return out


def write_jobs(args: argparse.Namespace) -> list[tuple[str, str, Path]]:
    """(row, command, sbatch file) for every row; the files are written under ``out_dir``."""
    if not Path(args.template).is_file():
        raise LaunchError(f"SLURM template {args.template} not found; give --template PATH")
    template = Path(args.template).read_text()
    out_dir = Path(args.out_dir or REPO / "slurm" / args.table)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for row in rows_of(args.table, args.rows):
        cmd = torchrun_command(args.table, row, args.profile, args.gpus, args.nodes, args.set, args.data_root)
        path = out_dir / f"{args.table}-{row}.sbatch"
        path.write_text(render(template, {"job_name": f"{args.table}-{row}", "nodes": args.nodes,
                                          "gpus": args.gpus, "time": args.time, "command": cmd,
                                          "log_dir": out_dir.resolve(), "environment": environment(),
                                          "workdir": shlex.quote(str(REPO.resolve()))}))
        jobs.append((row, cmd, path))
    return jobs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        jobs = write_jobs(args)
        for row, cmd, path in jobs:
            print(f"{row}: {cmd}")
            print(f"{row}: wrote {path}")
        if args.submit:
            sbatch = shutil.which("sbatch")
            if sbatch is None:
                raise LaunchError("--submit needs SLURM's sbatch on PATH, and it is not there; run this on "
                                  "a SLURM login node, or submit the written files yourself")
            for row, _, path in jobs:
                r = subprocess.run([sbatch, str(path)], cwd=REPO, capture_output=True, text=True)
                if r.returncode != 0:
                    raise LaunchError(f"sbatch {path} failed ({r.returncode}): {r.stderr.strip()}")
                print(f"{row}: {r.stdout.strip()}")
        return 0
    except ReproError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
