"""Ensemble rows (SSA_En, TSM_En, GTA_En, RSA 8+16): the average of their members' saved scores.

An ensemble trains nothing. It loads each member's ``scores.pt`` (:mod:`repro.results.scores`),
checks that they come from the members' current configs and score the same videos with the same
labels, averages them and writes a result like any row's, with its members in the provenance.
A row's ``member_eval`` gives the members another test protocol for the ensemble (views, and
``average``: softmax or logits, what is averaged): their checkpoints are then tested again
(:mod:`repro.run.retest`).
"""
from __future__ import annotations

import torch

from repro.config.loader import config_hash, ensemble_hash
from repro.engine import distributed as D
from repro.engine.metrics import summarize
from repro.errors import EnsembleError
from repro.results.scores import file_hash, save_scores, scores_path
from repro.results.store import read_result, result_path, short_path, write_result
from repro.run.provenance import Provenance
from repro.run.retest import protocol_config, retest
from repro.run.unit import Dirs, Unit, run_folder, up_to_date


def average(members: dict[str, dict]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Mean of the members' scores (float32), their common labels and video ids.

    Members must list the same videos in the same order with the same labels: a member that
    skipped an unreadable video, or ran on another split, is refused rather than misaligned.
    """
    names = list(members)
    first = members[names[0]]
    for name in names[1:]:
        m = members[name]
        rules = (first.get("average", "softmax"), m.get("average", "softmax"))
        if rules[0] != rules[1]:
            raise EnsembleError(f"rows {names[0]!r} and {name!r} saved scores of different kinds "
                                f"({rules[0]} and {rules[1]}); give them one eval.average (or set "
                                "member_eval.average on the ensemble row)")
        if m["video_ids"] != first["video_ids"]:
            a, b = set(first["video_ids"]), set(m["video_ids"])
            diff = sorted(a ^ b)[:3]
            raise EnsembleError(
                f"rows {names[0]!r} and {name!r} scored different videos ({len(a)} vs {len(b)}; "
                f"e.g. {diff or 'same set, other order'}); re-run them on the same split so that "
                "every video is scored by both")
        if not torch.equal(m["labels"], first["labels"]):
            raise EnsembleError(f"rows {names[0]!r} and {name!r} disagree on the labels of the same "
                                "videos (another label order?); re-run them with the same data config")
        if m["scores"].shape != first["scores"].shape:
            raise EnsembleError(f"rows {names[0]!r} and {name!r} have scores of shapes "
                                f"{tuple(first['scores'].shape)} and {tuple(m['scores'].shape)}")
    mean = torch.stack([members[n]["scores"].float() for n in names]).mean(0)
    return mean, first["labels"], list(first["video_ids"])


def _members_code(paths) -> dict:
    """The code of every member's model: an ensemble is current only while all of it is."""
    code: dict = {}
    for path in paths:
        res = read_result(path) if path.is_file() else None
        code.update((res or {}).get("provenance", {}).get("code") or {})
    return dict(sorted(code.items()))


def run_ensemble(spec, row_id: str, profile: str, seed: int | None, overrides: dict, set_args: tuple,
                 dirs: Dirs, force: bool, say=print, progress: bool = True) -> dict:
    """Average the saved scores of an ensemble row's members and write its result like any row's."""
    table, row = spec.key, spec.row(row_id)
    units = {m: Unit(str(spec.path), m, profile, seed, overrides, set_args) for m in row.ensemble}
    hashes, variants, results = {}, {}, {}
    for m, unit in units.items():
        _, cfg, _ = protocol_config(unit, row.member_eval or {})
        hashes[m] = config_hash(cfg)
        variants[m] = unit.variant(spec, cfg)
        results[m] = result_path(dirs.results, table, profile, unit.key, variants[m])
    h = ensemble_hash(hashes, row.member_eval)
    key = Unit(str(spec.path), row_id, profile, seed).key
    # Members' variants make a variant ensemble, keyed by theirs (seed-free: its seeds share a folder).
    variant = config_hash({"ensemble_of": variants}) if any(variants.values()) else None
    out = result_path(dirs.results, table, profile, key, variant)
    old = up_to_date(out, h, force)
    if old:
        say(f"[{table}] {key}: ensemble result exists for spec hash {h}, skipped (--force to re-run)", flush=True)
        return old
    sets = "".join(f" --set {x}" for x in set_args)
    seed_arg = f" --seeds {seed}" if seed is not None else ""
    members = {}
    for m, unit in units.items():
        hint = (f"run its member first: run_all.py --table {spec.path if not spec.builtin else table} "
                f"--rows {m} --profile {profile}{seed_arg}{sets} --force (the ensemble {row_id!r} needs it)")
        members[m] = retest(unit, row.member_eval or {}, dirs, hint, progress, say)
    files = {m: members[m]["scores_file"] for m in units}
    try:
        scores, labels, ids = average(members)
    except EnsembleError as e:
        raise EnsembleError(f"{spec.path}: ensemble row {row_id!r}: {e}") from e
    first = members[row.ensemble[0]]
    metrics = summarize(scores, labels, first.get("info") or {})
    distinct = lambda k: "+".join(dict.fromkeys(str(members[m].get(k, "")) for m in row.ensemble))  # noqa: E731
    scores_file = scores_path(run_folder(dirs.runs, table, profile, key, variant))
    prov = Provenance(
        spec_hash=h, profile=profile, dataset=first.get("dataset", ""), split=spec.split,
        frames="+".join(str(members[m].get("frames", "")) for m in row.ensemble), views=distinct("views"),
        epochs=distinct("epochs"), seed="" if seed is None else seed, device="cpu", wall_time_s=0.0,
        overrides=list(set_args), code=_members_code(results.values()),
        extra={"val_videos": len(ids), "ensemble": list(row.ensemble), "scores_file": str(scores_file),
               "average": first.get("average", "softmax"),
               "members": {m: {"spec_hash": hashes[m], "scores_file": str(files[m]),
                               "scores_sha256": file_hash(files[m]),
                               "checkpoint": members[m].get("checkpoint"),
                               "views": members[m].get("views"),
                               "result_sha256": file_hash(results[m]) if results[m].is_file() else None}
                           for m in row.ensemble}})
    result = {"table": table, "row": row_id, "seed": seed, "metrics": metrics, "provenance": prov.to_dict(),
              "config": {"ensemble": list(row.ensemble), "member_spec_hashes": hashes,
                         "member_eval": row.member_eval}}
    if D.world().is_main:
        save_scores(scores_file, scores, labels, ids, h, table=table, row=row_id, profile=profile,
                    views=prov.views, average=first.get("average", "softmax"), frames=prov.frames,
                    dataset=prov.dataset, epochs=prov.epochs, info=first.get("info"))
        write_result(result, out, dirs.results)
    say(f"[{table}] {key}: ensemble of {', '.join(row.ensemble)}: top1 {metrics['top1']:.1f}, "
        f"top5 {metrics['top5']:.1f} -> {short_path(out)}", flush=True)
    return result
