"""Train one unit: skip it when its result is up to date, copy it from an identical run of
another table, or prepare the data, build the model, fit it and write the result with its
provenance (scores first, then the result file, both atomically).
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch

from repro.code_digest import model_code
from repro.data.dataset import with_eval_views
from repro.data.fingerprint import fingerprint
from repro.data.registry import num_classes
from repro.engine import distributed as D
from repro.engine.inputs import seed_everything
from repro.engine.runlog import LOG_FILE
from repro.engine.train import fit
from repro.errors import SpecError
from repro.models.build import build_from_config, load_imagenet
from repro.results.scores import save_scores, scores_path
from repro.results.store import short_path, write_result
from repro.run.datasets import load_datasets
from repro.run.provenance import Provenance, cpu_name
from repro.run.unit import Dirs, Unit, changed_code, find_twin, run_folder, run_hash, up_to_date, where
from repro.run.weights import load_weights


def run_unit(unit: Unit, dirs: Dirs, force: bool = False, progress: bool = True,
             say=print, position: str = "", copy_twins: bool | None = None) -> dict:
    """Train and evaluate one unit, write its result; returns ``{"status", "result", "path"}``.

    ``status`` is ``skipped`` when an up-to-date result exists (unless ``force``), ``reused``
    when another table's result with the same config and seed was copied (``copy_twins``,
    default: unless ``force``), else ``trained``.
    """
    spec, cfg, h, variant, out = where(unit, dirs)
    force = force or unit.retrain
    done = _done_already(unit, dirs, spec, cfg, h, out, force, copy_twins, say, position)
    if done is not None:
        return done
    run_dir = run_folder(dirs.runs, spec.key, unit.profile, unit.key, variant)
    if force and D.world().is_main:
        shutil.rmtree(run_dir, ignore_errors=True)  # --force retrains rather than resuming
    D.barrier()  # no rank may load the checkpoint that --force is removing
    run, data, weights, t0 = _train(unit, dirs, spec, cfg, h, run_dir, progress, say, position)
    result = {"table": spec.key, "row": unit.row, "seed": unit.seed, "metrics": run["metrics"],
              "checkpoint": run["checkpoint"], "checkpoints": run["checkpoints"], "history": run["history"],
              "provenance": _provenance(unit, spec, cfg, h, run, data, weights, run_dir, t0).to_dict(),
              "config": cfg}
    if D.world().is_main:
        _write(unit, spec, cfg, h, run, data, result, out, dirs, run_dir)
    return {"status": "trained", "result": result, "path": str(out)}


def _done_already(unit: Unit, dirs: Dirs, spec, cfg: dict, h: str, out: Path, force: bool,
                  copy_twins: bool | None, say, position: str) -> dict | None:
    """The skipped or reused outcome of :func:`run_unit`, or None when the unit must train."""
    old = up_to_date(out, h, force)
    if old:
        say(f"[{spec.key}] {position}{unit.key}: result exists for spec hash {h}, skipped "
            f"(--force to re-run)", flush=True)
        return {"status": "skipped", "result": old, "path": str(out)}
    changed = [] if force else changed_code(out, h)
    if changed:
        say(f"[{spec.key}] {position}{unit.key}: same config, but the code of its model changed since its "
            f"result ({'; '.join(changed)}): re-running", flush=True)
    copy_twins = (not force) if copy_twins is None else copy_twins
    twin = find_twin(Path(dirs.results), unit.profile, run_hash(cfg), out) if copy_twins else None
    if twin is None:
        return None
    result = _copy_twin(unit, spec, cfg, h, twin)
    if D.world().is_main:
        write_result(result, out, dirs.results)
    say(f"[{spec.key}] {position}{unit.key}: same config and seed as {twin[1]['table']}/{twin[0].stem}: "
        f"result copied from {twin[0]}", flush=True)
    return {"status": "reused", "result": result, "path": str(out)}


def _copy_twin(unit: Unit, spec, cfg: dict, h: str, twin: tuple[Path, dict]) -> dict:
    # Another table has a row with this exact config and seed (e.g. GTA's +SA+GTA is Figure 3's
    # +GTA): its training would be repeated bit for bit, so its result is copied and says where
    # it came from.
    src_path, src = twin
    return {**src, "table": spec.key, "row": unit.row, "seed": unit.seed,
            "provenance": {**src["provenance"], "spec_hash": h, "overrides": list(unit.set_args),
                           "reused_from": f"{src['table']}/{src_path.stem}"},
            "config": cfg}


def _train(unit: Unit, dirs: Dirs, spec, cfg: dict, h: str, run_dir: Path, progress: bool, say,
           position: str) -> tuple[dict, tuple, dict | None, float]:
    """Data, model and :func:`repro.engine.train.fit`; returns (fit's dict, (root, info, val_ds,
    data fingerprint), the published weights loaded or None, the time the run started once its
    data was ready)."""

    if cfg["train"]["threads"]:
        torch.set_num_threads(int(cfg["train"]["threads"]))
    root, info, train_ds, val_ds = load_datasets(cfg, dirs, progress)
    test_ds, val_ds = _views(unit, spec, cfg, val_ds)
    t0 = time.time()
    model, weights = _build(cfg, say)
    code = model_code(model)  # before fit: BatchNorm groups and DDP wrap it in engine classes
    say(f"[{spec.key}] {position}{unit.key}: fingerprinting the dataset copy (annotation hashes, "
        f"{len(train_ds) + len(val_ds)} listed videos, a sample of validation videos)", flush=True)
    data_fp = fingerprint(root, train_ds, val_ds)
    say(f"[{spec.key}] {position}{unit.key}: training ({cfg['train']['epochs']} epochs, "
        f"{len(train_ds)} train / {len(val_ds)} val videos; log: {short_path(run_dir / LOG_FILE)})", flush=True)
    run = fit(model, cfg, train_ds, val_ds, info, run_dir, h, progress, desc=f"{spec.key}/{unit.key}",
              test_ds=test_ds)
    run["code"] = code
    return run, (root, info, val_ds, data_fp), weights, t0


def _views(unit: Unit, spec, cfg: dict, val_ds) -> tuple:
    """(the row's test set at its test protocol, the 1-view validation set of every epoch); the
    prepared dataset is shared by rows and stays as it is."""
    ev = cfg["eval"]
    try:
        test_ds = with_eval_views(val_ds, ev["clips"], ev["crops"], ev["resize"], ev["crop_size"],
                                  ev["clip_layout"], ev["single_crop"])
        return test_ds, with_eval_views(val_ds, 1, 1, ev["resize"], ev["crop_size"])
    except ValueError as e:
        raise SpecError(spec.path, [f"row {unit.row!r} eval: {e}"]) from e


def _build(cfg: dict, say) -> tuple:
    """The row's model at its seed's init, with ImageNet or published weights where asked."""
    seed_everything(cfg["train"]["seed"])  # model init depends on the seed too
    model = build_from_config(cfg, num_classes(cfg["data"]["dataset"]))
    if cfg["model"]["backbone"]["pretrained"] == "imagenet":
        load_imagenet(model)
    weights = None
    if cfg["model"]["weights"]:  # a published checkpoint (e.g. Kinetics) under the fresh head
        weights = load_weights(model, cfg, trunk_only=True, say=say)
    return model, weights


def _provenance(unit: Unit, spec, cfg: dict, h: str, run: dict, data: tuple, weights: dict | None,
                run_dir: Path, t0: float) -> Provenance:
    """Where a trained result came from: config hash, data, device, timings and how it trained."""

    root, _, _, data_fp = data
    synthetic = cfg["data"]["dataset"] == "synthetic"
    ins, cpu = cfg["model"]["insert"], run["device"] == "cpu"
    return Provenance(
        spec_hash=h, profile=unit.profile,
        dataset=cfg["data"]["dataset"] + (f" ({root.name})" if synthetic else ""), split=spec.split,
        frames=cfg["model"]["frames"], views="{}x{}".format(*run["views"]), epochs=cfg["train"]["epochs"],
        seed=cfg["train"]["seed"], device=run["device"], wall_time_s=round(time.time() - t0, 1),
        overrides=list(unit.set_args), code=run["code"],
        extra={
            "run_hash": run_hash(cfg), "threads": torch.get_num_threads() if cpu else None,
            "cpu": cpu_name() if cpu else None,
            "train_time_s": round(run["train_time_s"], 1), "eval_time_s": round(run["eval_time_s"], 1),
            "videos_skipped": run["videos_skipped"], "bad_videos": run["bad_videos"][:20],
            "val_videos": run["val_videos"], "recipe": cfg["meta"]["recipe"],
            "places": " ".join(f"{s}{b}" for s, b in ins["stages"].items()) if ins["module"] else "",
            # How it was trained: processes, global batch, and the lr after linear scaling.
            "world_size": run["world_size"], "global_batch": run["global_batch"], "lr": run["lr"],
            "lr_scale_batch": cfg["train"]["lr_scale_batch"], "amp": run["amp"],
            "channels_last": run["channels_last"], "weights": weights, "dataset_fingerprint": data_fp,
            # Per-video class scores, for ensembles (not committed: runs/ is gitignored).
            "scores_file": str(scores_path(run_dir))})


def _write(unit: Unit, spec, cfg: dict, h: str, run: dict, data: tuple, result: dict, out: Path,
           dirs: Dirs, run_dir: Path) -> None:
    """Scores first, then the result: a result never points at a scores file that was not written."""
    _, info, val_ds, _ = data
    prov = result["provenance"]
    save_scores(scores_path(run_dir), run["scores"], run["labels"],
                [getattr(val_ds.records[i], "video_id", str(i)) for i in run["index"]], h,
                table=spec.key, row=unit.row, profile=unit.profile, views=prov["views"],
                average=cfg["eval"]["average"], frames=prov["frames"], dataset=prov["dataset"],
                epochs=prov["epochs"], info={k: info[k] for k in ("families", "reversal_pairs") if info.get(k)})
    write_result(result, out, dirs.results)
