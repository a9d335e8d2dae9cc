"""Schemas for table specs, recipes and profiles, and a checker that names the bad key path.

A schema is a dict of key -> expected type, a nested schema dict, or ``ANY``. Checking
collects every problem and raises one :class:`SpecError` listing them with the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from repro.errors import SpecError  # noqa: F401  (raised by callers of this module)
from repro.models.fc_init import fc_init

ANY = object()
NUM = (int, float)
INT_LIST = ("list", int)


MODEL = {
    "backbone": {"arch": str, "depth": (int, type(None)), "layers": INT_LIST, "width": int,
                 "pretrained": str, "shift": bool, "shift_div": int, "args": ANY},
    "frames": int,
    "dropout": NUM,
    # Classifier init: default (torch's Linear), normal:<std> (weights N(0, std), bias 0; TSM
    # 0.001, PySlowFast 0.01) or xavier (xavier-uniform weights, bias 0; RSA).
    "fc_init": str,
    # Stochastic depth: the residual branch of bottleneck i of n is dropped per sample with
    # probability drop_path * i / (n - 1) in training (0 in the first, drop_path in the last).
    "drop_path": NUM,
    # A published checkpoint to start from (run_all.py --weights): converted by repro.convert
    # from weights_source (tsm, rsa, pyslowfast, mmaction2, torchvision; null: guessed), its
    # classifier and the inserted modules left at their init; after backbone.pretrained.
    "weights": (str, type(None)), "weights_source": (str, type(None)),
    "insert": {"module": (str, type(None)), "position": str,
               "stages": {"layer1": INT_LIST, "layer2": INT_LIST, "layer3": INT_LIST,
                          "layer4": INT_LIST},
               "args": ANY},
}
SIZE = (int, INT_LIST)  # a short side, or a fixed [H, W]
DATA = {"resize": SIZE, "crop": int,
        # Training crop: random (a crop x crop square), multiscale (TSN's scales 1/.875/.75/.66,
        # fixed offset grid, resized to crop), jitter (short side uniform in data.jitter, then
        # a random crop; PySlowFast) or jitter_inverse (1/short side uniform; PySlowFast's SSv2).
        "crop_mode": str, "jitter": (INT_LIST, type(None)),
        # none; swap (flip, a left/right class becomes its partner); skip (flip, except the
        # classes in data.flip_keep: by default those with a left/right partner; GTA, RSA)
        "flip": str, "flip_keep": (INT_LIST, type(None)),
        # tsn (one frame per equal segment) or dense (model.frames frames sampling_rate apart)
        "sampling": str, "sampling_rate": int,
        "num_workers": int, "cache_decoded": bool,
        "train_per_class": int, "val_per_class": int, "generator_seed": int,
        # Above this fraction of unreadable videos a run stops (below it they are skipped).
        "max_bad_fraction": NUM,
        # SSv1 class indices: alphabetical (TSM, the default) or file (mmaction2); not interchangeable
        "label_order": str,
        # Serve the spec's dataset from its generated smoke layout (repro/data/smoke.py).
        "smoke": bool,
        # Input normalisation of RGB frames scaled to [0, 1], per channel: (x - mean) / std.
        # ImageNet's statistics by default (TSM, RSA, torchvision); PySlowFast 0.45 / 0.225 on
        # every channel (slowfast/config/defaults.py DATA.MEAN, DATA.STD).
        "mean": ("list", NUM), "std": ("list", NUM),
        # Synthetic generator knobs (repro.data.synthetic.Difficulty); absent keys keep defaults.
        "difficulty": {"size": int, "frames": int, "distractors": INT_LIST,
                       "travel": ("list", NUM), "object_size": ("list", NUM), "noise": NUM}}
TRAIN = {"epochs": int, "batch_size": int, "lr": NUM, "momentum": NUM, "nesterov": bool,
         "weight_decay": NUM, "warmup_epochs": NUM, "schedule": str, "steps": INT_LIST,
         "plateau_patience": int, "seed": int,
         # lr_step: iter (the schedule moves every iteration) or epoch (held for an epoch, as
         # RSA's warm-up and cosine). final_lr_ratio: where the cosine ends, as a fraction of lr.
         "lr_step": str, "final_lr_ratio": NUM, "warmup_start_ratio": NUM,
         # cosine_span: after_warmup (the cosine starts where the warm-up ends; RSA) or whole
         # (over every epoch, the warm-up climbing to the cosine's value; PySlowFast).
         "cosine_span": str,
         # Parameter groups: no weight decay on these kinds (bn, bias), and lr multipliers per
         # kind (bias, fc_weight, fc_bias; the fc ones win over bias for the classifier).
         "no_decay": ("list", str), "lr_mult": {"bias": NUM, "fc_weight": NUM, "fc_bias": NUM}, "max_iters": (int, type(None)),
         "label_smoothing": NUM, "grad_clip": (NUM, type(None)),
         # train.lr is the lr at this global batch; another batch_size scales it linearly.
         "lr_scale_batch": (int, type(None)),
         # bf16 autocast ("bf16" | "none"; CUDA only, CPU stays float32); channels_last 2D
         # convolutions (any device).
         "amp": (str, type(None)), "channels_last": bool,
         # torch CPU threads for this run (null: torch's default). CPU kernels sum in an order
         # that depends on the thread count, so a fixed count keeps a seed's result the same
         # whether rows run one at a time or side by side (run_all.py --jobs).
         "threads": (int, type(None)),
         # Precise BN (PySlowFast BN.USE_PRECISE_STATS): before each validation, BN statistics
         # are recomputed as the average over this many training batches (0: off, the running
         # averages of training are used).
         "precise_bn": int,
         # BatchNorm statistics in training over groups of this many clips (null: the whole
         # per-device batch, or the global batch under torchrun, where BN is synchronised).
         # PySlowFast's SSv2 recipe normalises over 8 clips (4 synchronised devices x 2 clips).
         # A group smaller than the per-device batch splits it; a larger one synchronises
         # bn_group / per-device-batch ranks (repro/engine/bn_groups.py).
         "bn_group": (int, type(None))}
# Test protocol: clips x crops views per video (crops: 1 centre or 3 along the long side), after
# resizing to resize (short side or [H, W]; default data.resize) and cropping crop_size (default
# data.crop). clip_layout places a TSN test's clips: spread (k + .5)/K of a segment, or tsm
# (TSM's two-clip --twice_sample). checkpoint: the epoch whose test is the row's number (last,
# or best = highest per-epoch validation top-1, as the reference keeps model_best); both are
# always reported. Validation (1 view) runs after every epoch for the history. average: what is
# averaged over views and over an ensemble's members, softmax (PySlowFast) or logits (TSM's
# test_models.py without --softmax); with one view and one model both rank classes alike.
EVAL = {"clips": int, "crops": int, "batch_size": int, "resize": SIZE, "crop_size": int,
        "clip_layout": str, "checkpoint": str, "average": str,
        # Where a 1-crop test takes its crop: centre, or first (left/top, the first of the three
        # crops; PySlowFast's ssv2.py tests spatial index 0).
        "single_crop": str}
CONFIG = {"model": MODEL, "data": DATA, "train": TRAIN, "eval": EVAL}

# Every default of a run config, in one place. resolve() merges them under the recipe before
# hashing, so a result's spec hash covers every value that ran; engine code reads cfg[...][...]
# directly. Keys absent here have no default: the recipe, spec or profile must set them
# (REQUIRED). eval.batch_size/resize/crop_size default to train.batch_size, data.resize and
# data.crop (DERIVED).
DEFAULTS = {
    "model": {"backbone": {"arch": "resnet", "depth": 50, "width": 64, "pretrained": "none",
                           "shift": False, "shift_div": 8, "args": {}},
              "frames": 8, "dropout": 0.5, "fc_init": "default", "drop_path": 0.0,
              "weights": None, "weights_source": None,
              "insert": {"module": None, "position": "after_block", "stages": {}, "args": {}}},
    "data": {"crop_mode": "random", "jitter": None, "flip": "none", "flip_keep": None,
             "sampling": "tsn", "sampling_rate": 8, "num_workers": 0, "cache_decoded": False,
             "train_per_class": 100, "val_per_class": 30, "generator_seed": 0, "max_bad_fraction": 0.05,
             "label_order": "alphabetical", "smoke": False,
             "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "train": {"momentum": 0.9, "nesterov": True, "weight_decay": 0.0, "warmup_epochs": 0,
              "schedule": "cosine", "steps": [], "plateau_patience": 3,
              "lr_step": "iter", "final_lr_ratio": 0.0, "warmup_start_ratio": 0.0,
              "cosine_span": "after_warmup", "no_decay": [],
              "lr_mult": {}, "seed": 0, "max_iters": None,
              "label_smoothing": 0.0, "grad_clip": None, "lr_scale_batch": None, "amp": "none",
              "channels_last": False, "threads": None, "precise_bn": 0, "bn_group": None},
    "eval": {"clips": 1, "crops": 1, "clip_layout": "spread", "checkpoint": "last", "average": "softmax",
             "single_crop": "centre"},
}
REQUIRED = ("data.resize", "data.crop", "train.epochs", "train.batch_size", "train.lr")
DERIVED = {"eval.batch_size": "train.batch_size", "eval.resize": "data.resize",
           "eval.crop_size": "data.crop"}

ARCHS = ("resnet", "slowfast")
PRETRAINED = ("none", "imagenet")
WEIGHT_SOURCES = ("tsm", "rsa", "pyslowfast", "mmaction2", "torchvision")  # repro.convert.SOURCES
AMP = ("bf16", "none")
CROP_MODES = ("random", "multiscale", "jitter", "jitter_inverse")
FLIPS = ("none", "swap", "skip")
SAMPLINGS = ("tsn", "dense")
CLIP_LAYOUTS = ("spread", "tsm")
CHECKPOINTS = ("last", "best")
AVERAGES = ("softmax", "logits")
LR_STEPS = ("iter", "epoch")
NO_DECAY = ("bn", "bias")
LABEL_ORDERS = ("alphabetical", "file")
EVAL_CROPS = (1, 3)
STAGE_NAMES = ("layer1", "layer2", "layer3", "layer4")


def _positive(v) -> bool:
    return v > 0


def _size(v) -> bool:
    if isinstance(v, list):
        return len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v)
    return v > 0


def short_side(size) -> int:
    """The short side of a resize value (an int, or ``[H, W]``)."""
    return min(size) if isinstance(size, list) else size


# Value ranges of a resolved config: key -> (test, what the value must be). None passes where
# the schema allows null. Cross-key rules (crop <= resize) are in value_problems.
RANGES = {
    "model.frames": (_positive, "a positive integer"),
    "model.dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "model.backbone.width": (_positive, "a positive integer"),
    "model.backbone.shift_div": (lambda v: v >= 2, "an integer >= 2"),
    "model.backbone.arch": (lambda v: v in ARCHS, f"one of {', '.join(ARCHS)}"),
    "model.backbone.pretrained": (lambda v: v in PRETRAINED, f"one of {', '.join(PRETRAINED)}"),
    "model.weights_source": (lambda v: v is None or v in WEIGHT_SOURCES, f"one of {', '.join(WEIGHT_SOURCES)} or null (guessed)"),
    "model.backbone.layers": (lambda v: len(v) == 4 and all(isinstance(x, int) and x > 0 for x in v),
                              "four positive block counts, one per stage"),
    "model.drop_path": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "model.fc_init": (lambda v: fc_init(v) is not None, "default, normal:<std> or xavier"),
    "data.resize": (_size, "a positive short side or [H, W]"),
    "data.crop_mode": (lambda v: v in CROP_MODES, f"one of {', '.join(CROP_MODES)}"),
    "data.jitter": (lambda v: len(v) == 2 and 0 < v[0] <= v[1], "[lo, hi] short sides, 0 < lo <= hi"),
    "data.flip": (lambda v: v in FLIPS, f"one of {', '.join(FLIPS)} (true/false were swap/none)"),
    "data.flip_keep": (lambda v: all(isinstance(x, int) and x >= 0 for x in v), "class indices"),
    "data.sampling": (lambda v: v in SAMPLINGS, f"one of {', '.join(SAMPLINGS)}"),
    "data.sampling_rate": (_positive, "a positive integer"),
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
    "train.precise_bn": (lambda v: v >= 0, "a number of batches >= 0 (0: off)"),
    "train.steps": (lambda v: all(isinstance(x, int) and x > 0 for x in v), "positive epoch numbers"),
    "train.plateau_patience": (lambda v: v >= 0, "an integer >= 0"),
    "train.seed": (lambda v: v >= 0, "an integer >= 0"),
    "train.max_iters": (_positive, "a positive integer or null (a run must train)"),
    "train.label_smoothing": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "train.grad_clip": (_positive, "a positive number or null"),
    "train.lr_scale_batch": (_positive, "a positive integer or null"),
    "train.amp": (lambda v: v in AMP, f"one of {', '.join(AMP)}"),
    "train.threads": (_positive, "a positive integer or null"),
    "train.bn_group": (_positive, "a positive number of clips or null (the whole batch)"),
    "data.mean": (lambda v: len(v) == 3, "three per-channel values (R, G, B) of frames in [0, 1]"),
    "data.std": (lambda v: len(v) == 3 and all(x > 0 for x in v), "three positive per-channel values (R, G, B)"),
    "eval.clips": (_positive, "a positive integer"),
    "eval.crops": (lambda v: v in EVAL_CROPS, "1 (centre) or 3 (along the long side)"),
    "eval.batch_size": (_positive, "a positive integer"),
    "eval.resize": (_size, "a positive short side or [H, W]"),
    "eval.clip_layout": (lambda v: v in CLIP_LAYOUTS, f"one of {', '.join(CLIP_LAYOUTS)}"),
    "eval.checkpoint": (lambda v: v in CHECKPOINTS, f"one of {', '.join(CHECKPOINTS)}"),
    "eval.average": (lambda v: v in AVERAGES, f"one of {', '.join(AVERAGES)}"),
    "eval.single_crop": (lambda v: v in ("centre", "first"), "centre or first (left/top)"),
    "train.lr_step": (lambda v: v in LR_STEPS, f"one of {', '.join(LR_STEPS)}"),
    "train.cosine_span": (lambda v: v in ("after_warmup", "whole"), "after_warmup or whole"),
    "train.final_lr_ratio": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "train.warmup_start_ratio": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "train.no_decay": (lambda v: all(x in NO_DECAY for x in v), f"a list of {', '.join(NO_DECAY)}"),
    "train.lr_mult.bias": (_positive, "a positive number"),
    "train.lr_mult.fc_weight": (_positive, "a positive number"),
    "train.lr_mult.fc_bias": (_positive, "a positive number"),
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
    # A derived eval value that merely copies a bad data value is the same problem: say it once.
    bad = {k for k, _ in out}
    out = [(k, p) for k, p in out if not (k in DERIVED and DERIVED[k] in bad
                                          and get_key_or(cfg, k) == get_key_or(cfg, DERIVED[k]))]
    d, ev = cfg.get("data", {}), cfg.get("eval", {})
    sized = lambda v: isinstance(v, int) or (isinstance(v, list) and _size(v))  # noqa: E731
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
# normalization: the input mean/std; init: the backbone's starting weights; classifier: the new
# fc's init and lr multipliers. An entry's verdict (fidelity.py): same (source states it), silent
# (+ follows: the code it follows, file:line), unknowable ("<reason>"), or diverges (a judged value
# differs, or why: the reason and expected effect). on_dataset: {<dataset>: {...}} replaces
# those fields for rows run on that dataset (e.g. unknowable on ssv1 only).
SETTINGS = ("geometry", "train_crop", "flip", "normalization", "sampling", "frames", "epochs", "batch",
            "lr", "optimizer", "schedule", "warmup", "weight_decay", "bn", "init", "classifier",
            "dropout", "loss", "clipping", "stochastic_depth", "precision", "test_views", "checkpoint")
_FIDELITY_VERDICT = {"paper": str, "source": str, "silent": bool, "follows": str, "unknowable": str,
                     "why": str, "hint": str}
FIDELITY_ENTRY = {"expect": {"*": ANY}, "show": ("list", str), "per_row": bool, **_FIDELITY_VERDICT,
                  "on_dataset": {"*": _FIDELITY_VERDICT}}
# An ensemble row is judged on what it adds: its members' test protocol and score rule (the
# members' training is judged on their own rows).
ENSEMBLE_SETTINGS = ("ensemble",)
FIDELITY = {s: FIDELITY_ENTRY for s in SETTINGS + ENSEMBLE_SETTINGS}
RECIPE = {"description": str, "fidelity": FIDELITY, **CONFIG}
# seeds: every row runs once per seed (train.seed), and reports give mean +- std over them.
# Retrieval rows (SSAN Tables 7-8): the text-video network of Miech et al. trained on frozen clip
# features of a classifier row. Every key is documented once, with its default, in
# repro/retrieval/config.py (DEFAULTS); a spec, a row, a profile or --set retrieval.KEY=V sets it.
RETRIEVAL = {"text_encoder": str, "embed_dim": int, "word_vectors": str, "word2vec": (str, type(None)),
             "word_dim": int, "max_words": int, "epochs": int, "batch_size": int, "lr": NUM,
             "lr_decay": NUM, "margin": NUM, "batch_clips": int}
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
# Keys whose form changed: what an old value means now.
HINTS = {"data.flip": " (flip is a mode now: true was swap, false none; or skip, see the schema)"}
POSITIONS = ("in_block", "after_block", "replace_conv2")
METRICS = ("top1", "top5", "gflops", "params_m", "r@1", "r@5", "r@10", "median_rank", "order_only_r@1")
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
        hint = next((h for k, h in HINTS.items() if path.endswith(k)), "")
        problems.append(f"{path}: expected {_type_name(schema)}, got {type(value).__name__} "
                        f"{value!r:.40}{hint}")
