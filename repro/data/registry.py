"""The dataset registry: every dataset id, registered once, and what serves it.

A dataset is one module and one line here. The line (:func:`register` with a
:class:`DatasetInfo`) gives the id, the display name, the class count and the dotted path of
the module that reads it; that module holds a :class:`repro.data.layout.Layout` (records,
root check, flip pairs, smoke writer, fingerprint decoder) and is imported on first use, so
importing this registry loads neither torch nor any decoder (``run_all.py --list``, ``--help``,
``--report-only`` stay light).

Registered: the generated ``synthetic`` default (:mod:`repro.data.synthetic`), ``ssv2``
(:mod:`repro.data.ssv2`, webm + JSON), ``ssv1`` (:mod:`repro.data.ssv1`, JPEG frame folders +
';' CSVs), ``k400`` (:mod:`repro.data.kinetics`, CSV + mp4), ``diving48``, ``gym99``, ``gym288``
(:mod:`repro.data.filelist`, ``path num_frames label`` lists), and the retrieval datasets
``msrvtt`` and ``youcook2``, listed here by name only (:mod:`repro.retrieval` reads them).
``data.smoke: true`` (the ``smoke`` profile) serves the spec's dataset from its generated smoke
layout (:mod:`repro.data.smoke`) instead of a real root.

Where a dataset root comes from, first match wins:

1. ``--data-root name=path`` on the command line;
2. the environment variable ``REPRO_<NAME>_ROOT`` (e.g. ``REPRO_SSV2_ROOT``);
3. ``data_roots: {name: path}`` in ``./repro.yaml`` (the current directory);
4. the same in ``$XDG_CONFIG_HOME/repro.yaml`` (default ``~/.config/repro.yaml``).

Relative paths in a config file are taken relative to that file's folder.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from repro.errors import DatasetError

if TYPE_CHECKING:
    from repro.data.dataset import VideoClipDataset
    from repro.data.layout import Layout

CONFIG_NAME = "repro.yaml"


@dataclass(frozen=True)
class DatasetInfo:
    """One registered dataset: its id, display name and class count (None where its layout
    counts them, or for a retrieval dataset), and the dotted path of the module whose ``LAYOUT``
    reads it (None for a retrieval dataset: :mod:`repro.retrieval` serves those)."""

    name: str
    title: str
    classes: int | None
    module: str | None
    retrieval: bool = False
    # Made by the harness rather than downloaded, so no spec names it as the paper's dataset.
    generated: bool = False


_REGISTRY: dict[str, DatasetInfo] = {}
# Classifier datasets with a fixed class count, kept for callers that list them (run/plan.py).
NUM_CLASSES: dict[str, int] = {}


def register(info: DatasetInfo) -> DatasetInfo:
    """Add a dataset (an id may be registered once; registering the same entry again is a no-op)."""
    old = _REGISTRY.get(info.name)
    if old is not None and old != info:
        raise ValueError(f"dataset {info.name!r} is already registered as {old}")
    _REGISTRY[info.name] = info
    if info.classes is not None and not info.retrieval:
        NUM_CLASSES[info.name] = info.classes
    return info


# In the order the spec schema lists dataset ids (its error messages name them in this order).
register(DatasetInfo("synthetic", "Synthetic temporal-reasoning videos", None, "repro.data.synthetic",
                     generated=True))
register(DatasetInfo("ssv1", "Something-Something V1", 174, "repro.data.ssv1"))
register(DatasetInfo("ssv2", "Something-Something V2", 174, "repro.data.ssv2"))
register(DatasetInfo("k400", "Kinetics-400", 400, "repro.data.kinetics"))
register(DatasetInfo("msrvtt", "MSR-VTT", None, None, retrieval=True))
register(DatasetInfo("youcook2", "YouCook2", None, None, retrieval=True))
register(DatasetInfo("diving48", "Diving-48", 48, "repro.data.filelist"))
register(DatasetInfo("gym99", "FineGym (Gym99)", 99, "repro.data.filelist"))
register(DatasetInfo("gym288", "FineGym (Gym288)", 288, "repro.data.filelist"))


def dataset_names(retrieval: bool | None = None) -> tuple[str, ...]:
    """Ids a spec may name as its dataset (every registered one but the generated default), in
    registration order; ``retrieval`` True or False keeps only retrieval or classifier datasets."""
    return tuple(d.name for d in _REGISTRY.values()
                 if not d.generated and (retrieval is None or d.retrieval == retrieval))


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of ``name``; a :class:`DatasetError` listing the known ids otherwise."""
    if name not in _REGISTRY:
        raise DatasetError(f"unknown dataset {name!r} (known: {', '.join(_REGISTRY)})")
    return _REGISTRY[name]


def layout(name: str) -> Layout:
    """The :class:`repro.data.layout.Layout` that reads ``name`` (its module imported now)."""
    d = dataset_info(name)
    if d.module is None:
        loaders = ", ".join(k for k, v in _REGISTRY.items() if v.module)
        raise DatasetError(f"dataset {name!r} has no loader here (loaders: {loaders}); "
                           "retrieval datasets are read by repro.retrieval")
    return importlib.import_module(d.module).LAYOUT


def smoke_layouts() -> dict[str, Layout]:
    """Smoke layout name -> the layout that writes it (the first registered one, where datasets
    share a layout), over every classifier dataset."""
    out: dict[str, Layout] = {}
    for name in dataset_names(retrieval=False):
        lay = layout(name)
        if lay.smoke and lay.write_smoke is not None:
            out.setdefault(lay.smoke, lay)
    return out


def smoke_layout(dataset: str) -> Layout:
    """The layout whose smoke copy serves ``dataset`` under the smoke profile."""
    lay = layout(dataset)
    if not lay.smoke or lay.write_smoke is None:
        served = [n for n in dataset_names(retrieval=False) if layout(n).write_smoke is not None]
        raise DatasetError(f"the smoke profile has no layout for dataset {dataset!r} "
                           f"(it serves {', '.join(served)})")
    return lay


def num_classes(dataset: str) -> int:
    """Classes of the classifier head for ``dataset``."""
    d = dataset_info(dataset)
    if d.retrieval:
        raise DatasetError(f"{d.title} ({dataset!r}) is a retrieval dataset: it has no classes")
    return d.classes if d.classes is not None else layout(dataset).num_classes()


def config_files() -> list[Path]:
    """Config files read for ``data_roots``, in precedence order."""
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path.cwd() / CONFIG_NAME, Path(xdg) / CONFIG_NAME]


def _config_root(dataset: str) -> Path | None:
    for f in config_files():
        if not f.is_file():
            continue
        try:
            data = yaml.safe_load(f.read_text()) or {}
        except yaml.YAMLError as e:
            raise DatasetError(f"{f} is not valid YAML ({e}); fix or remove it") from e
        roots = data.get("data_roots") if isinstance(data, dict) else None
        if roots is not None and not isinstance(roots, dict):
            raise DatasetError(f"{f}: data_roots must be a mapping, e.g. data_roots: {{ssv2: /data/ssv2}}")
        if roots and roots.get(dataset):
            p = Path(os.path.expanduser(str(roots[dataset])))
            return p if p.is_absolute() else f.parent / p
    return None


def dataset_root(dataset: str, data_roots: dict[str, str] | None = None) -> Path | None:
    """Configured root of a real dataset (precedence in the module docstring), or None."""
    if data_roots and dataset in data_roots:
        return Path(data_roots[dataset])
    env = root_env(dataset)
    if os.environ.get(env):
        return Path(os.environ[env])
    if dataset in _REGISTRY and _REGISTRY[dataset].generated:
        return None
    return _config_root(dataset)


def root_env(dataset: str) -> str:
    """The environment variable that may hold ``dataset``'s root."""
    return f"REPRO_{dataset.upper()}_ROOT"


def prepare(cfg: dict, data_roots: dict[str, str] | None = None, cache_dir: Path | None = None,
            progress: bool = True) -> tuple[Path, dict]:
    """Root of the row's dataset (generating synthetic/smoke data if needed) and its class info.

    Class info holds ``flip_swap`` and, for the synthetic data, ``families`` and ``reversal_pairs``.
    """
    d = dataset_info(cfg["data"]["dataset"])
    lay = layout(d.name)
    if lay.generate is not None:
        return lay.generate(cfg, cache_dir, progress)
    if cfg["data"].get("smoke"):
        from repro.data import smoke_copy

        lay = smoke_layout(d.name)
        return smoke_copy.ensure(lay, cache_dir), {"flip_swap": smoke_copy.flip_swap(lay, cfg), "smoke": True}
    root = dataset_root(d.name, data_roots)
    if root is None:
        raise DatasetError(f"{d.title} is not configured: give --data-root {d.name}=PATH, set "
                           f"{root_env(d.name)}=PATH, or add data_roots: {{{d.name}: PATH}} to "
                           f"./{CONFIG_NAME} or ~/.config/{CONFIG_NAME}. {lay.how_to_get} "
                           "Without it, use --profile synthetic (the embedded default) or "
                           "--profile smoke (a pipeline check on a few generated videos).")
    if lay.check_root is not None:
        lay.check_root(root)
    return root, {"flip_swap": lay.flip_swap(root, cfg)}


def prepared_datasets() -> list[str]:
    """Datasets with a prepared form (``python -m repro.prepare NAME``)."""
    return [n for n in dataset_names(retrieval=False) if layout(n).prepare_jobs is not None]


def read_records(cfg: dict, root: Path, split: str) -> list:
    """Records (``.path``, ``.label``, ``.video_id``) of ``split`` for the config's dataset,
    checked: every label a class index of the dataset, and no video listed twice in an
    evaluation split (its scores would count twice)."""
    d = dataset_info(cfg["data"]["dataset"])
    if cfg["data"]["prepared"] and layout(d.name).prepare_jobs is None:
        raise DatasetError(f"data.prepared is true, but {d.title} has no prepared form (python -m repro.prepare "
                           f"knows {', '.join(prepared_datasets())}); drop data.prepared")
    records = layout(d.name).records(root, split, cfg, d)
    classes, first = num_classes(d.name), {}
    for i, r in enumerate(records):
        if not 0 <= r.label < classes:
            raise DatasetError(f"{d.title} {split} split under {root}: video {r.video_id!r} has label "
                               f"{r.label}, outside 0..{classes - 1} ({classes} classes); fix its "
                               "annotation")
        if split != "train" and first.setdefault(r.video_id, i) != i:
            raise DatasetError(f"{d.title} {split} split under {root}: video {r.video_id!r} is listed twice "
                               "(in its annotation file); remove one, or its scores would count twice")
    return records


def flip_rule(d: dict, info: dict) -> dict:
    """ClipTransform's flip arguments for ``data.flip``: ``none``; ``swap`` (a left/right class
    becomes its partner); ``skip`` (flip every clip except the classes of ``data.flip_keep``, by
    default those with a left/right partner: GTA App. E, RSA ops/transforms.py)."""
    swap = info.get("flip_swap") or {}
    if d["flip"] == "swap":
        return {"flip_swap": swap}
    if d["flip"] == "skip":
        keep = d["flip_keep"] if d["flip_keep"] is not None else sorted(swap)
        return {"flip_swap": {}, "flip_keep": keep}
    return {"flip_swap": None}


def build_datasets(cfg: dict, root: Path, info: dict) -> tuple[VideoClipDataset, VideoClipDataset]:
    """(train, val) :class:`VideoClipDataset` for the config's dataset at ``root``; val is the
    1-view validation set (the row's test views are applied by the caller)."""
    from repro.data.dataset import VideoClipDataset
    from repro.data.transforms import ClipTransform

    d, frames = cfg["data"], cfg["model"]["frames"]
    seed, cache = cfg["train"]["seed"], d["cache_decoded"]
    # The dataset id rides along so that the fingerprint can ask its layout for the decoder.
    kw = {"sampling": d["sampling"], "rate": d["sampling_rate"], "source": d["dataset"]}
    tf = ClipTransform(d["resize"], d["crop"], True, crop_mode=d["crop_mode"], jitter=d["jitter"],
                       **flip_rule(d, info))
    recs = {split: read_records(cfg, root, split) for split in ("train", "val")}
    if d["decode"] == "gpu":  # the workers read JPEG bytes: frame folders only
        video = next((r.path for r in recs["train"] if not Path(r.path).is_dir()), None)
        if video is not None:
            raise DatasetError(f"data.decode=gpu decodes JPEG frame folders, and {video} is a video file: "
                               "set data.prepared=true (after python -m repro.prepare), or data.decode=cpu")
        kw["jpeg"], cache = True, False  # nothing decoded in the workers, so nothing to keep
    train = VideoClipDataset(recs["train"], frames, tf, True, seed, cache, **kw)
    val = VideoClipDataset(recs["val"], frames, ClipTransform(d["resize"], d["crop"], False), False, seed, cache, **kw)
    return train, val
