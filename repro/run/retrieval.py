"""Retrieval rows (SSAN Tables 7-8): features of a trained classifier row, then the retrieval net.

A retrieval row names a classifier (``features: {table, row}``). Per seed its run is:

1. The classifier: the checkpoint of that row's run under the same profile and seed (its
   ``eval.checkpoint``), trained first by the run layer where missing (:func:`classifier_units`),
   or the ``--weights`` file as it is, never trained.
2. Features before its classifier layer for every training and test clip, cached per
   (checkpoint hash, clip list) under ``<cache>/features/`` (:mod:`repro.retrieval.features`).
3. The retrieval network of Miech et al. trained on them, and tested text to video.

The result is written like any row's, with the classifier, its checkpoint hash and the feature
cache in its provenance.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from repro.code_digest import model_code
from repro.config.loader import config_hash, load_spec
from repro.data.dataset import collate_clips
from repro.data.registry import num_classes
from repro.data.synthetic import default_cache_dir
from repro.engine.checkpoint import load_if_matching
from repro.engine.distributed import device
from repro.errors import TrainingError, UsageError, WeightsError
from repro.models.build import build_from_config
from repro.results.scores import file_hash
from repro.results.store import read_result, result_path, write_result
from repro.retrieval import videos as V
from repro.retrieval.config import classifier_overrides, resolve_retrieval
from repro.retrieval.features import dataset_key, extract
from repro.retrieval.probe import probe_queries
from repro.retrieval.train import diagonal_queries, run_network
from repro.retrieval.videos import SMOKE_WORD2VEC
from repro.run.provenance import Provenance, cpu_name
from repro.run.retest import checkpoint_file
from repro.run.unit import Dirs, Unit, finished, run_folder, run_hash, up_to_date, where

# The text-video network trained on the classifier's features: its code is in the result's identity.
RETRIEVAL_NETWORK = "repro.retrieval.model"


def classifier_unit(spec, row_id: str, profile: str, seed: int | None, overrides: dict,
                    set_args: tuple) -> Unit:
    """The classifier row's unit under the same profile, seed and (non-retrieval) ``--set``."""
    src = spec.row(row_id).features
    path = load_spec(src["table"]).path
    return Unit(str(path), src["row"], profile, seed, classifier_overrides(overrides),
                tuple(s for s in set_args if not s.startswith("retrieval.")))


def checkpoint_of(unit: Unit, dirs: Dirs) -> tuple[Path, dict | None]:
    """The classifier unit's checkpoint file (its ``eval.checkpoint``) and its state if it was
    trained for the unit's current config, else None."""
    spec, cfg = unit.config()
    ckpt = checkpoint_file(run_folder(dirs.runs, spec.key, unit.profile, unit.key, unit.variant(spec, cfg)), cfg)
    state = load_if_matching(ckpt, config_hash(cfg))
    return (ckpt, state) if state is not None else (_twin_checkpoint(unit, dirs, cfg) or (ckpt, None))


def _twin_checkpoint(unit: Unit, dirs: Dirs, cfg: dict) -> tuple[Path, dict] | None:
    """Where the unit's result was copied from another table's identical run (``reused_from``;
    e.g. ssa_table4's synthetic ssa_8f is probe_modules' ssa), that run's checkpoint, if it is
    still the one that run's result was made from."""
    try:
        own = read_result(where(unit, dirs)[4])
        src_table, src_key = (own or {}).get("provenance", {}).get("reused_from", "/").split("/", 1)
        src = read_result(result_path(dirs.results, src_table, unit.profile, src_key)) if src_table else None
    except ValueError:
        return None
    if not src or src["provenance"].get("run_hash") != run_hash(cfg):
        return None
    ckpt = checkpoint_file(run_folder(dirs.runs, src_table, unit.profile, src_key), src["config"])
    state = load_if_matching(ckpt, src["provenance"]["spec_hash"])
    return (ckpt, state) if state is not None else None


def needs_training(unit: Unit, dirs: Dirs) -> bool:
    """A classifier must be trained when it is not a published file and has no checkpoint."""
    _, cfg = unit.config()
    return not cfg["model"]["weights"] and checkpoint_of(unit, dirs)[1] is None


def classifier_units(plans: list, opts, say=print, all_rows: bool = False) -> list[Unit]:
    """Classifier units that retrieval rows of ``plans`` need trained, once each: those of rows
    without an up-to-date result (``all_rows``: of every row, for --extract-features). One
    whose result exists without its checkpoint (a fresh clone: runs/ is not committed) is
    retrained (``retrain``): features need its weights."""

    out: dict[tuple, Unit] = {}
    for p in plans:
        for row_id in p.retrievals:
            for s in p.seeds:
                if not all_rows and where_result(p.spec, row_id, p.profile, s, opts.overrides, opts.dirs,
                                                 opts.force)[3] is not None:
                    continue  # this row and seed is done: its classifier is not needed
                u = classifier_unit(p.spec, row_id, p.profile, s, opts.overrides, opts.set_args)
                k = (u.spec, u.row, u.seed)
                if k in out or not needs_training(u, opts.dirs):
                    continue
                if finished(u, opts.dirs, False):
                    say(f"[{p.spec.key}] {row_id}: classifier {u.row}.{u.key} has a result but no checkpoint "
                        "in runs/; training it again for its features", flush=True)
                    u = replace(u, retrain=True)
                out[k] = u
    return list(out.values())


def _seedless(cfg: dict) -> str:
    """A retrieval variant's folder: its config hash without the seeds, so its seeds share it."""
    clf = cfg["classifier"]
    return config_hash({**cfg, "seed": None, "classifier": {**clf, "train": {**clf["train"], "seed": None}}})


def where_result(spec, row_id: str, profile: str, seed: int | None, overrides: dict, dirs: Dirs,
                 force: bool = False) -> tuple[dict, str, Path, dict | None]:
    """``(config, spec hash, result path, up-to-date result or None)`` of a retrieval row and seed;
    a ``--set`` run that changes the config lives under ``variants/<hash>/``."""
    cfg = resolve_retrieval(spec, row_id, profile, seed, overrides)
    h = config_hash(cfg)
    own = config_hash(resolve_retrieval(spec, row_id, profile, seed, {})) if overrides else h
    out = result_path(dirs.results, spec.key, profile, Unit(str(spec.path), row_id, profile, seed).key,
                      None if h == own else _seedless(cfg))
    return cfg, h, out, up_to_date(out, h, force)


def run_retrieval(spec, row_id: str, profile: str, seed: int | None, overrides: dict, set_args: tuple,
                  dirs: Dirs, force: bool = False, say=print, progress: bool = True,
                  extract_only: bool = False) -> dict:
    """Extract features and train and test the retrieval network of one row and seed; writes
    its result (``extract_only``: the features only). Returns ``{"status", "result", "path"}``."""
    cfg, h, out, old = where_result(spec, row_id, profile, seed, overrides, dirs, force)
    table, key = spec.key, Unit(str(spec.path), row_id, profile, seed).key
    if old and not extract_only:
        say(f"[{table}] {key}: result exists for spec hash {h}, skipped (--force to re-run)", flush=True)
        return {"status": "skipped", "result": old, "path": str(out)}
    t0 = time.time()
    unit = classifier_unit(spec, row_id, profile, seed, overrides, set_args)
    model, source = load_classifier(unit, cfg, dirs, say)
    settings = cfg["retrieval"]
    torch.set_num_threads(int(cfg["classifier"]["train"]["threads"] or torch.get_num_threads()))
    data = retrieval_data(cfg, dirs, progress)
    feats, cache, bad = {}, {}, []
    for side in ("train", "test"):
        split = getattr(data, side)
        folder = feature_folder(dirs, source["model_key"], data.name, side, split.ids)
        say(f"[{table}] {key}: features of {len(split.ids)} {side} clips from {cfg['features']['table']}/"
            f"{unit.key} -> {folder}",
            flush=True)
        arr, missing = _extract(model, split, settings["batch_clips"], cfg["classifier"], folder, progress)
        feats[side], cache[side], bad = torch.from_numpy(np.asarray(arr, dtype=np.float32)), str(folder), bad + missing
    limit = float(cfg["classifier"]["data"]["max_bad_fraction"])
    total = len(data.train.ids) + len(data.test.ids)
    if bad and len(bad) > limit * total:
        raise TrainingError(f"{len(bad)} of {total} videos could not be read (more than data.max_bad_fraction "
                            f"{limit}); e.g. {bad[0]}")
    if extract_only:
        return {"status": "extracted", "features": cache, "result": None, "path": None}

    # The smoke layouts bring their own tiny word2vec file; the paper profile needs the user's.
    word2vec = check_word_vectors(spec, row_id, cfg) or (str(data.root / SMOKE_WORD2VEC)
                                                          if settings["word_vectors"] == "word2vec" else None)
    say(f"[{table}] {key}: training the retrieval network ({settings['text_encoder']} text encoder, "
        f"d={settings['embed_dim']}, {settings['epochs']} epochs)", flush=True)
    queries = (probe_queries(data.test.entries, cfg["seed"]) if data.name == "synthetic"
               else diagonal_queries(data.test.captions))
    metrics, history, info = run_network(settings, data, feats["train"], feats["test"], word2vec, cfg["seed"],
                                         queries, progress)
    clf = cfg["classifier"]
    prov = Provenance(
        spec_hash=h, profile=profile, dataset=data.name + (f" ({data.root.name})" if data.name == "synthetic" else ""),
        split=spec.split if data.name != "synthetic" else "val", frames=clf["model"]["frames"],
        views=f"1x1 ({clf['eval']['crop_size']} centre crop)", epochs=settings["epochs"], seed=cfg["seed"],
        device=str(next(model.parameters()).device), wall_time_s=round(time.time() - t0, 1), overrides=list(set_args),
        code=model_code(model, also=[RETRIEVAL_NETWORK]),
        extra={"threads": torch.get_num_threads(), "cpu": cpu_name(), "classifier": source["summary"],
               "features": {**cache, "dim": int(feats["train"].shape[1]), "pooling": source["pooling"]},
               "videos_skipped": len(bad), "bad_videos": bad[:20], "val_videos": len(data.test.ids),
               "train_videos": len(data.train.ids), "word_vectors": settings["word_vectors"],
               "word2vec": word2vec if settings["word_vectors"] == "word2vec" else None, **info})
    result = {"table": table, "row": row_id, "seed": seed, "metrics": metrics, "retrieval_history": history,
              "provenance": prov.to_dict(), "config": cfg}
    write_result(result, out, dirs.results)
    return {"status": "trained", "result": result, "path": str(out)}


def check_word_vectors(spec, row_id: str, cfg: dict) -> str | None:
    """The word2vec file a row reads (None: learned vectors, or the smoke layout's own file);
    a UsageError when word2vec vectors are asked for and no readable file is given."""
    s = cfg["retrieval"]
    if s["word_vectors"] != "word2vec" or (cfg["data"]["smoke"] and not s["word2vec"]):
        return None
    if not s["word2vec"]:
        raise UsageError(f"{spec.path}: row {row_id!r} uses word2vec word vectors: give the file with "
                         "--set retrieval.word2vec=PATH (GoogleNews-vectors-negative300.bin, as HowTo100M) "
                         "or REPRO_WORD2VEC=PATH, or use --profile synthetic")
    if not Path(s["word2vec"]).is_file():
        raise UsageError(f"retrieval.word2vec {s['word2vec']}: no such file; give the word2vec binary "
                         "(GoogleNews-vectors-negative300.bin)")
    return s["word2vec"]


def summary_line(table: str, result: dict, path: str) -> str:
    m, p = result["metrics"], result["provenance"]
    key = result["row"] if result["seed"] is None else f"{result['row']}.seed{result['seed']}"
    order = f", order-only R@1 {m['order_only_r@1']:.1f}" if m.get("order_only_r@1") is not None else ""
    return (f"[{table}] {key}: R@1 {m['r@1']:.1f}, R@5 {m['r@5']:.1f}, R@10 {m['r@10']:.1f}, "
            f"median rank {m['median_rank']:g}{order} ({p['wall_time_s']:.0f} s) -> {path}")


def load_classifier(unit: Unit, cfg: dict, dirs: Dirs, say=print) -> tuple[torch.nn.Module, dict]:
    """The classifier model with its weights, and what identifies it: ``model_key`` (hash of the
    weights file), ``summary`` (for the provenance) and ``pooling``."""
    clf = cfg["classifier"]
    model = build_from_config(clf, num_classes(clf["data"]["dataset"]))
    summary = {"table": cfg["features"]["table"], "row": unit.row, "seed": unit.seed}
    if clf["model"]["weights"]:
        from repro.run.weights import load_weights

        # Features are taken before the classifier, so a checkpoint of another head count serves.
        info = load_weights(model, clf, trunk_only=True, say=say)
        path = Path(clf["model"]["weights"])
        summary.update(weights=str(path), weights_sha256=file_hash(path), load=info)
        key = file_hash(path)
    else:
        ckpt, state = checkpoint_of(unit, dirs)
        if state is None:
            raise WeightsError(f"classifier {unit.row} (seed {unit.seed}): checkpoint {ckpt} is "
                               f"{'missing' if not ckpt.is_file() else 'from another config'}; run the "
                               "table again (its classifier is trained first) or give --weights")
        model.load_state_dict(state["model"])
        key = file_hash(ckpt)
        _, _, _, _, res_path = where(unit, dirs)
        try:
            res = read_result(res_path)
        except ValueError:
            res = None
        summary.update(checkpoint=str(ckpt), checkpoint_sha256=key, checkpoint_epoch=state.get("epoch"),
                       spec_hash=state.get("config_hash"),
                       top1=(res or {}).get("metrics", {}).get("top1"), result=str(res_path) if res else None)
    model.to(device())
    pooling = ("input of the last linear layer; frame features averaged over the clip where the "
               "model classifies frames (TSN consensus); one clip, centre crop")
    return model, {"model_key": key[:16], "summary": summary, "pooling": pooling}


def retrieval_data(cfg: dict, dirs: Dirs, progress: bool):
    """:class:`repro.retrieval.videos.RetrievalData` of a retrieval config."""
    clf = cfg["classifier"]
    if cfg["data"]["dataset"] == "synthetic":
        from repro.run.datasets import load_datasets

        root, _, train_ds, val_ds = load_datasets(clf, dirs, progress)
        train, test = V.synthetic_splits(clf, root, train_ds, val_ds, cfg["seed"])
        return V.RetrievalData("synthetic", root, train, test)
    name = cfg["data"]["dataset"]
    root = V.retrieval_root(name, dirs.data_roots, cfg["data"]["smoke"], dirs.cache)
    train, test = V.load(name, root, clf)
    return V.RetrievalData(name, root, train, test)


def feature_folder(dirs: Dirs, model_key: str, dataset: str, side: str, ids: list[str]) -> Path:
    """``<cache>/features/<model key>/<dataset>-<side>-<clip list key>``."""
    base = Path(dirs.cache) if dirs.cache else default_cache_dir()
    return base / "features" / model_key / f"{dataset}-{side}-{dataset_key(ids)}"


def _extract(model, split, batch: int, clf: dict, folder: Path, progress: bool):

    workers = int(clf["data"]["num_workers"])
    loader = DataLoader(split.clips, batch_size=batch, shuffle=False, num_workers=workers,
                        collate_fn=collate_clips, persistent_workers=False)
    with torch.no_grad():
        return extract(model, iter(loader), len(split.ids), folder, progress)
