"""Schemas for table specs, recipes and profiles, and a checker that names the bad key path.

A schema is a dict of key -> expected type, a nested schema dict, or ``ANY``. Checking
collects every problem and raises one :class:`SpecError` listing them with the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

ANY = object()
NUM = (int, float)
INT_LIST = ("list", int)


class SpecError(ValueError):
    """A spec, recipe or profile file that cannot be used; the message names file and key path."""

    def __init__(self, path: Path | str, problems: list[str], origins: list[str] | None = None) -> None:
        self.path, self.problems = str(path), problems
        # One line per problem, each naming the file (or flag) that set the value, and the key.
        where = origins or [str(path)] * len(problems)
        super().__init__("\n".join(f"{w}: {p}" for w, p in zip(where, problems)))


MODEL = {
    "backbone": {"arch": str, "depth": (int, type(None)), "layers": INT_LIST, "width": int,
                 "pretrained": str, "shift": bool, "shift_div": int, "args": ANY},
    "frames": int,
    "dropout": NUM,
    "insert": {"module": (str, type(None)), "position": str,
               "stages": {"layer1": INT_LIST, "layer2": INT_LIST, "layer3": INT_LIST,
                          "layer4": INT_LIST},
               "args": ANY},
}
DATA = {"resize": int, "crop": int, "flip": bool, "num_workers": int, "cache_decoded": bool,
        "train_per_class": int, "val_per_class": int, "generator_seed": int,
        # Above this fraction of unreadable videos a run stops (below it they are skipped).
        "max_bad_fraction": NUM,
        # SSv1 class indices: alphabetical (TSM, the default) or file (mmaction2); not interchangeable
        "label_order": str,
        # Serve the spec's dataset from its generated smoke layout (repro/data/smoke.py).
        "smoke": bool,
        # Synthetic generator knobs (repro.data.synthetic.Difficulty); absent keys keep defaults.
        "difficulty": {"size": int, "frames": int, "distractors": INT_LIST,
                       "travel": ("list", NUM), "object_size": ("list", NUM), "noise": NUM}}
TRAIN = {"epochs": int, "batch_size": int, "lr": NUM, "momentum": NUM, "nesterov": bool,
         "weight_decay": NUM, "warmup_epochs": NUM, "schedule": str, "steps": INT_LIST,
         "plateau_patience": int, "seed": int, "max_iters": (int, type(None)),
         "label_smoothing": NUM, "grad_clip": (NUM, type(None)),
         # train.lr is the lr at this global batch; another batch_size scales it linearly.
         "lr_scale_batch": (int, type(None)),
         # CUDA only (CPU stays float32): bf16 autocast ("bf16" | "none"), channels_last convs.
         "amp": (str, type(None)), "channels_last": bool,
         # torch CPU threads for this run (null: torch's default). CPU kernels sum in an order
         # that depends on the thread count, so a fixed count keeps a seed's result the same
         # whether rows run one at a time or side by side (run_all.py --jobs).
         "threads": (int, type(None))}
# Test protocol: clips x crops views per video (crops: 1 centre or 3 along the long side), after
# resizing the short side to resize (default data.resize) and cropping crop_size (default data.crop).
EVAL = {"clips": int, "crops": int, "batch_size": int, "resize": int, "crop_size": int}
CONFIG = {"model": MODEL, "data": DATA, "train": TRAIN, "eval": EVAL}

# Every default of a run config, in one place. resolve() merges them under the recipe before
# hashing, so a result's spec hash covers every value that ran; engine code reads cfg[...][...]
# directly. Keys absent here have no default: the recipe, spec or profile must set them
# (REQUIRED). eval.batch_size/resize/crop_size default to train.batch_size, data.resize and
# data.crop (DERIVED).
DEFAULTS = {
    "model": {"backbone": {"arch": "resnet", "depth": 50, "width": 64, "pretrained": "none",
                           "shift": False, "shift_div": 8, "args": {}},
              "frames": 8, "dropout": 0.5,
              "insert": {"module": None, "position": "after_block", "stages": {}, "args": {}}},
    "data": {"flip": False, "num_workers": 0, "cache_decoded": False, "train_per_class": 100,
             "val_per_class": 30, "generator_seed": 0, "max_bad_fraction": 0.05,
             "label_order": "alphabetical", "smoke": False},
    "train": {"momentum": 0.9, "nesterov": True, "weight_decay": 0.0, "warmup_epochs": 0,
              "schedule": "cosine", "steps": [], "plateau_patience": 3, "seed": 0, "max_iters": None,
              "label_smoothing": 0.0, "grad_clip": None, "lr_scale_batch": None, "amp": "none",
              "channels_last": False, "threads": None},
    "eval": {"clips": 1, "crops": 1},
}
REQUIRED = ("data.resize", "data.crop", "train.epochs", "train.batch_size", "train.lr")
DERIVED = {"eval.batch_size": "train.batch_size", "eval.resize": "data.resize",
           "eval.crop_size": "data.crop"}

ARCHS = ("resnet", "slowfast")
PRETRAINED = ("none", "imagenet")
AMP = ("bf16", "none")
LABEL_ORDERS = ("alphabetical", "file")
EVAL_CROPS = (1, 3)
STAGE_NAMES = ("layer1", "layer2", "layer3", "layer4")


def _positive(v) -> bool:
    return v > 0


# Value ranges of a resolved config: key -> (test, what the value must be). None passes where
# the schema allows null. Cross-key rules (crop <= resize) are in value_problems.
RANGES = {
    "model.frames": (_positive, "a positive integer"),
    "model.dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "model.backbone.width": (_positive, "a positive integer"),
    "model.backbone.shift_div": (lambda v: v >= 2, "an integer >= 2"),
    "model.backbone.arch": (lambda v: v in ARCHS, f"one of {', '.join(ARCHS)}"),
    "model.backbone.pretrained": (lambda v: v in PRETRAINED, f"one of {', '.join(PRETRAINED)}"),
    "model.backbone.layers": (lambda v: len(v) == 4 and all(isinstance(x, int) and x > 0 for x in v),
                              "four positive block counts, one per stage"),
    "data.resize": (_positive, "a positive integer"),
    "data.crop": (_positive, "a positive integer"),
    "data.num_workers": (lambda v: v >= 0, "an integer >= 0"),
    "data.train_per_class": (_positive, "a positive integer"),
    "data.val_per_class": (_positive, "a positive integer"),
    "data.max_bad_fraction": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "data.label_order": (lambda v: v in LABEL_ORDERS, f"one of {', '.join(LABEL_ORDERS)}"),
    "train.epochs": (_positive, "a positive integer (a run must train)"),
    "train.batch_size": (_positive, "a positive integer"),
    "train.lr": (_positive, "a positive number"),
    "train.momentum": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "train.weight_decay": (lambda v: v >= 0, "a number >= 0"),
    "train.warmup_epochs": (lambda v: v >= 0, "a number >= 0"),
    "train.steps": (lambda v: all(isinstance(x, int) and x > 0 for x in v), "positive epoch numbers"),
    "train.plateau_patience": (lambda v: v >= 0, "an integer >= 0"),
    "train.seed": (lambda v: v >= 0, "an integer >= 0"),
    "train.max_iters": (_positive, "a positive integer or null (a run must train)"),
    "train.label_smoothing": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "train.grad_clip": (_positive, "a positive number or null"),
    "train.lr_scale_batch": (_positive, "a positive integer or null"),
    "train.amp": (lambda v: v in AMP, f"one of {', '.join(AMP)}"),
    "train.threads": (_positive, "a positive integer or null"),
    "eval.clips": (_positive, "a positive integer"),
    "eval.crops": (lambda v: v in EVAL_CROPS, "1 (centre) or 3 (along the long side)"),
    "eval.batch_size": (_positive, "a positive integer"),
    "eval.resize": (_positive, "a positive integer"),
    "eval.crop_size": (_positive, "a positive integer"),
}


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
    d, ev = cfg.get("data", {}), cfg.get("eval", {})
    if isinstance(d.get("crop"), int) and isinstance(d.get("resize"), int) and d["crop"] > d["resize"]:
        out.append(("data.crop", f"crop {d['crop']} is larger than data.resize {d['resize']}: "
                                 "crop at most the resized short side"))
    derived = (ev.get("crop_size"), ev.get("resize")) == (d.get("crop"), d.get("resize"))
    if isinstance(ev.get("crop_size"), int) and isinstance(ev.get("resize"), int) \
            and ev["crop_size"] > ev["resize"] and not derived:
        out.append(("eval.crop_size", f"crop {ev['crop_size']} is larger than eval.resize "
                                      f"{ev['resize']}: crop at most the resized short side"))
    for stage, blocks in (get_key_or(cfg, "model.insert.stages") or {}).items():
        for b in blocks or []:
            if not isinstance(b, int) or b < 0:
                out.append((f"model.insert.stages.{stage}", f"block {b!r} is not a block index "
                                                            "(0 is the stage's first block)"))
    return out


def get_key_or(cfg: dict, key: str, default: Any = None) -> Any:
    try:
        return get_key(cfg, key)
    except KeyError:
        return default


RECIPE = {"description": str, **CONFIG}
# seeds: every row runs once per seed (train.seed), and reports give mean +- std over them.
PROFILE = {"description": str, "dataset": str, "recipe": str, "seeds": ("list", int), **CONFIG}
SOURCE = {"paper": str, "table": str, "dataset": str, "split": str, "note": str}
# One reported number; keys absent here come from the row's ``source`` and the spec header.
REPORTED_ENTRY = {"metric": str, "value": NUM, **SOURCE}
ROW = {"id": str, "label": str, "note": str, "model": MODEL, "data": DATA, "train": TRAIN,
       "eval": EVAL,
       # {metric: value} for the spec's dataset/split, or a list of REPORTED_ENTRY
       "reported": ({"*": NUM}, ("list", REPORTED_ENTRY)),
       "source": SOURCE,
       # A method this harness does not build: the row is shown, never run. Say why.
       "reported_only": str,
       # Average of the class scores of these built rows of the same spec (saved scores.pt);
       # nothing is trained for it. Not together with reported_only or model/data/train/eval.
       "ensemble": ("list", str)}
CLAIM = {"id": str, "text": str, "kind": str, "rows": ("list", str), "among": ("list", str),
         "metric": str, "dataset": str}
SPEC = {"id": str, "title": str, "paper": str, "table": str, "dataset": str, "split": str,
        "recipe": str, "note": str, "defaults": CONFIG, "rows": ("list", ROW),
        "claims": ("list", CLAIM),
        # The synthetic probe tier of this table: which built rows it runs (default all) and why
        # the others are left out. run_all.py --probe runs every spec that has this block.
        "probe": {"rows": ("list", str), "note": str}}
CLAIM_KINDS = ("greater", "best", "order")

SCHEDULES = ("plateau", "step", "cosine")
POSITIONS = ("in_block", "after_block", "replace_conv2")
METRICS = ("top1", "top5", "gflops", "params_m", "r@1", "r@5")
DATASETS = ("ssv1", "ssv2", "k400", "msrvtt", "youcook2", "diving48", "gym99", "gym288")
SPLITS = ("val", "test")


def _type_name(t: Any) -> str:
    if isinstance(t, tuple) and t and t[0] == "list":
        return "a list"
    if isinstance(t, tuple):
        return " or ".join(_type_name(x) for x in t)
    if t is type(None):
        return "null"
    if isinstance(t, dict):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(t, str(t))


def _is(value: Any, t: Any) -> bool:
    if isinstance(t, tuple) and t and t[0] == "list":
        return isinstance(value, list)
    if isinstance(t, tuple):
        return any(_is(value, x) for x in t)
    if t in (int, float) and isinstance(value, bool):
        return False
    return isinstance(value, t)


def check(value: Any, schema: Any, path: str, problems: list[str]) -> None:
    """Append to ``problems`` every place where ``value`` does not fit ``schema``."""
    if schema is ANY:
        return
    if isinstance(schema, tuple) and schema and all(isinstance(s, (dict, tuple)) for s in schema) \
            and not (schema[0] == "list"):
        # Alternatives of structured schemas: pick by shape (mapping vs list).
        for alt in schema:
            if isinstance(alt, dict) == isinstance(value, dict):
                check(value, alt, path, problems)
                return
        problems.append(f"{path}: expected {' or '.join(_type_name(a) for a in schema)}, "
                        f"got {type(value).__name__}")
        return
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            problems.append(f"{path or '<top>'}: expected a mapping, got {type(value).__name__}")
            return
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if k in schema:
                check(v, schema[k], sub, problems)
            elif "*" in schema:
                check(v, schema["*"], sub, problems)
            else:
                known = ", ".join(sorted(x for x in schema if x != "*"))
                problems.append(f"{sub}: unknown key (allowed here: {known})")
        return
    if isinstance(schema, tuple) and schema and schema[0] == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            check(item, schema[1], f"{path}[{i}]", problems)
        return
    if not _is(value, schema):
        problems.append(f"{path}: expected {_type_name(schema)}, got {type(value).__name__} {value!r:.40}")
