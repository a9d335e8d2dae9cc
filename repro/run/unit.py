"""One training unit: a (table, row, seed) run under a profile, and the files it reads and writes.

A unit resolves its config, prepares the data, builds, trains, evaluates and writes its result
atomically (:mod:`repro.results.store` says where: the spec's own config at the row's path, any
other config under ``variants/<hash>/``). Its checkpoints and scores live in a run folder keyed
the same way, so a ``--set`` run never resumes from, or overwrites, the default run's files.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from repro.results.store import VARIANTS, keyed_dir, read_result, result_path, write_result
from repro.run.provenance import Provenance, cpu_name


@dataclass(frozen=True)
class Dirs:
    """Where a unit reads and writes; plain paths so that worker processes can receive it."""

    results: Path
    runs: Path
    cache: Path | None = None
    data_roots: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Unit:
    """One training run. ``seed`` None: the config's own seed, result file ``<row>.json``."""

    spec: str  # table id or path of a spec file
    row: str
    profile: str
    seed: int | None = None
    overrides: dict = field(default_factory=dict)  # parsed --set
    set_args: tuple = ()  # the --set strings, recorded in provenance
    # Train even if its result exists: a retrieval row needs the checkpoint, which is missing.
    retrain: bool = False

    @property
    def key(self) -> str:
        """File stem of its result and name of its run folder."""
        return self.row if self.seed is None else f"{self.row}.seed{self.seed}"

    def config(self, check_modules: bool = False) -> tuple[object, dict]:
        from repro.config.loader import load_spec, resolve, seed_override

        spec = load_spec(self.spec)
        return spec, resolve(spec, self.row, self.profile, seed_override(self.seed, self.overrides),
                             check_modules=check_modules)

    def variant(self, spec, cfg: dict) -> str | None:
        """The config hash when the overrides change the config, else None (the spec's own run)."""
        from repro.config.loader import config_hash, resolve, seed_override

        if not self.overrides:
            return None
        h = config_hash(cfg)
        own = config_hash(resolve(spec, self.row, self.profile, seed_override(self.seed)))
        return None if h == own else h


def run_folder(runs: Path, table: str, profile: str, key: str, variant: str | None = None) -> Path:
    """Checkpoints and scores of one unit; keyed like its result file."""
    return keyed_dir(runs, table, profile, variant) / key


def up_to_date(path: Path, spec_hash: str, force: bool) -> dict | None:
    """The result at ``path`` if it was made for ``spec_hash`` and ``--force`` is not given.

    An unreadable file counts as absent: the run replaces it.
    """
    try:
        old = read_result(path)
    except ValueError:
        return None
    return old if old and old["provenance"].get("spec_hash") == spec_hash and not force else None


def run_hash(cfg: dict) -> str:
    """Hash of what is trained: the resolved config without the table/row/profile names."""
    from repro.config.loader import config_hash

    c = {k: v for k, v in cfg.items() if k != "meta"}
    if not c["model"]["insert"].get("module"):
        # No module inserted: where one would go changes nothing that is trained.
        c["model"] = {**c["model"], "insert": {"module": None}}
    return config_hash(c)


def find_twin(results: Path, profile: str, ident: str, own: Path) -> tuple[Path, dict] | None:
    """The newest finished result of another (table, row) with the same run hash, if any."""
    found = [*results.glob(f"*/{profile}/*.json"), *results.glob(f"*/{profile}/{VARIANTS}/*/*.json")]
    paths = sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)
    for path in paths:
        if path == own:
            continue
        try:
            res = read_result(path)
        except ValueError:
            continue  # a broken file elsewhere is not this run's business
        if res and res["provenance"].get("run_hash") == ident and "reused_from" not in res["provenance"]:
            return path, res
    return None


# Decoded videos already held in this process, by data config: a worker that runs several
# units decodes each video once. Datasets themselves are built per unit, since their
# augmentation seed (train.seed) and clip length (model.frames) belong to the unit.
_PREPARED: dict[str, tuple] = {}


def load_datasets(cfg: dict, dirs: Dirs, progress: bool) -> tuple:
    """``(root, info, train, val)`` of a config: its dataset prepared once per process."""
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


def prepare_data(cfg: dict, dirs: Dirs, progress: bool) -> None:
    """Generate a config's dataset if missing (in this process, with its progress bar)."""
    from repro.data.registry import prepare

    prepare(cfg, dirs.data_roots, dirs.cache, progress)


def _copy_twin(unit: Unit, spec, cfg: dict, h: str, twin: tuple[Path, dict]) -> dict:
    # Another table has a row with this exact config and seed (e.g. GTA's +SA+GTA is Figure 3's
    # +GTA): its training would be repeated bit for bit, so its result is copied and says where
    # it came from.
    src_path, src = twin
    return {**src, "table": spec.key, "row": unit.row, "seed": unit.seed,
            "provenance": {**src["provenance"], "spec_hash": h, "overrides": list(unit.set_args),
                           "reused_from": f"{src['table']}/{src_path.stem}"},
            "config": cfg}


def where(unit: Unit, dirs: Dirs) -> tuple:
    """``(spec, config, spec hash, variant, result path)`` of a unit."""
    from repro.config.loader import config_hash

    spec, cfg = unit.config()
    h, variant = config_hash(cfg), unit.variant(spec, cfg)
    return spec, cfg, h, variant, result_path(dirs.results, spec.key, unit.profile, unit.key, variant)


def finished(unit: Unit, dirs: Dirs, force: bool) -> dict | None:
    """The unit's up-to-date result, if it has one (and ``force`` is not given)."""
    _, _, h, _, out = where(unit, dirs)
    return up_to_date(out, h, force or unit.retrain)


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
    from repro.engine.inputs import seed_everything
    from repro.engine.train import fit
    from repro.models.build import build_from_config, load_imagenet
    from repro.results.scores import save_scores, scores_path
    from repro.errors import SpecError

    spec, cfg, h, variant, out = where(unit, dirs)
    table = spec.key
    W = D.world()
    force = force or unit.retrain
    old = up_to_date(out, h, force)
    if old:
        say(f"[{table}] {position}{unit.key}: result exists for spec hash {h}, skipped "
            f"(--force to re-run)", flush=True)
        return {"status": "skipped", "result": old, "path": str(out)}
    ident = run_hash(cfg)
    copy_twins = (not force) if copy_twins is None else copy_twins
    twin = find_twin(Path(dirs.results), unit.profile, ident, out) if copy_twins else None
    if twin is not None:
        result = _copy_twin(unit, spec, cfg, h, twin)
        if W.is_main:
            write_result(result, out, dirs.results)
        say(f"[{table}] {position}{unit.key}: same config and seed as {twin[1]['table']}/{twin[0].stem}: "
            f"result copied from {twin[0]}", flush=True)
        return {"status": "reused", "result": result, "path": str(out)}
    run_dir = run_folder(dirs.runs, table, unit.profile, unit.key, variant)
    if force and W.is_main:
        shutil.rmtree(run_dir, ignore_errors=True)  # --force retrains rather than resuming
    D.barrier()  # no rank may load the checkpoint that --force is removing
    if cfg["train"]["threads"]:
        torch.set_num_threads(int(cfg["train"]["threads"]))
    root, info, train_ds, val_ds = load_datasets(cfg, dirs, progress)
    ev = cfg["eval"]
    try:  # the row's test protocol; the prepared dataset is shared by rows and stays as it is
        test_ds = with_eval_views(val_ds, ev["clips"], ev["crops"], ev["resize"], ev["crop_size"],
                                  ev["clip_layout"], ev["single_crop"])
        val_ds = with_eval_views(val_ds, 1, 1, ev["resize"], ev["crop_size"])  # per epoch
    except ValueError as e:
        raise SpecError(spec.path, [f"row {unit.row!r} eval: {e}"]) from e
    t0 = time.time()
    seed_everything(cfg["train"]["seed"])  # model init depends on the seed too
    model = build_from_config(cfg, num_classes(cfg["data"]["dataset"]))
    if cfg["model"]["backbone"]["pretrained"] == "imagenet":
        load_imagenet(model)
    weights = None
    if cfg["model"]["weights"]:  # a published checkpoint (e.g. Kinetics) under the fresh head
        from repro.run.weights import load_weights

        weights = load_weights(model, cfg, trunk_only=True, say=say)
    say(f"[{table}] {position}{unit.key}: training ({cfg['train']['epochs']} epochs, "
        f"{len(train_ds)} train / {len(val_ds)} val videos)", flush=True)
    from repro.data.fingerprint import fingerprint

    data_fp = fingerprint(root, train_ds, val_ds)
    run = fit(model, cfg, train_ds, val_ds, info, run_dir, h, progress, desc=f"{table}/{unit.key}",
              test_ds=test_ds)
    scores_file = scores_path(run_dir)
    synthetic = cfg["data"]["dataset"] == "synthetic"
    ins = cfg["model"]["insert"]
    prov = Provenance(
        spec_hash=h, profile=unit.profile,
        dataset=cfg["data"]["dataset"] + (f" ({root.name})" if synthetic else ""), split=spec.split,
        frames=cfg["model"]["frames"], views="{}x{}".format(*run["views"]), epochs=cfg["train"]["epochs"],
        seed=cfg["train"]["seed"], device=run["device"], wall_time_s=round(time.time() - t0, 1),
        overrides=list(unit.set_args),
        extra={
            "run_hash": ident, "threads": torch.get_num_threads() if run["device"] == "cpu" else None,
            "cpu": cpu_name() if run["device"] == "cpu" else None,
            "train_time_s": round(run["train_time_s"], 1), "eval_time_s": round(run["eval_time_s"], 1),
            "videos_skipped": run["videos_skipped"], "bad_videos": run["bad_videos"][:20],
            "val_videos": run["val_videos"], "recipe": cfg["meta"]["recipe"],
            "places": " ".join(f"{s}{b}" for s, b in ins["stages"].items()) if ins["module"] else "",
            # How it was trained: processes, global batch, and the lr after linear scaling.
            "world_size": run["world_size"], "global_batch": run["global_batch"], "lr": run["lr"],
            "lr_scale_batch": cfg["train"]["lr_scale_batch"], "amp": run["amp"],
            "channels_last": run["channels_last"], "weights": weights, "dataset_fingerprint": data_fp,
            # Per-video class scores, for ensembles (not committed: runs/ is gitignored).
            "scores_file": str(scores_file)})
    # Which epoch the row's number is (eval.checkpoint), both epochs' numbers, and every epoch's.
    result = {"table": table, "row": unit.row, "seed": unit.seed, "metrics": run["metrics"],
              "checkpoint": run["checkpoint"], "checkpoints": run["checkpoints"],
              "history": run["history"], "provenance": prov.to_dict(), "config": cfg}
    if W.is_main:
        # Scores first: a result never points at a scores file that was not written.
        save_scores(scores_file, run["scores"], run["labels"],
                    [getattr(val_ds.records[i], "video_id", str(i)) for i in run["index"]], h,
                    table=table, row=unit.row, profile=unit.profile, views=prov.views,
                    average=cfg["eval"]["average"], frames=prov.frames, dataset=prov.dataset, epochs=prov.epochs,
                    info={k: info[k] for k in ("families", "reversal_pairs") if info.get(k)})
        write_result(result, out, dirs.results)
    return {"status": "trained", "result": result, "path": str(out)}


def summary_line(table: str, key: str, result: dict, path: str) -> str:
    m, p = result["metrics"], result["provenance"]
    extra = f", reversal pairs {m['reversal_pairs']:.1f}" if m.get("reversal_pairs") is not None else ""
    return (f"[{table}] {key}: top1 {m['top1']:.1f}, top5 {m['top5']:.1f}{extra} "
            f"({p.get('wall_time_s', 0):.0f} s) -> {path}")
