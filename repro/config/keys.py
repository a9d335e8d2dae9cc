"""Every key of a run config, declared once: its type, default, range, one line of doc and where
the default comes from.

:mod:`repro.config.schema` derives from :data:`KEYS` the type schema that specs, recipes,
profiles and ``--set`` are checked against, the defaults merged under every config before it is
hashed, the range checks of a resolved config, and ``docs/config.md``
(``python -m repro.config.keys > docs/config.md``; a test keeps it current).

A key whose type is :data:`MAPPING` holds the keys declared under it; ``{}`` or ``null`` given for
it in a later layer clears what an earlier layer set (repro/config/loader.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from repro.data.synthetic import DIFFICULTY_TYPES
from repro.models.fc_init import fc_init
from repro.typecheck import ANY, NUM

MAPPING = object()  # a mapping of the keys declared under this one
NONE = type(None)
INT_LIST = ("list", int)
SIZE = (int, INT_LIST)  # a short side, or a fixed [H, W]
NO_DEFAULT = object()  # set by the recipe, spec, profile or --set (or absent: see Key.required)

HARNESS = "harness choice"
TORCH = "torch's default"


@dataclass(frozen=True)
class Key:
    """One config key. ``ok(value)`` is its range (None passes where the type allows null);
    ``must`` says in words what ``ok`` accepts; ``choices`` makes both from a list of words."""

    path: str
    type: Any
    default: Any = NO_DEFAULT
    doc: str = ""
    source: str = ""
    ok: Callable[[Any], bool] | None = None
    must: str = ""
    choices: tuple = ()
    required: bool = False  # no default: a run config must set it
    derived: str | None = None  # unset: the value of this other key
    # False: how a run is carried out, not what it computes (left out of the config hash).
    # "unless_default": in the hash only when set to another value, so that adding the key left
    # every existing result's hash as it was.
    hashed: bool | str = True

    def check(self) -> tuple[Callable[[Any], bool], str] | None:
        """``(test, what the value must be)`` of a resolved value, or None when any value of the
        type goes."""
        if self.choices and self.ok is None:
            return (lambda v: v in self.choices), self.must or f"one of {', '.join(map(str, self.choices))}"
        return (self.ok, self.must) if self.ok else None


def _positive(v) -> bool:
    return v > 0


def _unit(v) -> bool:  # a fraction that cannot be 1
    return 0 <= v < 1


def _at_least_0(v) -> bool:
    return v >= 0


def size_ok(v) -> bool:
    """A positive short side, or ``[H, W]`` of positive integers."""
    if isinstance(v, list):
        return len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v)
    return v > 0


def _fc_init_ok(v) -> bool:
    return fc_init(v) is not None


_POS_INT = "a positive integer"
_UNIT = "in [0, 1)"
_STAGE = "block indices of {} (0 is the stage's first block) that hold a module"
_DIFFICULTY = "synthetic generator: {} (absent: repro.data.synthetic.Difficulty's default)"

KEYS: tuple[Key, ...] = (
    # --- model -------------------------------------------------------------------------------
    Key("model.backbone", MAPPING, doc="the network the modules are inserted in"),
    Key("model.backbone.arch", str, "resnet", "resnet (TSN-style 2D ResNet; frames fold into the batch) or "
        "slowfast (PySlowFast's two-pathway 3D ResNet)", HARNESS, choices=("resnet", "slowfast")),
    Key("model.backbone.depth", (int, NONE), 50, "ResNet depth (26, 50, 101, 152): the blocks per stage, "
        "unless model.backbone.layers gives them", "the papers' ResNet-50"),
    Key("model.backbone.layers", INT_LIST, doc="blocks per stage (four counts); overrides depth (the "
        "synthetic profile's small backbone)", ok=lambda v: len(v) == 4 and all(isinstance(x, int) and x > 0 for x in v),
        must="four positive block counts, one per stage"),
    Key("model.backbone.width", int, 64, "channels of the stem; every stage scales from it",
        "ResNet's 64", ok=_positive, must=_POS_INT),
    Key("model.backbone.pretrained", str, "none", "none or imagenet (torchvision ResNet weights into the "
        "trunk; $REPRO_IMAGENET_WEIGHTS)", HARNESS, choices=("none", "imagenet")),
    Key("model.backbone.shift", bool, False, "TSM's temporal shift in every residual block", "off: plain TSN"),
    Key("model.backbone.shift_div", int, 8, "1/shift_div of the channels shift each way", "TSM's shift_div 8",
        ok=lambda v: v >= 2, must="an integer >= 2"),
    Key("model.backbone.args", ANY, {}, "architecture-specific settings (SlowFast: alpha, beta, ...)", HARNESS),
    Key("model.frames", int, 8, "frames per clip (the fast pathway's, for SlowFast)", "the papers' main setting",
        ok=_positive, must=_POS_INT),
    Key("model.dropout", NUM, 0.5, "dropout before the classifier", "TSM's 0.5", ok=_unit, must=_UNIT),
    Key("model.fc_init", str, "default", "classifier init: default (torch's Linear), normal:<std> (weights "
        "N(0, std), bias 0; TSM 0.001, PySlowFast 0.01) or xavier (RSA)", TORCH, ok=_fc_init_ok,
        must="default, normal:<std> or xavier"),
    Key("model.drop_path", NUM, 0.0, "stochastic depth: bottleneck i of n drops its residual branch with "
        "probability drop_path * i / (n - 1) in training", "off", ok=_unit, must=_UNIT),
    Key("model.weights", (str, NONE), None, "a published checkpoint to start from (run_all.py --weights), "
        "converted by repro.convert; classifier and inserted modules keep their init", "none"),
    Key("model.weights_source", (str, NONE), None, "the publisher of model.weights (null: guessed from its keys)",
        "guessed", choices=("tsm", "rsa", "pyslowfast", "mmaction2", "torchvision"),
        must="one of tsm, rsa, pyslowfast, mmaction2, torchvision or null (guessed)"),
    Key("model.insert", MAPPING, doc="the video module inserted in the backbone, and where"),
    Key("model.insert.module", (str, NONE), None, "a registered module (repro/models/registry.py) or a class "
        "path package.module:Class; null: none", "none"),
    Key("model.insert.position", str, "after_block", "in_block (after conv2 of the bottleneck), after_block "
        "or replace_conv2", "the papers insert after a block",
        choices=("in_block", "after_block", "replace_conv2")),
    Key("model.insert.stages", MAPPING, {}, "stage -> block indices that hold a module", "none"),
    *(Key(f"model.insert.stages.{s}", INT_LIST, doc=_STAGE.format(s))
      for s in ("layer1", "layer2", "layer3", "layer4")),
    Key("model.insert.args", ANY, {}, "keyword arguments of the module's constructor", "the constructor's"),
    # --- data ---------------------------------------------------------------------------------
    Key("data.resize", SIZE, doc="short side the frames are resized to, or a fixed [H, W]", required=True,
        ok=size_ok, must="a positive short side or [H, W]"),
    Key("data.crop", int, doc="training crop (square side)", required=True, ok=_positive, must=_POS_INT),
    Key("data.crop_mode", str, "random", "training crop: random, multiscale (TSN's scales 1/.875/.75/.66, "
        "fixed offsets), jitter (short side uniform in data.jitter; PySlowFast) or jitter_inverse (1/short "
        "side uniform; PySlowFast's SSv2)", HARNESS, choices=("random", "multiscale", "jitter", "jitter_inverse")),
    Key("data.jitter", (INT_LIST, NONE), None, "[lo, hi] short sides of jitter crops", "none",
        ok=lambda v: len(v) == 2 and 0 < v[0] <= v[1], must="[lo, hi] short sides, 0 < lo <= hi"),
    Key("data.flip", str, "none", "horizontal flip: none; swap (a left/right class becomes its partner); skip "
        "(flip, except the classes of data.flip_keep; GTA, RSA)", "no flip (SSv2's labels have sides)",
        choices=("none", "swap", "skip"), must="one of none, swap, skip (true/false were swap/none)"),
    Key("data.flip_keep", (INT_LIST, NONE), None, "classes never flipped under flip: skip (null: those with a "
        "left/right partner)", "the dataset's flip pairs",
        ok=lambda v: all(isinstance(x, int) and x >= 0 for x in v), must="class indices"),
    Key("data.sampling", str, "tsn", "tsn (one frame per equal segment) or dense (model.frames frames "
        "sampling_rate apart)", "TSN", choices=("tsn", "dense")),
    Key("data.sampling_rate", int, 8, "frame step of dense sampling", "PySlowFast's 8x8",
        ok=_positive, must=_POS_INT),
    Key("data.num_workers", int, 0, "DataLoader worker processes", "0: the loading runs in the training "
        "process", ok=_at_least_0, must="an integer >= 0"),
    Key("data.cache_decoded", bool, False, "keep decoded videos in memory across epochs", "off"),
    Key("data.prepared", bool, False, "read the JPEG frame folders `python -m repro.prepare` wrote (SSv2: "
        "height 256, as TSM's tools/vid2img_sthv2.py extracts them) instead of the videos as distributed",
        "the videos as distributed", hashed="unless_default"),
    Key("data.decode", str, "cpu", "where frame-folder JPEGs are decoded: cpu (in the loader's workers) or gpu "
        "(workers read the bytes and draw the crops; the training device decodes the batch, then cuts and "
        "resizes: repro/data/jpeg_batch.py)", "cpu", choices=("cpu", "gpu"), hashed="unless_default"),
    Key("data.train_per_class", int, 100, "synthetic: training videos per class", HARNESS,
        ok=_positive, must=_POS_INT),
    Key("data.val_per_class", int, 30, "synthetic: validation videos per class", HARNESS,
        ok=_positive, must=_POS_INT),
    Key("data.generator_seed", int, 0, "synthetic: the seed of the generated dataset", HARNESS),
    Key("data.max_bad_fraction", NUM, 0.05, "above this fraction of unreadable videos a pass stops (below it "
        "they are skipped and listed)", HARNESS, ok=lambda v: 0 <= v <= 1, must="in [0, 1]"),
    Key("data.label_order", str, "alphabetical", "SSv1 class indices: alphabetical (TSM) or file (mmaction2); "
        "not interchangeable", "TSM", choices=("alphabetical", "file")),
    Key("data.smoke", bool, False, "serve the spec's dataset from its generated smoke layout "
        "(repro/data/smoke.py)", "off (the smoke profile sets it)"),
    Key("data.mean", ("list", NUM), [0.485, 0.456, 0.406], "per-channel mean of RGB frames in [0, 1]",
        "ImageNet (TSM, RSA, torchvision); PySlowFast 0.45", ok=lambda v: len(v) == 3,
        must="three per-channel values (R, G, B) of frames in [0, 1]"),
    Key("data.std", ("list", NUM), [0.229, 0.224, 0.225], "per-channel std: (x - mean) / std",
        "ImageNet (TSM, RSA, torchvision); PySlowFast 0.225",
        ok=lambda v: len(v) == 3 and all(x > 0 for x in v), must="three positive per-channel values (R, G, B)"),
    Key("data.difficulty", MAPPING, doc="knobs of the synthetic generator (repro.data.synthetic.Difficulty)"),
    *(Key(f"data.difficulty.{name}", DIFFICULTY_TYPES[name], doc=_DIFFICULTY.format(what))
      for name, what in (("size", "frame side in pixels"), ("frames", "frames per video"),
                         ("distractors", "[lo, hi] distractor objects"),
                         ("travel", "[lo, hi] distance an object moves"), ("object_size", "[lo, hi] object size"),
                         ("noise", "pixel noise std"))),
    # --- train --------------------------------------------------------------------------------
    Key("train.epochs", int, doc="training epochs", required=True, ok=_positive,
        must="a positive integer (a run must train)"),
    Key("train.batch_size", int, doc="global batch (all processes together)", required=True,
        ok=_positive, must=_POS_INT),
    Key("train.lr", NUM, doc="base lr (at train.lr_scale_batch, if set)", required=True,
        ok=_positive, must="a positive number"),
    Key("train.momentum", NUM, 0.9, "SGD momentum", HARNESS, ok=_unit, must=_UNIT),
    Key("train.nesterov", bool, True, "Nesterov momentum", HARNESS),
    Key("train.weight_decay", NUM, 0.0, "L2 weight decay", "off", ok=_at_least_0, must="a number >= 0"),
    Key("train.warmup_epochs", NUM, 0, "linear warm-up epochs", "none", ok=_at_least_0, must="a number >= 0"),
    Key("train.schedule", str, "cosine", "plateau, step (train.steps) or cosine", HARNESS,
        choices=("plateau", "step", "cosine")),
    Key("train.steps", INT_LIST, [], "epochs where a step schedule divides the lr by 10", "none",
        ok=lambda v: all(isinstance(x, int) and x > 0 for x in v), must="positive epoch numbers"),
    Key("train.plateau_patience", int, 3, "epochs without a lower validation loss before plateau divides "
        "the lr by 10", HARNESS, ok=_at_least_0, must="an integer >= 0"),
    Key("train.seed", int, 0, "seed of the init, the shuffle order and the augmentation", HARNESS,
        ok=_at_least_0, must="an integer >= 0"),
    Key("train.lr_step", str, "iter", "the schedule moves every iter(ation) or is held for an epoch (RSA)",
        HARNESS, choices=("iter", "epoch")),
    Key("train.final_lr_ratio", NUM, 0.0, "where the cosine ends, as a fraction of lr", "cosine to 0",
        ok=_unit, must=_UNIT),
    Key("train.warmup_start_ratio", NUM, 0.0, "where the warm-up starts, as a fraction of lr", "from 0",
        ok=_unit, must=_UNIT),
    Key("train.cosine_span", str, "after_warmup", "after_warmup (the cosine starts where the warm-up ends; "
        "RSA) or whole (over every epoch, the warm-up climbing to its value; PySlowFast)", "RSA",
        choices=("after_warmup", "whole"), must="after_warmup or whole"),
    Key("train.no_decay", ("list", str), [], "parameter kinds without weight decay (bn, bias)", "decay on all",
        ok=lambda v: all(x in ("bn", "bias") for x in v), must="a list of bn, bias"),
    Key("train.lr_mult", MAPPING, {}, "lr multipliers per parameter kind (the fc ones win over bias for the "
        "classifier)", "1 for every kind"),
    *(Key(f"train.lr_mult.{k}", NUM, doc=f"lr multiplier of {what}", ok=_positive, must="a positive number")
      for k, what in (("bias", "biases"), ("fc_weight", "the classifier's weight"), ("fc_bias", "the classifier's bias"))),
    Key("train.max_iters", (int, NONE), None, "caps every epoch at this many iterations (null: the whole "
        "training set); the schedule counts the capped epochs", "no cap", ok=_positive,
        must="a positive integer or null (a run must train)"),
    Key("train.checkpoint_every_minutes", NUM, 30, "also write last.pt inside an epoch every this many "
        "minutes of training (0: only at epoch ends), bounding what a hard kill loses; a resumed run "
        "ends with the same numbers, so it is not part of the config hash",
        "harness choice: a long SSv2 epoch on one node", ok=_at_least_0, must=">= 0 (0: off)", hashed=False),
    Key("train.label_smoothing", NUM, 0.0, "label smoothing of the cross-entropy", "off", ok=_unit, must=_UNIT),
    Key("train.grad_clip", (NUM, NONE), None, "clip the gradient's L2 norm at this value", "off",
        ok=_positive, must="a positive number or null"),
    Key("train.lr_scale_batch", (int, NONE), None, "train.lr is the lr at this global batch; another "
        "batch_size scales it linearly", "no scaling", ok=_positive, must="a positive integer or null"),
    Key("train.amp", (str, NONE), "none", "bf16 autocast on CUDA (CPU runs stay float32)",
        "float32, as the references train", choices=("bf16", "none")),
    Key("train.channels_last", bool, False, "channels_last 2D convolutions (any device)", "off"),
    Key("train.threads", (int, NONE), None, "torch CPU threads of the run: a fixed count keeps a seed's "
        "result the same whether rows run alone or side by side", TORCH, ok=_positive,
        must="a positive integer or null"),
    Key("train.precise_bn", int, 0, "before each validation, BN statistics recomputed over this many "
        "training batches (0: off)", "off (PySlowFast's BN.USE_PRECISE_STATS turns it on)",
        ok=_at_least_0, must="a number of batches >= 0 (0: off)"),
    Key("train.bn_group", (int, NONE), None, "BatchNorm statistics over groups of this many clips "
        "(repro/engine/bn_groups.py; null: the per-device batch, or the global batch under torchrun)",
        "the whole batch", ok=_positive, must="a positive number of clips or null (the whole batch)"),
    # --- eval ---------------------------------------------------------------------------------
    Key("eval.clips", int, 1, "test clips per video", "1 view", ok=_positive, must=_POS_INT),
    Key("eval.crops", int, 1, "test crops per clip: 1 (centre) or 3 (along the long side)", "1 view",
        ok=lambda v: v in (1, 3), must="1 (centre) or 3 (along the long side)"),
    Key("eval.batch_size", int, doc="evaluation batch", derived="train.batch_size", ok=_positive, must=_POS_INT),
    Key("eval.resize", SIZE, doc="test resize (short side or [H, W])", derived="data.resize",
        ok=size_ok, must="a positive short side or [H, W]"),
    Key("eval.crop_size", int, doc="test crop side", derived="data.crop", ok=_positive, must=_POS_INT),
    Key("eval.clip_layout", str, "spread", "a TSN test's clips: spread ((k + .5)/K of a segment) or tsm "
        "(TSM's two-clip --twice_sample)", HARNESS, choices=("spread", "tsm")),
    Key("eval.checkpoint", str, "last", "the epoch whose test is the row's number: last, or best (highest "
        "validation top-1); both are reported", "last", choices=("last", "best")),
    Key("eval.average", str, "softmax", "what is averaged over views and ensemble members: softmax "
        "(PySlowFast) or logits (TSM's test_models.py)", "PySlowFast", choices=("softmax", "logits")),
    Key("eval.single_crop", str, "centre", "where a 1-crop test crops: centre, or first (left/top; "
        "PySlowFast's ssv2.py)", "centre", choices=("centre", "first"), must="centre or first (left/top)"),
)
_HT = "[22] = HowTo100M's code, antoine77340/howto100m at 50af0ff (docs/retrieval-facts.md)"
# The settings of a retrieval row (SSAN Tables 7-8): not part of a run config, resolved on their own
# (repro/retrieval/config.py) as these defaults <- the spec's retrieval: <- the row's <- the
# profile's <- --set retrieval.KEY=VALUE.
RETRIEVAL_KEYS: tuple[Key, ...] = (
    Key("retrieval.text_encoder", str, "maxpool", "sentence encoder: maxpool (per-word Linear+ReLU, max over "
        "words) or gru (SSAN's wording, which nothing in [22] backs)", "[22] model.py:17-45; facts 3",
        choices=("maxpool", "gru")),
    Key("retrieval.embed_dim", int, 6144, "joint embedding size d", "[22] README.md:66 (UNVERIFIED for "
        "these rows: facts 6)", ok=lambda v: v >= 1, must=">= 1"),
    Key("retrieval.word_vectors", str, "word2vec", "word2vec (a user-supplied binary, frozen) or learned "
        "(an embedding table over the training captions; the synthetic profile)", "[22] paper 4",
        choices=("word2vec", "learned")),
    Key("retrieval.word2vec", (str, NONE), None, "the word2vec binary (also $REPRO_WORD2VEC); required by "
        "word_vectors: word2vec", "none: the user gives it"),
    Key("retrieval.word_dim", int, 300, "learned word vectors' size (a word2vec file brings its own)",
        "GoogleNews' 300", ok=lambda v: v >= 1, must=">= 1"),
    Key("retrieval.max_words", int, 20, "words per caption after dropping unknown ones", "[22] args.py:64",
        ok=lambda v: v >= 1, must=">= 1"),
    Key("retrieval.epochs", int, 50, "training epochs of the retrieval network", "[22] README.md:64-67",
        ok=lambda v: v >= 1, must=">= 1"),
    Key("retrieval.batch_size", int, 256, "training batch", "[22] README.md:64-67", ok=lambda v: v >= 1, must=">= 1"),
    Key("retrieval.lr", NUM, 1e-4, "Adam's lr (no weight decay)", "[22] train.py:159", ok=_positive, must="> 0"),
    Key("retrieval.lr_decay", NUM, 1.0, "multiplied into the lr after every epoch", "[22] README.md:66",
        ok=_positive, must="> 0"),
    Key("retrieval.margin", NUM, 0.1, "max-margin ranking loss margin", "[22] args.py:72", ok=_positive, must="> 0"),
    Key("retrieval.batch_clips", int, 16, "clips per forward pass of the feature extraction (speed only)",
        HARNESS, ok=lambda v: v >= 1, must=">= 1"),
)
BY_PATH: dict[str, Key] = {k.path: k for k in (*KEYS, *RETRIEVAL_KEYS)}


def choices(path: str) -> tuple:
    """The words a key takes (``train.schedule`` -> plateau, step, cosine)."""
    return BY_PATH[path].choices


def _type_words(t: Any) -> str:
    if t is ANY:
        return "any"
    if t is MAPPING:
        return "mapping"
    if t == NUM:
        return "number"
    if isinstance(t, tuple) and t and t[0] == "list":
        return f"list of {_type_words(t[1])}"
    if isinstance(t, tuple):
        return " or ".join(_type_words(x) for x in t)
    return {int: "int", float: "number", str: "string", bool: "bool", NONE: "null"}.get(t, str(t))


def _default_words(k: Key) -> str:
    if k.required:
        return "required"
    if k.derived:
        return f"= {k.derived}"
    if k.default is NO_DEFAULT:
        return ""

    return f"`{json.dumps(k.default)}`"


def markdown() -> str:
    """``docs/config.md``: every key with its type, default, range, doc and the default's source."""
    lines = ["# Run config keys", "",
             "Generated from `repro/config/keys.py` (`python -m repro.config.keys > docs/config.md`); "
             "edit the table there, not this file. A run's config is merged in this order, later "
             "wins: these defaults, the recipe, the spec's `defaults`, the row, the profile, "
             "`--set`. `{}` or `null` for a mapping key clears what an earlier layer set.", ""]
    for section in ("model", "data", "train", "eval", "retrieval"):
        lines += [f"## {section}", ""]
        if section == "retrieval":
            lines += ["The settings of a retrieval row (SSAN Tables 7-8), resolved apart from the run "
                      "config: these defaults, the spec's and the row's `retrieval:`, the profile's, "
                      f"`--set retrieval.KEY=V`. {_HT}.", ""]
        lines += ["| key | type | default | allowed | what | default's source |", "|---|---|---|---|---|---|"]
        for k in (k for k in BY_PATH.values() if k.path.split(".")[0] == section):
            rng = k.check()
            cells = [f"`{k.path}`", _type_words(k.type), _default_words(k), rng[1] if rng else "", k.doc, k.source]
            lines.append("| " + " | ".join(c.replace("<", "&lt;").replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
