"""Schemas for table specs, recipes and profiles, and a checker that names the bad key path.

The run-config part (types, defaults, ranges) is derived from the one key table,
:mod:`repro.config.keys`; the rest of a spec's shape (rows, reported numbers, claims, fidelity
references) is declared here. A schema is a dict of key -> expected type, a nested schema dict,
or ``ANY``. Checking collects every problem and raises one :class:`SpecError` listing them with
the file.
"""
from __future__ import annotations

from typing import Any

from repro.errors import SpecError  # noqa: F401  (raised by callers of this module)
from repro.metrics import metric_names
from repro.typecheck import check  # noqa: F401  (the checker of these schemas)
from repro.config.keys import ANY, KEYS, MAPPING, NO_DEFAULT, NUM, RETRIEVAL_KEYS, choices, size_ok


def _tree(value_of) -> dict:
    """A nested dict ``{section: {key: value_of(key)}}`` over :data:`KEYS`; a MAPPING key becomes
    the dict of the keys under it (value_of returns None to leave a key out)."""
    out: dict = {}
    for k in KEYS:
        value = value_of(k)
        if value is None:
            continue
        *parents, name = k.path.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[name] = value
    return out


def _type_of(k) -> Any:
    return {} if k.type is MAPPING else k.type


def _default_of(k) -> Any:
    # A MAPPING key with a default ({}): the keys under it have none, so the default stands.
    return None if k.default is NO_DEFAULT else _Default(k.default)


class _Default:  # a default that may itself be None (model.weights: null)
    def __init__(self, value: Any) -> None:
        self.value = value


def _unwrap(node: Any) -> Any:
    if isinstance(node, _Default):
        return node.value
    return {k: _unwrap(v) for k, v in node.items()}


# Types of every key (a nested schema for check()), the defaults merged under every config before
# hashing, and the keys without a default that a run must set or that copy another key.
CONFIG = _tree(_type_of)
MODEL, DATA, TRAIN, EVAL = (CONFIG[s] for s in ("model", "data", "train", "eval"))
DEFAULTS = _unwrap({s: v for s, v in _tree(_default_of).items()})
REQUIRED = tuple(k.path for k in KEYS if k.required)
DERIVED = {k.path: k.derived for k in KEYS if k.derived}
UNHASHED = tuple(k.path.split(".") for k in KEYS if not k.hashed)
UNHASHED_AT_DEFAULT = {tuple(k.path.split(".")): k.default for k in KEYS if k.hashed == "unless_default"}
# Ranges of a resolved config: key -> (test, what the value must be). None passes where the type
# allows null. Cross-key rules (crop <= resize) are in value_problems.
RANGES = {k.path: k.check() for k in KEYS if k.check()}
# Mapping keys that {} or null in a later layer clears (repro.config.loader.deep_merge).
# Those are the free-form ones (ANY) and the mappings none of whose keys has a default.
CLEARABLE = frozenset(k.path for k in KEYS if k.type is ANY or (k.type is MAPPING and not any(
    c.path.startswith(k.path + ".") and c.default is not NO_DEFAULT for c in KEYS)))
WEIGHT_SOURCES = choices("model.weights_source")  # repro.convert.SOURCES
POSITIONS = choices("model.insert.position")
SCHEDULES = choices("train.schedule")
STAGE_NAMES = ("layer1", "layer2", "layer3", "layer4")

def short_side(size) -> int:
    """The short side of a resize value (an int, or ``[H, W]``)."""
    return min(size) if isinstance(size, list) else size


def get_key(cfg: dict, key: str) -> Any:
    """``get_key(cfg, "train.lr")``; a KeyError when any part is absent."""
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def value_problems(cfg: dict) -> list[tuple[str, str]]:
    """``(key, problem)`` for every value of a resolved config out of its range."""
    out: list[tuple[str, str]] = []
    for key in REQUIRED:
        try:
            get_key(cfg, key)
        except KeyError:
            out.append((key, "required: set it in the recipe, the spec or with --set"))
    for key, (ok, what) in RANGES.items():
        try:
            v = get_key(cfg, key)
        except KeyError:
            continue
        try:
            good = v is None or ok(v)
        except TypeError:
            good = False
        if not good:
            out.append((key, f"{v!r} is out of range: must be {what}"))
    # A derived eval value that merely copies a bad data value is the same problem: say it once.
    bad = {k for k, _ in out}
    out = [(k, p) for k, p in out if not (k in DERIVED and DERIVED[k] in bad
                                          and get_key_or(cfg, k) == get_key_or(cfg, DERIVED[k]))]
    d, ev = cfg.get("data", {}), cfg.get("eval", {})
    sized = lambda v: isinstance(v, int) or (isinstance(v, list) and size_ok(v))  # noqa: E731
    jittered = d.get("crop_mode") in ("jitter", "jitter_inverse")
    jit = d.get("jitter") if jittered else None
    if jittered and not jit:
        out.append(("data.crop_mode", f"{d['crop_mode']} needs data.jitter: [lo, hi] (the short sides to draw from)"))
    elif isinstance(d.get("crop"), int) and isinstance(jit, list) and jit and d["crop"] > jit[0]:
        out.append(("data.crop", f"crop {d['crop']} is larger than the smallest jittered short side "
                                 f"{jit[0]}: crop at most data.jitter[0]"))
    if not jit and isinstance(d.get("crop"), int) and sized(d.get("resize")) \
            and d["crop"] > short_side(d["resize"]):
        out.append(("data.crop", f"crop {d['crop']} is larger than data.resize {d['resize']}: "
                                 "crop at most the resized short side"))
    derived = (ev.get("crop_size"), ev.get("resize")) == (d.get("crop"), d.get("resize"))
    if isinstance(ev.get("crop_size"), int) and sized(ev.get("resize")) \
            and ev["crop_size"] > short_side(ev["resize"]) and not derived:
        out.append(("eval.crop_size", f"crop {ev['crop_size']} is larger than eval.resize "
                                      f"{ev['resize']}: crop at most the resized short side"))
    if ev.get("clip_layout") == "tsm" and ev.get("clips") not in (1, 2, None):
        out.append(("eval.clip_layout", f"tsm is TSM's two-clip layout; eval.clips is "
                                        f"{ev.get('clips')}: use 2 clips or clip_layout spread"))
    for stage, blocks in (get_key_or(cfg, "model.insert.stages") or {}).items():
        for b in blocks or []:
            if not isinstance(b, int) or b < 0:
                out.append((f"model.insert.stages.{stage}", f"block {b!r} is not a block index "
                                                            "(0 is the stage's first block)"))
    return out


def schema_has(key: str) -> bool:
    """Whether ``key`` (``train.lr``, ``model.backbone.depth``) is a key of :data:`CONFIG`."""
    node: Any = CONFIG
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def get_key_or(cfg: dict, key: str, default: Any = None) -> Any:
    try:
        return get_key(cfg, key)
    except KeyError:
        return default


# fidelity: the paper's or reference code's value of every setting, with its source
# (repro/report/fidelity.py judges them). The settings every row is judged on, in the order a
# reader scans a training recipe; an entry's expect/show name config keys (checked by the loader).
# input: what the loader reads (the videos as distributed, or the prepared frames: data.prepared);
# normalization: the input mean/std; init: the backbone's starting weights; classifier: the new
# fc's init and lr multipliers. An entry's verdict (fidelity.py): same (source states it), silent
# (+ follows: the code it follows, file:line), unknowable ("<reason>"), or diverges (a judged value
# differs, or why: the reason and expected effect). on_dataset: {<dataset>: {...}} replaces
# those fields, and expect, for rows run on that dataset (e.g. unknowable on ssv1 only).
SETTINGS = ("input", "geometry", "train_crop", "flip", "normalization", "sampling", "frames", "epochs", "batch",
            "lr", "optimizer", "schedule", "warmup", "weight_decay", "bn", "init", "classifier",
            "dropout", "loss", "clipping", "stochastic_depth", "precision", "test_views", "checkpoint")
_FIDELITY_VERDICT = {"paper": str, "source": str, "silent": bool, "follows": str, "unknowable": str,
                     "why": str, "hint": str}
FIDELITY_ENTRY = {"expect": {"*": ANY}, "show": ("list", str), "per_row": bool, **_FIDELITY_VERDICT,
                  "on_dataset": {"*": {**_FIDELITY_VERDICT, "expect": {"*": ANY}}}}
# An ensemble row is judged on what it adds: its members' test protocol and score rule (the
# members' training is judged on their own rows).
ENSEMBLE_SETTINGS = ("ensemble",)
FIDELITY = {s: FIDELITY_ENTRY for s in SETTINGS + ENSEMBLE_SETTINGS}
RECIPE = {"description": str, "fidelity": FIDELITY, **CONFIG}
# seeds: every row runs once per seed (train.seed), and reports give mean +- std over them.
# Retrieval rows (SSAN Tables 7-8): the text-video network of Miech et al. trained on frozen clip
# features of a classifier row. Every key is documented once, with its default, in
# repro/retrieval/config.py (DEFAULTS); a spec, a row, a profile or --set retrieval.KEY=V sets it.
RETRIEVAL = {k.path.split(".", 1)[1]: k.type for k in RETRIEVAL_KEYS}
# Where a retrieval row's video features come from: a built row of a spec (the classifier),
# trained under the same profile and seed, or given by --weights.
FEATURES = {"table": str, "row": str}
# What --set may name: a run's config, and the retrieval settings of retrieval rows.
SET = {**CONFIG, "retrieval": RETRIEVAL}
PROFILE = {"description": str, "dataset": str, "recipe": str, "seeds": ("list", int), **CONFIG,
           "retrieval": RETRIEVAL}
SOURCE = {"paper": str, "table": str, "dataset": str, "split": str, "note": str}
# One reported number; keys absent here come from the row's ``source`` and the spec header.
REPORTED_ENTRY = {"metric": str, "value": NUM, **SOURCE}
# A published checkpoint of a row: who publishes it, the file and its page, the converter
# source (repro.convert), and the publisher's own numbers with their test views and where they
# are printed (README line, model-zoo table). Evaluating the file here: run_all.py --eval-only.
CHECKPOINT_NUMBER = {"metric": str, "value": NUM, "dataset": str, "split": str, "views": str, "note": str}
CHECKPOINT = {"publisher": str, "file": str, "page": str, "source": str, "where": str, "note": str,
              "reported": ("list", CHECKPOINT_NUMBER)}
ROW = {"id": str, "label": str, "note": str, "model": MODEL, "data": DATA, "train": TRAIN,
       "eval": EVAL,
       # This row's recipe, where it is not the spec's (e.g. the TSM rows of a GTA table).
       "recipe": str,
       # Per-setting references that replace the recipe's (repro/report/fidelity.py).
       "fidelity": FIDELITY,
       # {metric: value} for the spec's dataset/split, or a list of REPORTED_ENTRY
       "reported": ({"*": NUM}, ("list", REPORTED_ENTRY)),
       "source": SOURCE,
       # A method this harness does not build: the row is shown, never run. Say why.
       "reported_only": str,
       # Average of the class scores of these built rows of the same spec (saved scores.pt);
       # nothing is trained for it. Not together with reported_only or model/data/train/eval.
       "ensemble": ("list", str),
       "checkpoints": ("list", CHECKPOINT),
       # Ensemble rows only: the test protocol of the members for this ensemble, where it is not
       # their own (e.g. GTA_En's 3 crops x 2 clips of members reported at 1x1). Each member's
       # checkpoint (its eval.checkpoint) is tested again under its eval with these keys replaced.
       "member_eval": EVAL,
       # Retrieval rows only: the classifier whose clip features the retrieval network is
       # trained on (nothing else of the row is a model), and the row's retrieval settings.
       "features": FEATURES, "retrieval": RETRIEVAL}
CLAIM = {"id": str, "text": str, "kind": str, "rows": ("list", str), "among": ("list", str),
         "metric": str, "dataset": str}
SPEC = {"id": str, "title": str, "paper": str, "table": str, "dataset": str, "split": str,
        "recipe": str, "note": str, "defaults": CONFIG, "rows": ("list", ROW), "fidelity": FIDELITY,
        "claims": ("list", CLAIM),
        # The synthetic probe tier of this table: which built rows it runs (default all) and why
        # the others are left out. run_all.py --probe runs every spec that has this block.
        "probe": {"rows": ("list", str), "note": str},
        # The retrieval settings of every retrieval row of this spec (rows may override keys).
        "retrieval": RETRIEVAL}
CLAIM_KINDS = ("greater", "best", "order")

SCHEDULES = ("plateau", "step", "cosine")
POSITIONS = ("in_block", "after_block", "replace_conv2")
METRICS = metric_names(in_specs=True)  # repro/metrics.py registers each metric once
SPLITS = ("val", "test")
