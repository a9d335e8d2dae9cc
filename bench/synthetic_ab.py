"""One synthetic probe run at two git revisions, side by side: the speed-up of a change (issue 12).

Checks ``--old`` out into a temporary git worktree (sharing this checkout's ``.venv`` and
``.cache``) and trains the same row and seed there and here at the same time, one process each,
as the probe tier runs two at once on two cores: both see the same machine, so their ratio holds
on a noisy one. Records each side's wall, training and evaluation seconds and top-1 (which may
differ where the change moved the numbers), and the new/old ratios, in
bench/results/synthetic_ab.json.

Usage: .venv/bin/python bench/synthetic_ab.py --old bd5e218 [--rows gta tsn] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from _record import write_record  # bench/ is on sys.path when run as a script

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "synthetic_ab.json"
TABLE = "probe_modules"


def _start(checkout: Path, row: str, seed: int, tmp: Path, side: str) -> tuple[subprocess.Popen, Path]:
    out = tmp / side
    cmd = [str(REPO / ".venv" / "bin" / "python"), "run_all.py", "--table", TABLE, "--rows", row,
           "--profile", "synthetic", "--seeds", str(seed), "--force", "--no-progress", "--jobs", "1",
           "--results-dir", str(out / "r"), "--reports-dir", str(out / "p"), "--runs-dir", str(out / "x")]
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "log.txt", "w")  # a file, not a pipe: nothing blocks on a full pipe
    return subprocess.Popen(cmd, cwd=checkout, stdout=log, stderr=subprocess.STDOUT), out


def _read(out: Path, row: str, seed: int, wall: float) -> dict:
    r = json.loads((out / "r" / TABLE / "synthetic" / f"{row}.seed{seed}.json").read_text())
    p = r["provenance"]
    return {"wall_s": round(wall, 1), "train_time_s": p["train_time_s"], "eval_time_s": p["eval_time_s"],
            "top1": round(r["metrics"]["top1"], 2), "commit": p["commit"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="the git revision to compare against")
    ap.add_argument("--rows", nargs="+", default=["gta", "tsn"])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    old_rev = subprocess.check_output(["git", "rev-parse", "--short", a.old], cwd=REPO, text=True).strip()
    record = {"command": f"python bench/synthetic_ab.py --old {a.old} --rows {' '.join(a.rows)} --seed {a.seed}",
              "old": old_rev, "new": "this checkout (commit below)", "table": TABLE,
              "note": "both sides trained at once, one process and one thread each (the tier's --jobs 2 "
                      "on 2 cores); each side decodes the dataset once in its own fresh process, which "
                      "the tier's long-lived workers amortise", "rows": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "old"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), a.old], cwd=REPO, check=True,
                       capture_output=True)
        try:
            for name in (".venv", ".cache"):
                (old / name).symlink_to(REPO / name)
            for row in a.rows:
                t0 = time.time()
                procs = {side: _start(where, row, a.seed, tmp, side)
                         for side, where in (("old", old), ("new", REPO))}
                walls: dict[str, float] = {}
                while len(walls) < len(procs):
                    for side, (proc, out) in procs.items():
                        if side in walls or proc.poll() is None:
                            continue
                        walls[side] = time.time() - t0
                        if proc.returncode:
                            log = (out / "log.txt").read_text()[-2000:]
                            raise SystemExit(f"{side} run of {row} failed:\n{log}")
                    time.sleep(0.2)
                sides = {s: _read(out, row, a.seed, walls[s]) for s, (_, out) in procs.items()}
                sides["ratio_new_over_old"] = {k: round(sides["new"][k] / sides["old"][k], 3)
                                               for k in ("wall_s", "train_time_s")}
                record["rows"][row] = sides
                print(row, json.dumps(sides), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=REPO, capture_output=True)
    write_record(OUT, record)


if __name__ == "__main__":
    main()
