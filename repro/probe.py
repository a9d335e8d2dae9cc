"""``python -m repro.probe``: run your own video module through the synthetic probe.

Give a class path and where to insert it; the module is trained and evaluated on the synthetic
probe exactly like the built-in rows of ``experiments/probe_modules.yaml`` (same recipe,
backbone and seeds), and the per-family table is printed beside those rows' committed results.

    python -m repro.probe --module mypackage.blocks:MyBlock --places layer2.1,layer3.1

The class is called as ``MyBlock(channels, **args)`` (plus ``num_frames=T`` if it takes that
argument) and its forward maps ``(N, C, T, H, W)`` to the same shape, residual included.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd
import yaml

from repro import cli
from repro.config.loader import MODULES_TABLE, load_spec, parse_set
from repro.errors import ProbeUsageError, ReproError
from repro.report.tables import family_groups, family_table, long_table, narrow_tables, probe_lines
from repro.results.select import select_results
from repro.results.store import REPO, RESULTS_DIR

DEFAULT_OUT = REPO / "runs" / "probe"
DEFAULT_COMPARE = "tsn,nl1d,ta,tape,gta,ssa"


def parse_places(text: str) -> dict[str, list[int]]:
    """``"layer2.1,layer3.1,layer3.3"`` -> ``{"layer2": [1], "layer3": [1, 3]}``."""
    out: dict[str, list[int]] = {}
    for item in (x.strip() for x in text.split(",") if x.strip()):
        m = re.fullmatch(r"(layer[1-4])\.(\d+)", item)
        if not m:
            raise ProbeUsageError(f"--places {item!r}: expected layerS.B (S in 1-4, B a block index, "
                                  "ResNet-50 numbering as in the papers), e.g. layer2.1,layer3.1")
        out.setdefault(m.group(1), []).append(int(m.group(2)))
    if not out:
        raise ProbeUsageError("--places is empty; e.g. --places layer2.1,layer3.1")
    return {k: sorted(set(v)) for k, v in sorted(out.items())}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m repro.probe",
        description="Train your own video module on the synthetic temporal-reasoning probe and print "
                    "its accuracy per class family beside the built-in modules'.")
    p.add_argument("--module", required=True, metavar="PACKAGE.MODULE:CLASS",
                   help="class path; called as CLASS(channels, **args); forward (N, C, T, H, W) -> same")
    p.add_argument("--places", default=None, help="blocks to insert it in, ResNet-50 numbering, e.g. "
                   "layer2.1,layer3.1 (default: the five blocks of SSAN/GTA: layer2.1,3 and layer3.1,3,5), "
                   "fitted to the probe backbone")
    p.add_argument("--position", default="after_block", choices=["after_block", "in_block", "replace_conv2"],
                   help="after_block: on the block output; in_block: after conv1; replace_conv2: "
                        "instead of the 3x3 conv")
    p.add_argument("--args", default="{}", help="constructor keyword arguments as YAML/JSON, e.g. '{k: 3}'")
    p.add_argument("--name", help="id for the results (default: the class name in lower case)")
    p.add_argument("--label", help="row label in the table (default: the class name)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: the synthetic profile's)")
    p.add_argument("--jobs", default="auto", help="runs at once (default: one per core)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override the probe recipe, e.g. train.epochs=4 (then the built-in rows' "
                        "committed results are no longer comparable)")
    p.add_argument("--compare", default=DEFAULT_COMPARE,
                   help=f"rows of {MODULES_TABLE} to print beside yours (default: {DEFAULT_COMPARE}; "
                        "'none' for none)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="folder for the generated spec, results, checkpoints and the table (default runs/probe)")
    p.add_argument("--baseline-results", type=Path, default=RESULTS_DIR,
                   help="results folder holding the built-in rows (default: the committed results/)")
    p.add_argument("--cache-dir", type=Path, default=None, help="generated datasets (default .cache/)")
    p.add_argument("--force", action="store_true", help="re-run even if a result exists")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def write_spec(args: argparse.Namespace) -> tuple[Path, str]:
    """The one-row spec of the user's module, in ``--out``; returns its path and id."""
    cls = args.module.partition(":")[2].split(".")[-1]
    if ":" not in args.module or not cls:
        raise ProbeUsageError(f"--module {args.module!r}: expected package.module:Class")
    name = args.name or re.sub(r"[^a-z0-9_]+", "_", cls.lower())
    try:
        ctor_args = yaml.safe_load(args.args) or {}
    except yaml.YAMLError as e:
        raise ProbeUsageError(f"--args {args.args!r} is not valid YAML/JSON: {e}") from None
    if not isinstance(ctor_args, dict):
        raise ProbeUsageError(f"--args {args.args!r}: expected a mapping, e.g. '{{k: 3}}'")
    base = load_spec(MODULES_TABLE)
    stages = parse_places(args.places) if args.places else base.defaults["model"]["insert"]["stages"]
    spec = {
        "id": name, "title": f"Synthetic probe of {args.module}", "paper": "probe", "table": "user module",
        "dataset": base.dataset, "split": base.split, "recipe": base.recipe,
        "note": f"Generated by python -m repro.probe for {args.module}.",
        "defaults": {"model": {"backbone": dict(base.defaults["model"]["backbone"]),
                               "frames": base.defaults["model"].get("frames", 8)}},
        "probe": {},
        "rows": [{"id": name, "label": args.label or cls,
                  "model": {"insert": {"module": args.module, "position": args.position,
                                       "stages": stages, "args": ctor_args}}}],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path, name


def compare_rows(args: argparse.Namespace) -> list[str]:
    """The ``--compare`` rows, each a row of the module comparison (checked before training)."""
    compare = [] if args.compare == "none" else [c.strip() for c in args.compare.split(",") if c.strip()]
    known = [r.id for r in load_spec(MODULES_TABLE).rows]
    unknown = [c for c in compare if c not in known]
    if unknown:
        raise ProbeUsageError(f"--compare: no row(s) {', '.join(unknown)} in {MODULES_TABLE}; rows are "
                              f"{', '.join(known)}")
    return compare


def family_report(name: str, args: argparse.Namespace) -> str:
    """Markdown: the user's row and the chosen built-in rows, accuracy per family (mean ± std)."""

    spec = load_spec(str(args.out / f"{name}.yaml"))
    mine = probe_lines(long_table(spec, select_results(spec, args.out / "results", parse_set(args.set)).current))
    labels = {r.id: r.label for r in spec.rows}
    frames = [mine]
    compare = compare_rows(args)
    if compare:
        base = load_spec(MODULES_TABLE)
        known = {r.id: r.label for r in base.rows}
        theirs = probe_lines(long_table(base, select_results(base, args.baseline_results).current))
        frames.append(theirs[theirs["row"].isin(compare)])
        labels.update({c: f"{known[c]} (built-in)" for c in compare})
    probe = pd.concat(frames, ignore_index=True)
    if probe.empty:
        return "no results"
    headers, rows = family_table(probe, labels)
    missing = [c for c in compare if c not in set(probe["row"])]
    notes = []
    if missing:
        notes.append(f"No committed results for {', '.join(missing)} in {args.baseline_results}/"
                     f"{MODULES_TABLE}: run `python run_all.py --table {MODULES_TABLE} --profile synthetic`.")
    if args.set:
        notes.append(f"Your run used --set {' '.join(args.set)}; the built-in rows did not, so they are "
                     "not comparable.")
    return "\n".join([f"# Synthetic probe: {args.module}", "",
                      "Accuracy per class family (%), mean ± std over seeds; built-in rows from "
                      f"`{args.baseline_results.name}/{MODULES_TABLE}` (same recipe, backbone and seeds).",
                      "", *narrow_tables(headers, rows, family_groups(headers)),
                      *([""] + notes if notes else [])]) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The user's package is usually beside them, not installed: import it from the working folder.
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        compare_rows(args)  # a bad --compare fails now, not after training
        path, name = write_spec(args)
    except Exception as e:  # noqa: BLE001 -- every failure here is the user's input
        print(f"error: {e}", file=sys.stderr)
        return 2
    run = ["--table", str(path), "--profile", "synthetic", "--results-dir", str(args.out / "results"),
           "--runs-dir", str(args.out / "checkpoints"), "--reports-dir", str(args.out / "reports"),
           "--jobs", str(args.jobs)]
    run += ["--seeds", args.seeds] if args.seeds else []
    run += [x for s in args.set for x in ("--set", s)]
    run += ["--cache-dir", str(args.cache_dir)] if args.cache_dir else []
    run += ["--force"] if args.force else []
    run += ["--no-progress"] if args.no_progress else []
    rc = cli.main(run)
    if rc != 0:
        return rc
    try:
        text = family_report(name, args)
    except ReproError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = args.out / f"{name}.md"
    out.write_text(text)
    print(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
