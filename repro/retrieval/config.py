"""Resolved config of a retrieval row (SSAN Tables 7-8): its settings, and the classifier it uses.

A retrieval row trains no video model: its features come from a built row of a spec (the
``features: {table, row}`` classifier), trained under the same profile and seed, or from
``--weights``. Its own settings are the retrieval network's and its recipe's, resolved as
:data:`DEFAULTS` <- the spec's ``retrieval:`` <- the row's <- the profile's <- ``--set
retrieval.KEY=VALUE``. The config holds the classifier's resolved config, so a result is current
only while both the retrieval settings and the classifier's config are unchanged.
"""
from __future__ import annotations

import copy
import os

from repro.config.keys import RETRIEVAL_KEYS
from repro.config.loader import (EXPERIMENTS, PROFILES_FILE, deep_merge, load_profiles, load_spec, resolve,
                                 seed_override)
from repro.errors import SpecError

# Every retrieval key with its paper-profile default, type, range and source: declared once in
# repro/config/keys.py (RETRIEVAL_KEYS; docs/config.md).
DEFAULTS: dict = {k.path.split(".", 1)[1]: k.default for k in RETRIEVAL_KEYS}
# What the sources say of each setting (docs/retrieval-facts.md; [22] = antoine77340/howto100m at
# 50af0ff). The report prints them beside the paper profile's values.
SOURCES: dict[str, tuple[str, str]] = {
    "text_encoder": ("SSAN: \"GRU based\"; [22] paper: shallow 1D-CNN; [22] code: per-word FC+ReLU, max-pool",
                     "SSAN 4.4; [22] model.py:17-45; facts 3"),
    "embed_dim": ("[22] paper 4096; fine-tuning command 6144; code default 2048", "[22] README.md:66; args.py:42; facts 4"),
    "word_vectors": ("GoogleNews word2vec, 300-d, looked up frozen", "[22] paper 4; msrvtt_dataloader.py"),
    "max_words": ("20 words per caption", "[22] args.py:64"),
    "epochs": ("50 (fine-tuning command; no-pretraining rows: no command published)", "[22] README.md:64-67; facts 6"),
    "batch_size": ("256", "[22] README.md:64-67"),
    "lr": ("Adam 1e-4, no weight decay", "[22] train.py:159; args.py:44"),
    "lr_decay": ("1.0 in the fine-tuning command (default 0.9)", "[22] README.md:66; args.py:52"),
    "margin": ("0.1, bidirectional, in-batch negatives", "[22] args.py:72; loss.py:33-39"),
}
WORD2VEC_ENV = "REPRO_WORD2VEC"


def retrieval_settings(spec, row_id: str, profile: str, overrides: dict | None = None) -> dict:
    """The row's retrieval settings, every key filled in and range-checked."""
    row = spec.row(row_id)
    prof = load_profiles().get(profile, {}).get("retrieval") or {}
    layers = [(f"{spec.path} (retrieval)", spec.retrieval), (f"{spec.path} (rows {row_id})", row.retrieval),
              (f"{EXPERIMENTS / PROFILES_FILE} ({profile})", prof),
              ("--set", (overrides or {}).get("retrieval") or {})]
    out = copy.deepcopy(DEFAULTS)
    for _, layer in layers:
        out = deep_merge(out, layer)
    if out["word_vectors"] == "word2vec" and not out["word2vec"] and os.environ.get(WORD2VEC_ENV):
        out["word2vec"] = os.environ[WORD2VEC_ENV]
    problems = [(name, f"{out[name]!r} is not one of {', '.join(k.choices)}" if k.choices
                 else f"{out[name]} must be {k.must}")
                for k in RETRIEVAL_KEYS if k.check()
                for name in [k.path.split(".", 1)[1]] if not k.check()[0](out[name])]
    if problems:
        key = problems[0][0]
        where = next((name for name, layer in reversed(layers) if key in (layer or {})), str(spec.path))
        raise SpecError(where, [f"retrieval.{k}: {p}" for k, p in problems])
    return out


def classifier_overrides(overrides: dict | None) -> dict:
    """``--set`` overrides as the classifier sees them: everything but the retrieval keys."""
    return {k: v for k, v in (overrides or {}).items() if k != "retrieval"}


def resolve_retrieval(spec, row_id: str, profile: str, seed: int | None, overrides: dict | None = None,
                      check_modules: bool = False) -> dict:
    """``{"retrieval", "features", "classifier", "data", "meta"}`` of a retrieval row: its settings,
    the classifier row, the classifier's resolved config and the retrieval dataset."""
    row = spec.row(row_id)
    if not row.is_retrieval:
        raise SpecError(spec.path, [f"row {row_id!r} is not a retrieval row (it has no features:)"])
    settings = retrieval_settings(spec, row_id, profile, overrides)
    src = load_spec(row.features["table"])
    clf = resolve(src, row.features["row"], profile, seed_override(seed, classifier_overrides(overrides)),
                  check_modules=check_modules)
    synthetic = clf["data"]["dataset"] == "synthetic"
    data = {"dataset": "synthetic" if synthetic else spec.dataset, "smoke": bool(clf["data"].get("smoke"))}
    return {"retrieval": settings, "features": {"table": src.key, "row": row.features["row"]},
            "classifier": clf, "data": data, "seed": clf["train"]["seed"],
            "meta": {"table": spec.id, "row": row_id, "profile": profile, "kind": "retrieval"}}
