"""Dataset ids -> class counts, configured roots, and builders of train/eval datasets.

Adapters: ``ssv2`` (:mod:`repro.data.ssv2`, webm + JSON), ``ssv1`` (:mod:`repro.data.ssv1`,
JPEG frame folders + ';' CSVs), ``k400`` (:mod:`repro.data.kinetics`, CSV + mp4), ``diving48``,
``gym99``, ``gym288`` (:mod:`repro.data.filelist`, ``path num_frames label`` lists), and the
generated ``synthetic`` default. ``data.smoke: true`` (the ``smoke`` profile) serves the
spec's dataset from its generated smoke layout (:mod:`repro.data.smoke`) instead of a real root.

Where a dataset root comes from, first match wins:

1. ``--data-root name=path`` on the command line;
2. the environment variable ``REPRO_<NAME>_ROOT`` (e.g. ``REPRO_SSV2_ROOT``);
3. ``data_roots: {name: path}`` in ``./repro.yaml`` (the current directory);
4. the same in ``$XDG_CONFIG_HOME/repro.yaml`` (default ``~/.config/repro.yaml``).

Relative paths in a config file are taken relative to that file's folder.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from repro.errors import DatasetError

NUM_CLASSES = {"ssv1": 174, "ssv2": 174, "k400": 400, "diving48": 48, "gym99": 99, "gym288": 288}
ROOT_ENV = {"ssv2": "REPRO_SSV2_ROOT"}
CONFIG_NAME = "repro.yaml"
FILELIST_DATASETS = ("diving48", "gym99", "gym288")
# Left/right label swaps for flip augmentation (docs/facts.md section 8). SSv1's is stated in
# mmaction2 (file) order and translated by class name (ssv1.flip_swap); {} = flip freely, no
# class has a side.
SSV2_FLIP_SWAP = {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}
NAMES = {"ssv1": "Something-Something V1", "ssv2": "Something-Something V2", "k400": "Kinetics-400",
         "diving48": "Diving-48", "gym99": "FineGym (Gym99)", "gym288": "FineGym (Gym288)"}


def num_classes(dataset: str) -> int:
    if dataset == "synthetic":
        from repro.data.synthetic import CLASSES

        return len(CLASSES)
    if dataset not in NUM_CLASSES:
        raise DatasetError(f"unknown dataset {dataset!r} (known: synthetic, {', '.join(NUM_CLASSES)})")
    return NUM_CLASSES[dataset]


def config_files() -> list[Path]:
    """Config files read for ``data_roots``, in precedence order."""
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path.cwd() / CONFIG_NAME, Path(xdg) / CONFIG_NAME]


def _config_root(dataset: str) -> Path | None:
    import yaml

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
    env = ROOT_ENV.get(dataset, f"REPRO_{dataset.upper()}_ROOT")
    if os.environ.get(env):
        return Path(os.environ[env])
    if dataset == "synthetic":
        return None
    return _config_root(dataset)


def _adapter(name: str):
    if name == "ssv2":
        from repro.data import ssv2 as m
    elif name == "ssv1":
        from repro.data import ssv1 as m
    elif name == "k400":
        from repro.data import kinetics as m
    elif name in FILELIST_DATASETS:
        from repro.data import filelist as m
    else:
        raise DatasetError(f"dataset {name!r} has no loader (loaders: synthetic, "
                           f"{', '.join(NUM_CLASSES)})")
    return m


def _label_order(cfg: dict) -> str:
    order = cfg["data"]["label_order"]
    if order not in ("alphabetical", "file"):
        raise DatasetError(f"data.label_order {order!r} is not one of alphabetical (TSM), file (mmaction2)")
    return order


def prepare(cfg: dict, data_roots: dict[str, str] | None = None, cache_dir: Path | None = None,
            progress: bool = True) -> tuple[Path, dict]:
    """Root of the row's dataset (generating synthetic/smoke data if needed) and its class info.

    Class info holds ``flip_swap`` and, for the synthetic data, ``families`` and ``reversal_pairs``.
    """
    name = cfg["data"]["dataset"]
    if name == "synthetic":
        from repro.data.synthetic import SyntheticConfig, difficulty_from_config, ensure_dataset

        d = cfg["data"]
        sc = SyntheticConfig(d["train_per_class"], d["val_per_class"], d["generator_seed"],
                             difficulty_from_config(d.get("difficulty")))
        root = ensure_dataset(sc, cache_dir, progress)
        info = json.loads((root / "synthetic-meta.json").read_text())
        info["flip_swap"] = {int(k): v for k, v in info["flip_swap"].items()}
        return root, info
    adapter = _adapter(name)
    if cfg["data"].get("smoke"):
        from repro.data import smoke

        root = smoke.ensure_layout(smoke.layout_for(name), cache_dir)
        return root, {"flip_swap": smoke.flip_swap(name, root, _label_order(cfg)), "smoke": True}
    root = dataset_root(name, data_roots)
    if root is None:
        env = ROOT_ENV.get(name, f"REPRO_{name.upper()}_ROOT")
        raise DatasetError(f"{NAMES[name]} is not configured: give --data-root {name}=PATH, set "
                           f"{env}=PATH, or add data_roots: {{{name}: PATH}} to ./{CONFIG_NAME} or "
                           f"~/.config/{CONFIG_NAME}. {adapter.HOW_TO_GET} "
                           "Without it, use --profile synthetic (the embedded default) or "
                           "--profile smoke (a pipeline check on a few generated videos).")
    adapter.check_root(root)
    if name == "ssv2":
        swap = dict(SSV2_FLIP_SWAP)
    elif name == "ssv1":
        swap = adapter.flip_swap(root, _label_order(cfg))
    else:
        swap = {}  # Kinetics, Diving-48, FineGym: no left/right classes, flip freely
    return root, {"flip_swap": swap}


def read_records(cfg: dict, root: Path, split: str) -> list:
    """Records (``.path``, ``.label``, ``.video_id``) of ``split`` for the config's dataset."""
    name = cfg["data"]["dataset"]
    if name == "synthetic":
        from repro.data.ssv2 import read_split

        return read_split(root, split)
    adapter = _adapter(name)
    if name == "ssv1":
        return adapter.read_split(root, split, _label_order(cfg))
    if name in FILELIST_DATASETS:
        return adapter.read_split(root, split, num_classes(name))
    return adapter.read_split(root, split)


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


def build_datasets(cfg: dict, root: Path, info: dict):
    """(train, val) :class:`VideoClipDataset` for the config's dataset at ``root``; val is the
    1-view validation set (the row's test views are applied by the caller)."""
    from repro.data.dataset import VideoClipDataset
    from repro.data.transforms import ClipTransform

    d, frames = cfg["data"], cfg["model"]["frames"]
    seed, cache = cfg["train"]["seed"], d["cache_decoded"]
    sampling = {"sampling": d["sampling"], "rate": d["sampling_rate"]}
    tf = ClipTransform(d["resize"], d["crop"], True, crop_mode=d["crop_mode"], jitter=d["jitter"],
                       **flip_rule(d, info))
    train = VideoClipDataset(read_records(cfg, root, "train"), frames, tf, True, seed, cache, **sampling)
    val = VideoClipDataset(read_records(cfg, root, "val"), frames,
                           ClipTransform(d["resize"], d["crop"], False), False, seed, cache, **sampling)
    return train, val
