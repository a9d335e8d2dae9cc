"""``run_all.py``: run the rows of paper tables under a profile and write their reports.

Under ``torchrun --nproc_per_node=N run_all.py ...`` every process runs the same rows
data-parallel (repro/engine/distributed.py); rank 0 alone prints, writes results and reports.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from repro.results.store import REPO, RESULTS_DIR, git_commit, read_result, result_path, write_json_atomic
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
    p.add_argument("--rows", help="comma-separated row ids to run (default: all)")
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


def _up_to_date(path: Path, spec_hash: str, force: bool) -> dict | None:
    """The result at ``path`` if it was made for ``spec_hash`` and ``--force`` is not given."""
    old = read_result(path)
    return old if old and old["provenance"]["spec_hash"] == spec_hash and not force else None


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


def run_table(table: str, args: argparse.Namespace) -> None:
    from repro.data.dataset import with_eval_views
    from repro.data.registry import build_datasets, num_classes, prepare
    from repro.engine import distributed as D
    from repro.engine.ensemble import save_scores, scores_path
    from repro.engine.train import fit, seed_everything
    from repro.models.build import build_from_config, load_imagenet
    from repro.spec.loader import config_hash, load_spec, parse_set, resolve

    spec = load_spec(table)
    table = spec.id  # a spec given by path (tests, your own tables) files its results by its id
    roots = _data_roots(args.data_root)
    profile, why = choose_profile(args.profile, spec.dataset, roots)
    overrides = parse_set(args.set)
    # Ensembles run after every trained row: they read their members' saved scores.
    rows = [r.id for r in spec.rows if r.built]
    ensembles = [r.id for r in spec.rows if r.is_ensemble]
    if args.rows:
        wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
        unknown = [r for r in wanted if r not in rows + ensembles]
        if unknown:
            raise UsageError(f"{spec.path}: no row(s) {', '.join(unknown)}; rows are "
                             f"{', '.join(rows + ensembles)}")
        rows = [r for r in wanted if r in rows]
        ensembles = [r for r in wanted if r in ensembles]
    W = D.world()
    progress = not args.no_progress and W.is_main
    print = _say  # noqa: A001 -- rank 0 alone reports
    print(f"[{table}] profile: {profile} ({why}); rows: {', '.join(rows + ensembles)}", flush=True)
    prepared: dict[str, tuple] = {}
    for i, row_id in enumerate(rows, 1):
        cfg = resolve(spec, row_id, profile, overrides)
        h = config_hash(cfg)
        out = result_path(args.results_dir, table, profile, row_id)
        if _up_to_date(out, h, args.force):
            print(f"[{table}] {i}/{len(rows)} {row_id}: result exists for spec hash {h}, skipped "
                  f"(--force to re-run)", flush=True)
            continue
        run_dir = args.runs_dir / table / profile / row_id
        if args.force and W.is_main:
            shutil.rmtree(run_dir, ignore_errors=True)  # --force retrains rather than resuming
        D.barrier()  # no rank may load the checkpoint that --force is removing
        key = json.dumps(cfg["data"], sort_keys=True)
        if key not in prepared:
            # Rank 0 generates a missing dataset (with its progress bar) while the others wait.
            if not W.is_main:
                D.barrier()
            root, info = prepare(cfg, roots, args.cache_dir, progress)
            if W.is_main:
                D.barrier()
            prepared[key] = (root, info, *build_datasets(cfg, root, info))
        root, info, train_ds, val_ds = prepared[key]
        ev = cfg.get("eval", {})
        try:  # the row's test protocol; the prepared dataset is shared by rows and stays as it is
            val_ds = with_eval_views(val_ds, ev.get("clips", 1), ev.get("crops", 1), ev.get("resize"),
                                     ev.get("crop_size"))
        except ValueError as e:
            raise SpecError(spec.path, [f"row {row_id!r} eval: {e}"]) from e
        t0 = time.time()
        seed_everything(cfg["train"].get("seed", 0))  # model init depends on the seed too
        model = build_from_config(cfg, num_classes(cfg["data"]["dataset"]))
        if cfg["model"]["backbone"].get("pretrained") == "imagenet":
            load_imagenet(model)
        print(f"[{table}] {i}/{len(rows)} {row_id}: training ({cfg['train']['epochs']} epochs, "
              f"{len(train_ds)} train / {len(val_ds)} val videos)", flush=True)
        run = fit(model, cfg, train_ds, val_ds, info, run_dir, h,
                  progress, desc=f"{table}/{row_id}")
        scores_file = scores_path(args.runs_dir, table, profile, row_id)
        provenance = {
            "commit": git_commit(), "spec_hash": h, "profile": profile,
            "dataset": cfg["data"]["dataset"] + (f" ({root.name})" if cfg["data"]["dataset"] == "synthetic" else ""),
            "split": spec.split, "frames": cfg["model"].get("frames", 8),
            "views": "{}x{}".format(*run["views"]), "epochs": cfg["train"]["epochs"],
            "seed": cfg["train"].get("seed", 0), "device": run["device"],
            "wall_time_s": round(time.time() - t0, 1), "train_time_s": round(run["train_time_s"], 1),
            "eval_time_s": round(run["eval_time_s"], 1), "videos_skipped": run["videos_skipped"],
            "bad_videos": run["bad_videos"][:20],
            "val_videos": run["val_videos"], "recipe": cfg["meta"]["recipe"],
            "places": " ".join(f"{s}{b}" for s, b in cfg["model"]["insert"]["stages"].items())
            if cfg["model"]["insert"].get("module") else "",
            "overrides": args.set, "torch": __import__("torch").__version__,
            # How it was trained: processes, global batch, and the lr after linear scaling.
            "world_size": run["world_size"], "global_batch": run["global_batch"], "lr": run["lr"],
            "lr_scale_batch": cfg["train"].get("lr_scale_batch"), "amp": run["amp"],
            "channels_last": run["channels_last"],
            # Per-video class scores, for ensembles (not committed: runs/ is gitignored).
            "scores_file": str(scores_file),
        }
        m = run["metrics"]
        result = {"table": table, "row": row_id, "metrics": m, "provenance": provenance, "config": cfg}
        if W.is_main:
            # Scores first: a result never points at a scores file that was not written.
            save_scores(scores_file, run["scores"], run["labels"],
                        [getattr(val_ds.records[i], "video_id", str(i)) for i in run["index"]], h,
                        table=table, row=row_id, profile=profile, views=provenance["views"],
                        frames=provenance["frames"], dataset=provenance["dataset"],
                        epochs=provenance["epochs"],
                        info={k: info[k] for k in ("families", "reversal_pairs") if info.get(k)})
            write_json_atomic(result, out)
        extra = f", reversal pairs {m['reversal_pairs']:.1f}" if m.get("reversal_pairs") is not None else ""
        print(f"[{table}] {i}/{len(rows)} {row_id}: top1 {m['top1']:.1f}, top5 {m['top5']:.1f}{extra} "
              f"({provenance['wall_time_s']:.0f} s) -> {out}", flush=True)


    if ensembles:
        D.barrier()  # members' scores are written by rank 0
        for row_id in ensembles:
            run_ensemble(spec, table, row_id, profile, overrides, args)


def run_ensemble(spec, table: str, row_id: str, profile: str, overrides: dict,
                 args: argparse.Namespace) -> dict | None:
    """Average the saved scores of an ensemble row's members and write its result like any row's."""
    from repro.engine import distributed as D
    from repro.engine.ensemble import (EnsembleError, average, ensemble_hash, file_hash,
                                       load_scores, save_scores, scores_path)
    from repro.engine.metrics import summarize
    from repro.spec.loader import config_hash, resolve

    row = spec.row(row_id)
    members: dict[str, dict] = {}
    hashes: dict[str, str] = {}
    for m in row.ensemble:
        hashes[m] = config_hash(resolve(spec, m, profile, overrides))
        sets = "".join(f" --set {x}" for x in args.set)
        hint = (f"run its member first: run_all.py --table {table} --rows {m} --profile {profile}"
                f"{sets} --force (the ensemble {row_id!r} of {spec.path} needs it)")
        members[m] = load_scores(scores_path(args.runs_dir, table, profile, m), m, hashes[m], hint)
    h = ensemble_hash(hashes)
    out = result_path(args.results_dir, table, profile, row_id)
    old = _up_to_date(out, h, args.force)
    if old:
        _say(f"[{table}] {row_id}: ensemble result exists for spec hash {h}, skipped (--force to "
             f"re-run)", flush=True)
        return old
    try:
        scores, labels, ids = average(members)
    except EnsembleError as e:
        raise EnsembleError(f"{spec.path}: ensemble row {row_id!r}: {e}") from e
    first = members[row.ensemble[0]]
    metrics = summarize(scores, labels, first.get("info") or {})
    files = {m: scores_path(args.runs_dir, table, profile, m) for m in row.ensemble}
    member_results = {}
    for m in row.ensemble:
        res_path = result_path(args.results_dir, table, profile, m)
        member_results[m] = {"spec_hash": hashes[m], "scores_file": str(files[m]),
                             "scores_sha256": file_hash(files[m]),
                             "result_sha256": file_hash(res_path) if res_path.is_file() else None}
    distinct = lambda key: "+".join(dict.fromkeys(str(members[m].get(key, "")) for m in row.ensemble))  # noqa: E731
    provenance = {
        "commit": git_commit(), "spec_hash": h, "profile": profile, "dataset": first.get("dataset", ""),
        "split": spec.split, "frames": "+".join(str(members[m].get("frames", "")) for m in row.ensemble),
        "views": distinct("views"), "epochs": distinct("epochs"), "seed": "", "device": "cpu",
        "wall_time_s": 0.0, "val_videos": len(ids), "ensemble": list(row.ensemble),
        "members": member_results, "overrides": args.set, "torch": __import__("torch").__version__,
    }
    scores_file = scores_path(args.runs_dir, table, profile, row_id)
    provenance["scores_file"] = str(scores_file)
    result = {"table": table, "row": row_id, "metrics": metrics, "provenance": provenance,
              "config": {"ensemble": list(row.ensemble), "member_spec_hashes": hashes}}
    if D.world().is_main:
        save_scores(scores_file, scores, labels, ids, h, table=table, row=row_id, profile=profile,
                    views=provenance["views"], frames=provenance["frames"],
                    dataset=provenance["dataset"], epochs=provenance["epochs"], info=first.get("info"))
        write_json_atomic(result, out)
    _say(f"[{table}] {row_id}: ensemble of {', '.join(row.ensemble)}: top1 {metrics['top1']:.1f}, "
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
    from repro.spec.loader import list_tables as tables
    from repro.engine import distributed as D

    args = parse_args(argv)
    W = D.init_from_env()
    try:
        if W.enabled and (args.list or args.report_only or args.cost):
            raise UsageError("--list, --report-only and --cost do not train: run them without torchrun")
        if args.list:
            list_tables()
            return 0
        targets = args.table or (tables() if args.report_only or args.cost else None)
        if not targets:
            raise UsageError("give --table TABLE (see --list), or --report-only / --cost for all tables")
        for t in targets:
            if args.cost:
                run_cost(t, args)
            elif not args.report_only:
                run_table(t, args)
            if W.is_main and _outside_experiments(t):
                # build_report reads the spec from experiments/ by id; a spec elsewhere has run
                # and written its results, but has no report.
                print(f"[{t}] spec is outside experiments/: results written, no report built")
            elif W.is_main:
                for p in build_report(t, args.results_dir, args.reports_dir):
                    print(f"[{t}] wrote {p}")
        if W.is_main:
            print(f"wrote {write_index(args.results_dir, args.reports_dir)}")
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
