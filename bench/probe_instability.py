"""Why some probe seeds do not learn: rows whose seeds split, re-run under recipe variants.

For each probe row given (default: GTA Figure 5's Region GTA and Figure 12's Pixel GTA, two of
the rows whose seeds split at f1c8093) and each variant of the synthetic recipe (the recipe
itself, a 2-epoch warm-up, lr 0.05 and 0.2, 12 and 16 epochs), trains seeds 0-2 with ``run_all.py --set`` into
a scratch results folder and records per seed: top-1, reversal-pair accuracy, and the
validation loss after the first epoch (a spike far above ln(classes) marks an unstable start).
The record goes to bench/results/probe_instability.json, with the committed f1c8093 results of
Figure 12's Pixel GTA (same config and seeds, trained on another CPU), and its Region GTA table
into the README (*Why some seeds do not learn*).

    .venv/bin/python bench/probe_instability.py --out-dir /tmp/instability        # ~45 min on 2 cores
    .venv/bin/python bench/probe_instability.py --out-dir /tmp/instability --collect-only
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from _record import write_record  # noqa: E402  (bench/ is on sys.path when run as a script)

OUT = REPO / "bench" / "results" / "probe_instability.json"
ROWS = ("gta_fig5:region", "gta_fig12:pixel_gta")
VARIANTS = {"recipe": [], "warmup 2 epochs": ["train.warmup_epochs=2"], "lr 0.05": ["train.lr=0.05"],
            "lr 0.2": ["train.lr=0.2"], "12 epochs": ["train.epochs=12"], "16 epochs": ["train.epochs=16"]}
TAGS = {"recipe": "base", "warmup 2 epochs": "warm2", "lr 0.05": "lr05", "lr 0.2": "lr2", "12 epochs": "ep12",
        "16 epochs": "ep16"}


def run(out_dir: Path, table: str, row: str, variant: str) -> None:
    d = out_dir / TAGS[variant]
    sets = [x for s in VARIANTS[variant] for x in ("--set", s)]
    subprocess.run([sys.executable, str(REPO / "run_all.py"), "--table", table, "--rows", row, "--seeds", "0,1,2",
                    "--jobs", "2", "--no-progress", "--results-dir", str(d / "results"), "--reports-dir",
                    str(d / "reports"), "--runs-dir", str(d / "runs"), *sets], check=True)


def collect(out_dir: Path, rows: list[str]) -> dict:
    out: dict = {}
    for variant, tag in TAGS.items():
        for spec in rows:
            table, row = spec.split(":")
            files = sorted((out_dir / tag / "results" / table / "synthetic").rglob(f"{row}.seed*.json"))
            for f in files:
                r = json.loads(f.read_text())
                h = r.get("history") or [{}]
                out.setdefault(spec, {}).setdefault(variant, []).append({
                    "seed": r["seed"], "top1": round(r["metrics"]["top1"], 1),
                    "reversal_pairs": round(r["metrics"].get("reversal_pairs") or float("nan"), 1),
                    "val_loss_epoch1": round(h[0].get("val_loss", float("nan")), 2),
                    "epochs": r["config"]["train"]["epochs"], "lr": r["config"]["train"]["lr"],
                    "warmup_epochs": r["config"]["train"]["warmup_epochs"],
                    "commit": r["provenance"]["commit"], "cpu": r["provenance"].get("cpu")})
    for spec in out.values():
        for runs in spec.values():
            runs.sort(key=lambda r: r["seed"])
    return out


def earlier_machine(commit: str = "f1c8093", spec: str = "gta_fig12:pixel_gta") -> dict:
    """The same config and seeds as trained by ``commit``'s committed results on its machine."""
    table, row = spec.split(":")
    runs = []
    for seed in range(3):
        text = subprocess.run(["git", "show", f"{commit}:results/{table}/synthetic/{row}.seed{seed}.json"],
                              cwd=REPO, capture_output=True, text=True).stdout
        if text:
            r = json.loads(text)
            runs.append({"seed": seed, "top1": round(r["metrics"]["top1"], 1), "cpu": r["provenance"].get("cpu"),
                         "commit": r["provenance"]["commit"]})
    return {"row": spec, "from": f"results/ at {commit}", "runs": runs}


HEADER = "| GTA Figure 5, Region GTA, top-1 per seed | seed 0 | seed 1 | seed 2 |"


def readme_table(record: dict) -> None:
    """Rewrite the README's table of the record (between its header line and the next blank line)."""
    readme = REPO / "README.md"
    lines = [HEADER, "|---|---|---|---|"]
    for variant, runs in record["rows"]["gta_fig5:region"].items():
        name = "the synthetic recipe (lr 0.1, 0.5 warm-up epochs, 8 epochs)" if variant == "recipe" else variant
        lines.append(f"| {name} | " + " | ".join(f"{r['top1']:.1f}" for r in runs) + " |")
    text = readme.read_text()
    start = text.index(HEADER)
    end = text.index("\n\n", start)
    readme.write_text(text[:start] + "\n".join(lines) + text[end:])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out-dir", type=Path, required=True, help="scratch folder for the runs")
    p.add_argument("--rows", nargs="*", default=list(ROWS), help="TABLE:ROW of probe rows")
    p.add_argument("--collect-only", action="store_true", help="record runs already in --out-dir")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args()
    if not a.collect_only:
        for variant in VARIANTS:
            for spec in a.rows:
                run(a.out_dir, *spec.split(":"), variant)
    record = write_record(a.out, {"what": __doc__.split("\n\n")[0], "rows": collect(a.out_dir, a.rows),
                                  "earlier_machine": earlier_machine()})
    readme_table(record)


if __name__ == "__main__":
    main()
