"""Training units: one (table, row, seed) run with its result file, and a pool that runs them side by side.

A unit is everything ``run_all.py`` does for one row and one seed: resolve the config, prepare
the data, build, train, evaluate, write ``results/<table>/<profile>/<row>[.seed<k>].json``
atomically. Units are independent, so on a CPU with N cores and a one-thread recipe N of them
run at once in worker processes (``--jobs``); each writes its own result the moment it finishes.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from repro.results.store import git_commit, read_result, result_path, write_json_atomic


@dataclass(frozen=True)
class Unit:
    """One training run. ``seed`` None: the config's own seed, result file ``<row>.json``."""

    spec: str  # table id or path of a spec file
    row: str
    profile: str
    seed: int | None = None
    overrides: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        """File stem of its result, checkpoint folder and scores."""
        return self.row if self.seed is None else f"{self.row}.seed{self.seed}"

    def config(self) -> tuple[object, dict]:
        from repro.spec.loader import deep_merge, load_spec, resolve

        spec = load_spec(self.spec)
        over = self.overrides
        if self.seed is not None:
            over = deep_merge(over, {"train": {"seed": self.seed}})
        return spec, resolve(spec, self.row, self.profile, over)


@dataclass(frozen=True)
class Dirs:
    """Where a unit reads and writes; plain paths so that worker processes can receive it."""

    results: Path
    runs: Path
    cache: Path | None = None
    data_roots: dict = field(default_factory=dict)
    set_args: tuple = ()  # the --set strings, recorded in provenance


def up_to_date(path: Path, spec_hash: str, force: bool) -> dict | None:
    """The result at ``path`` if it was made for ``spec_hash`` and ``--force`` is not given."""
    old = read_result(path)
    return old if old and old["provenance"]["spec_hash"] == spec_hash and not force else None


def run_hash(cfg: dict) -> str:
    """Hash of what is trained: the resolved config without the table/row/profile names."""
    from repro.spec.loader import config_hash

    c = {k: v for k, v in cfg.items() if k != "meta"}
    if not (c.get("model", {}).get("insert") or {}).get("module"):
        # No module inserted: where one would go changes nothing that is trained.
        c["model"] = {**c["model"], "insert": {"module": None}}
    return config_hash(c)


def find_twin(results: Path, profile: str, ident: str, own: Path) -> tuple[Path, dict] | None:
    """The newest finished result of another (table, row) with the same run hash, if any."""
    paths = sorted(results.glob(f"*/{profile}/*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in paths:
        if path == own:
            continue
        try:
            res = read_result(path)
        except ValueError:
            continue  # a broken file elsewhere is not this run's business
        if res and res.get("provenance", {}).get("run_hash") == ident and "reused_from" not in res["provenance"]:
            return path, res
    return None


# Decoded videos already held in this process, by data config: a worker that runs several
# units decodes each video once. Datasets themselves are built per unit, since their
# augmentation seed (train.seed) and clip length (model.frames) belong to the unit.
_PREPARED: dict[str, tuple] = {}


def _datasets(cfg: dict, dirs: Dirs, progress: bool) -> tuple:
    from repro.data.registry import build_datasets, prepare
    from repro.engine import distributed as D

    key = json.dumps(cfg["data"], sort_keys=True)
    if key not in _PREPARED:
        W = D.world()
        # Rank 0 generates a missing dataset (with its progress bar) while the others wait.
        if not W.is_main:
            D.barrier()
        root, info = prepare(cfg, dirs.data_roots, dirs.cache, progress)
        if W.is_main:
            D.barrier()
        _PREPARED[key] = (root, info, {}, {})
    root, info, train_cache, val_cache = _PREPARED[key]
    train_ds, val_ds = build_datasets(cfg, root, info)
    if train_ds.cache is not None:  # whole decoded videos: the same whatever the seed or frames
        train_ds.cache, val_ds.cache = train_cache, val_cache
    return root, info, train_ds, val_ds


def prepare_data(unit: Unit, dirs: Dirs, progress: bool) -> None:
    """Generate the unit's dataset if missing (in this process, with its progress bar)."""
    from repro.data.registry import prepare

    _, cfg = unit.config()
    prepare(cfg, dirs.data_roots, dirs.cache, progress)


def run_unit(unit: Unit, dirs: Dirs, force: bool = False, progress: bool = True,
             say=print, position: str = "", copy_twins: bool | None = None) -> dict:
    """Train and evaluate one unit, write its result; returns ``{"status", "result", "path"}``.

    ``status`` is ``skipped`` when an up-to-date result exists (unless ``force``), ``reused``
    when another table's result with the same config and seed was copied (``copy_twins``,
    default: unless ``force``), else ``trained``.
    """
    import torch

    from repro.data.dataset import with_eval_views
    from repro.data.registry import num_classes
    from repro.engine import distributed as D
    from repro.engine.ensemble import save_scores, scores_path
    from repro.engine.train import fit, seed_everything
    from repro.models.build import build_from_config, load_imagenet
    from repro.spec.loader import config_hash
    from repro.spec.schema import SpecError

    spec, cfg = unit.config()
    table = spec.id
    h = config_hash(cfg)
    out = result_path(dirs.results, table, unit.profile, unit.key)
    W = D.world()
    old = up_to_date(out, h, force)
    if old:
        say(f"[{table}] {position}{unit.key}: result exists for spec hash {h}, skipped "
            f"(--force to re-run)", flush=True)
        return {"status": "skipped", "result": old, "path": str(out)}
    ident = run_hash(cfg)
    copy_twins = (not force) if copy_twins is None else copy_twins
    twin = find_twin(Path(dirs.results), unit.profile, ident, out) if copy_twins else None
    if twin is not None:
        # Another table has a row with this exact config and seed (e.g. GTA's +SA+GTA is Figure
        # 3's +GTA): its training would be repeated bit for bit, so its result is copied and
        # says where it came from.
        src_path, src = twin
        result = {**src, "table": table, "row": unit.row, "seed": unit.seed,
                  "provenance": {**src["provenance"], "spec_hash": h,
                                 "reused_from": f"{src['table']}/{src_path.stem}"},
                  "config": cfg}
        if W.is_main:
            write_json_atomic(result, out)
        say(f"[{table}] {position}{unit.key}: same config and seed as {src['table']}/{src_path.stem}: "
            f"result copied from {src_path}", flush=True)
        return {"status": "reused", "result": result, "path": str(out)}
    run_dir = Path(dirs.runs) / table / unit.profile / unit.key
    if force and W.is_main:
        shutil.rmtree(run_dir, ignore_errors=True)  # --force retrains rather than resuming
    D.barrier()  # no rank may load the checkpoint that --force is removing
    threads = cfg["train"].get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    root, info, train_ds, val_ds = _datasets(cfg, dirs, progress)
    ev = cfg.get("eval", {})
    try:  # the row's test protocol; the prepared dataset is shared by rows and stays as it is
        val_ds = with_eval_views(val_ds, ev.get("clips", 1), ev.get("crops", 1), ev.get("resize"),
                                 ev.get("crop_size"))
    except ValueError as e:
        raise SpecError(spec.path, [f"row {unit.row!r} eval: {e}"]) from e
    t0 = time.time()
    seed_everything(cfg["train"].get("seed", 0))  # model init depends on the seed too
    model = build_from_config(cfg, num_classes(cfg["data"]["dataset"]))
    if cfg["model"]["backbone"].get("pretrained") == "imagenet":
        load_imagenet(model)
    say(f"[{table}] {position}{unit.key}: training ({cfg['train']['epochs']} epochs, "
        f"{len(train_ds)} train / {len(val_ds)} val videos)", flush=True)
    run = fit(model, cfg, train_ds, val_ds, info, run_dir, h, progress, desc=f"{table}/{unit.key}")
    scores_file = scores_path(dirs.runs, table, unit.profile, unit.key)
    synthetic = cfg["data"]["dataset"] == "synthetic"
    provenance = {
        "commit": git_commit(), "spec_hash": h, "run_hash": ident, "profile": unit.profile,
        "dataset": cfg["data"]["dataset"] + (f" ({root.name})" if synthetic else ""),
        "split": spec.split, "frames": cfg["model"].get("frames", 8),
        "views": "{}x{}".format(*run["views"]), "epochs": cfg["train"]["epochs"],
        "seed": cfg["train"].get("seed", 0), "device": run["device"],
        "threads": torch.get_num_threads() if run["device"] == "cpu" else None,
        "wall_time_s": round(time.time() - t0, 1), "train_time_s": round(run["train_time_s"], 1),
        "eval_time_s": round(run["eval_time_s"], 1), "videos_skipped": run["videos_skipped"],
        "bad_videos": run["bad_videos"][:20],
        "val_videos": run["val_videos"], "recipe": cfg["meta"]["recipe"],
        "places": " ".join(f"{s}{b}" for s, b in cfg["model"]["insert"]["stages"].items())
        if cfg["model"]["insert"].get("module") else "",
        "overrides": list(dirs.set_args), "torch": torch.__version__,
        # How it was trained: processes, global batch, and the lr after linear scaling.
        "world_size": run["world_size"], "global_batch": run["global_batch"], "lr": run["lr"],
        "lr_scale_batch": cfg["train"].get("lr_scale_batch"), "amp": run["amp"],
        "channels_last": run["channels_last"],
        # Per-video class scores, for ensembles (not committed: runs/ is gitignored).
        "scores_file": str(scores_file),
    }
    m = run["metrics"]
    result = {"table": table, "row": unit.row, "seed": unit.seed, "metrics": m,
              "provenance": provenance, "config": cfg}
    if W.is_main:
        # Scores first: a result never points at a scores file that was not written.
        save_scores(scores_file, run["scores"], run["labels"],
                    [getattr(val_ds.records[i], "video_id", str(i)) for i in run["index"]], h,
                    table=table, row=unit.row, profile=unit.profile, views=provenance["views"],
                    frames=provenance["frames"], dataset=provenance["dataset"],
                    epochs=provenance["epochs"],
                    info={k: info[k] for k in ("families", "reversal_pairs") if info.get(k)})
        write_json_atomic(result, out)
    return {"status": "trained", "result": result, "path": str(out)}


def summary_line(table: str, key: str, result: dict, path: str) -> str:
    m, p = result["metrics"], result["provenance"]
    extra = f", reversal pairs {m['reversal_pairs']:.1f}" if m.get("reversal_pairs") is not None else ""
    return (f"[{table}] {key}: top1 {m['top1']:.1f}, top5 {m['top5']:.1f}{extra} "
            f"({p.get('wall_time_s', 0):.0f} s) -> {path}")


def _worker(unit: Unit, dirs: Dirs, force: bool) -> dict:
    """Entry point in a pool process. Errors come back as text: custom exceptions need not pickle."""
    try:
        return run_unit(unit, dirs, force, progress=False, say=lambda *a, **k: None)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 -- reported by the parent with the unit it belongs to
        return {"status": "failed", "error": f"{type(e).__name__}: {e}"}


def default_jobs(threads: int | None) -> int:
    """Units to run at once: one per ``threads`` CPU cores when training on CPU, else 1."""
    import torch

    if torch.cuda.is_available() or not threads:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // int(threads))


class Pool:
    """Worker processes for units, started on first use and kept for every table of the run."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._ex = None

    def submit(self, unit: Unit, dirs: Dirs, force: bool):
        if self._ex is None:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            # spawn, not fork: a forked child of a process that already ran torch's thread pool
            # can hang on its first parallel kernel.
            self._ex = ProcessPoolExecutor(self.jobs, mp_context=mp.get_context("spawn"))
        return self._ex.submit(_worker, unit, dirs, force)

    def close(self, cancel: bool = False) -> None:
        if self._ex is not None:
            self._ex.shutdown(wait=not cancel, cancel_futures=cancel)
            self._ex = None
