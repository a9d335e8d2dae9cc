"""Test a trained row's checkpoint again, under another test protocol.

An ensemble row may test its members at views other than their own: GTA_En averages the 8- and
16-frame models at 3 crops x 2 clips (TSM's "accurate" protocol) while the members' own numbers
are 1 clip x 1 crop. Nothing is trained again: the checkpoint the member's own number comes from
(its ``eval.checkpoint``, ``best.pt`` or ``last.pt`` in its run folder) is loaded, checked
against the member's current config, and tested. The scores are kept beside the member's own as
``scores-<protocol hash>.pt``, so a second ensemble run reads them instead of testing again.
"""
from __future__ import annotations

from pathlib import Path

import torch

from repro.config.loader import config_hash, deep_merge, resolve, seed_override
from repro.data.dataset import with_eval_views
from repro.data.registry import num_classes
from repro.engine import distributed as D
from repro.engine.checkpoint import BEST, LAST, load_if_matching
from repro.engine.evaluate import eval_loader, evaluate
from repro.engine.inputs import amp_mode
from repro.errors import EnsembleError
from repro.models.build import build_from_config
from repro.results.scores import load_scores, save_scores, scores_path
from repro.run.datasets import load_datasets
from repro.run.unit import Dirs, Unit, run_folder

CHECKPOINT_FILES = {"best": BEST, "last": LAST}


def protocol_config(unit: Unit, eval_over: dict) -> tuple[object, dict, dict]:
    """``(spec, own config, protocol config)``: the unit's config and the same with the keys of
    ``eval_over`` replaced in its ``eval`` (checked like any config)."""
    spec, cfg = unit.config()
    over = deep_merge(seed_override(unit.seed, unit.overrides), {"eval": eval_over})
    return spec, cfg, resolve(spec, unit.row, unit.profile, over)


def checkpoint_file(run_dir: Path, cfg: dict) -> Path:
    """The checkpoint whose test is the row's own number (``eval.checkpoint``)."""
    return Path(run_dir) / CHECKPOINT_FILES[cfg["eval"]["checkpoint"]]


def retest(unit: Unit, eval_over: dict, dirs: Dirs, hint: str, progress: bool = True,
           say=print) -> dict:
    """Saved scores (:func:`repro.results.scores.load_scores`'s dict, plus ``scores_file`` and
    ``checkpoint``) of ``unit``'s checkpoint tested under its eval with ``eval_over`` replaced.

    The unit's own ``scores.pt`` when that changes nothing; else ``scores-<hash>.pt``, tested now
    if absent or stale. An EnsembleError (with ``hint``) when the checkpoint is missing or was
    trained for another config.
    """

    spec, cfg, pcfg = protocol_config(unit, eval_over)
    own, h = config_hash(cfg), config_hash(pcfg)
    run_dir = run_folder(dirs.runs, spec.key, unit.profile, unit.key, unit.variant(spec, cfg))
    ckpt = checkpoint_file(run_dir, cfg)
    if h == own:
        path = scores_path(run_dir)
        return {**load_scores(path, unit.row, own, hint), "scores_file": str(path), "checkpoint": str(ckpt)}
    path = run_dir / f"scores-{h}.pt"
    if path.is_file():
        try:
            return {**load_scores(path, unit.row, h), "scores_file": str(path), "checkpoint": str(ckpt)}
        except EnsembleError:
            pass  # stale or unreadable: test again below
    state = load_if_matching(ckpt, own)
    if state is None:
        why = "is missing" if not ckpt.is_file() else "was trained for another config"
        raise EnsembleError(f"row {unit.row!r}: checkpoint {ckpt} {why}, so it cannot be tested at "
                            f"this ensemble's views; {hint}")
    model = build_from_config(pcfg, num_classes(pcfg["data"]["dataset"]))
    model.load_state_dict(state["model"])
    t = score_model(model, pcfg, dirs, progress, f"{spec.key}/{unit.key} test",
                   lambda views: say(f"[{spec.key}] {unit.key}: testing {ckpt.name} (epoch {state.get('epoch')}) "
                                     f"at {views} views, average of {pcfg['eval']['average']}", flush=True))
    meta = dict(table=spec.key, row=unit.row, profile=unit.profile, views=t["views"],
                average=pcfg["eval"]["average"], frames=pcfg["model"]["frames"],
                dataset=pcfg["data"]["dataset"], epochs=pcfg["train"]["epochs"], checkpoint=str(ckpt),
                checkpoint_epoch=state.get("epoch"), info=t["info"])
    if D.world().is_main:
        save_scores(path, t["scores"], t["labels"], t["video_ids"], h, **meta)
    D.barrier()
    return {"scores": t["scores"].to(torch.float16).float(), "labels": t["labels"], "video_ids": t["video_ids"],
            "spec_hash": h, **meta, "scores_file": str(path)}


def score_model(model, cfg: dict, dirs: Dirs, progress: bool, desc: str, announce=None) -> dict:
    """Test ``model`` (weights loaded) on ``cfg``'s validation set with its test protocol.

    Returns ``scores``, ``labels``, ``video_ids``, ``views`` ("CxK"), ``loss``, ``skipped``,
    ``bad_videos``, ``info`` (class families and reversal pairs, for the metrics), ``device`` and
    ``data`` (the dataset root and the train and validation datasets).
    ``announce(views)`` is called once the views are known, before the pass.
    """
    ev = cfg["eval"]
    root, info, train_ds, val_ds = load_datasets(cfg, dirs, progress)
    test_ds = with_eval_views(val_ds, ev["clips"], ev["crops"], ev["resize"], ev["crop_size"], ev["clip_layout"],
                              ev["single_crop"])
    device = D.device()
    model.to(device)
    views = "{}x{}".format(*getattr(test_ds, "views", (1, 1)))
    if announce:
        announce(views)
    index: list[int] = []
    bad: list[str] = []
    scores, labels, skipped, loss = evaluate(model, eval_loader(test_ds, cfg), device, progress, f"{desc} {views}",
                                             float(cfg["data"]["max_bad_fraction"]), bad,
                                             amp=amp_mode(cfg["train"], device), video_index=index,
                                             average=ev["average"])
    return {"scores": scores, "labels": labels, "views": views, "loss": loss, "skipped": skipped,
            "bad_videos": bad, "device": str(device), "data": (root, train_ds, val_ds),
            "video_ids": [getattr(val_ds.records[i], "video_id", str(i)) for i in index],
            "info": {k: info[k] for k in ("families", "reversal_pairs") if info.get(k)}}
