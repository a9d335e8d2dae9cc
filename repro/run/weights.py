"""Published checkpoints in a run: start a row from one (``model.weights``, ``--weights``) or
test one with the row's own test protocol (``--eval-only --weights``), with the file's sha256 in
the result so that two users can tell whether they used the same file.

An evaluated checkpoint is not this harness's training: its result goes to
``results/<table>/<profile>/checkpoints/<row>.<sha256[:12]>.json``, apart from trained results,
and reports list it as "published checkpoint, evaluated here".
"""
from __future__ import annotations

import time
from pathlib import Path

from repro.code_digest import model_code
from repro.config.loader import config_hash
from repro.convert import convert_checkpoint, guess_source, pyslowfast, read_checkpoint
from repro.data.fingerprint import fingerprint, sha256
from repro.data.registry import num_classes
from repro.engine import distributed as D
from repro.engine.metrics import summarize
from repro.errors import WeightsError
from repro.models.build import build_from_config
from repro.results.store import checkpoint_result_path, short_path, write_result
from repro.run.provenance import Provenance
from repro.run.retest import score_model
from repro.run.unit import Dirs, Unit

def load_weights(model, cfg: dict, trunk_only: bool = True, say=print) -> dict:
    """Load ``cfg['model']['weights']`` into ``model`` (converted from its publisher's layout);
    returns what went in: file, sha256, source. ``trunk_only`` leaves the classifier and the
    inserted modules at their init (a new dataset or a new module); else the whole model must
    come from the file (an evaluation)."""
    path = Path(cfg["model"]["weights"])
    if not path.is_file():
        raise WeightsError(f"model.weights (--weights): {path} is not a file; give the path of a "
                           "downloaded checkpoint (.pth, .pth.tar, .pyth or Caffe2 .pkl)")
    ckpt = read_checkpoint(path)
    source = cfg["model"]["weights_source"]
    if source is None:
        source = guess_source(ckpt)
        say(f"{path.name}: guessed {source!r} from its keys (set model.weights_source to choose)", flush=True)
    state = convert_checkpoint(ckpt, source, model=model, trunk_only=trunk_only,
                               say=lambda m: say(f"{path.name}: {m}", flush=True))
    model.load_state_dict(state, strict=not trunk_only)
    out = {"file": str(path), "sha256": sha256(path), "source": source,
           "loaded": "trunk" if trunk_only else "all", "tensors": len(state)}
    if not trunk_only:  # tested as published: the input statistics the weights were trained with
        stats = publisher_input_stats(source)
        if stats and stats != getattr(model, "input_stats", None):
            say(f"{path.name}: normalising the input with {source}'s statistics (mean {stats[0][0]}, "
                f"std {stats[1][0]}) instead of the row's data.mean/data.std", flush=True)
            model.input_stats = stats
    if getattr(model, "input_stats", None):
        out["input_stats"] = {"mean": list(model.input_stats[0]), "std": list(model.input_stats[1])}
    return out


def publisher_input_stats(source: str) -> tuple | None:
    """``(mean, std)`` a publisher's weights expect, where it is not ImageNet's (PySlowFast)."""
    return pyslowfast.INPUT_STATS if source == pyslowfast.NAME else None


def evaluate_checkpoint(unit: Unit, dirs: Dirs, progress: bool = True, say=print) -> dict:
    """Test the checkpoint of ``unit``'s ``model.weights`` with the row's test protocol and
    write its result (nothing is trained)."""
    spec, cfg = unit.config()
    if not cfg["model"]["weights"]:
        raise WeightsError("--eval-only tests a published checkpoint: give it with --weights PATH")
    t0 = time.time()
    model = build_from_config(cfg, num_classes(cfg["data"]["dataset"]))
    weights = load_weights(model, cfg, trunk_only=False, say=say)
    t = score_model(model, cfg, dirs, progress, f"{spec.key}/{unit.row} checkpoint",
                   lambda views: say(f"[{spec.key}] {unit.row}: evaluating {Path(weights['file']).name} "
                                     f"({weights['source']}) at {views} views", flush=True))
    metrics = {**summarize(t["scores"], t["labels"], t["info"]), "val_loss": t["loss"]}
    prov = Provenance(
        spec_hash=config_hash(cfg), profile=unit.profile, dataset=cfg["data"]["dataset"], split=spec.split,
        frames=cfg["model"]["frames"], views=t["views"], epochs="", seed="", device=t["device"],
        wall_time_s=round(time.time() - t0, 1), overrides=list(unit.set_args), code=model_code(model),
        extra={"kind": "published checkpoint, evaluated here", "weights": weights,
               "val_videos": int(len(t["labels"])), "videos_skipped": t["skipped"],
               "bad_videos": t["bad_videos"][:20], "dataset_fingerprint": fingerprint(*t["data"])})
    result = {"table": spec.key, "row": unit.row, "seed": None, "metrics": metrics,
              "provenance": prov.to_dict(), "config": cfg}
    out = checkpoint_result_path(dirs.results, spec.key, unit.profile, unit.row, weights["sha256"])
    if D.world().is_main:
        write_result(result, out, dirs.results)
    say(f"[{spec.key}] {unit.row}: checkpoint top1 {metrics['top1']:.1f}, top5 {metrics['top5']:.1f} "
        f"-> {short_path(out)}",
        flush=True)
    return result
