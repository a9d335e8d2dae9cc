"""Dataset ids -> class counts and builders of train/eval datasets for a resolved config."""
from __future__ import annotations

import json
import os
from pathlib import Path

from repro.data.ssv2 import DatasetError

NUM_CLASSES = {"ssv1": 174, "ssv2": 174, "k400": 400, "diving48": 48, "gym99": 99, "gym288": 288}
ROOT_ENV = {"ssv2": "REPRO_SSV2_ROOT"}


def num_classes(dataset: str) -> int:
    if dataset == "synthetic":
        from repro.data.synthetic import CLASSES

        return len(CLASSES)
    if dataset not in NUM_CLASSES:
        raise DatasetError(f"unknown dataset {dataset!r}")
    return NUM_CLASSES[dataset]


def dataset_root(dataset: str, data_roots: dict[str, str] | None = None) -> Path | None:
    """Configured root of a real dataset: ``--data-root name=path``, then $REPRO_<NAME>_ROOT."""
    if data_roots and dataset in data_roots:
        return Path(data_roots[dataset])
    env = ROOT_ENV.get(dataset, f"REPRO_{dataset.upper()}_ROOT")
    return Path(os.environ[env]) if os.environ.get(env) else None


def prepare(cfg: dict, data_roots: dict[str, str] | None = None, cache_dir: Path | None = None,
            progress: bool = True) -> tuple[Path, dict]:
    """Root of the row's dataset (generating the synthetic one if needed) and its class info.

    Class info holds ``flip_swap`` and, for the synthetic data, ``families`` and ``reversal_pairs``.
    """
    name = cfg["data"]["dataset"]
    if name == "synthetic":
        from repro.data.synthetic import SyntheticConfig, ensure_dataset

        d = cfg["data"]
        sc = SyntheticConfig(d.get("train_per_class", 100), d.get("val_per_class", 30),
                             d.get("generator_seed", 0))
        root = ensure_dataset(sc, cache_dir, progress)
        info = json.loads((root / "synthetic-meta.json").read_text())
        info["flip_swap"] = {int(k): v for k, v in info["flip_swap"].items()}
        return root, info
    if name != "ssv2":
        raise DatasetError(f"dataset {name!r} has no loader yet; only ssv2 and synthetic are supported")
    from repro.data.ssv2 import HOW_TO_GET, check_root

    root = dataset_root(name, data_roots)
    if root is None:
        raise DatasetError(f"Something-Something V2 is not configured. {HOW_TO_GET} "
                           "Without it, use --profile synthetic (the embedded default).")
    check_root(root)
    # SSv2 left/right template pairs (facts.md): flipping swaps them.
    return root, {"flip_swap": {86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166}}


def build_datasets(cfg: dict, root: Path, info: dict):
    """(train, val) :class:`VideoClipDataset` for an SSv2-format root."""
    from repro.data.dataset import VideoClipDataset
    from repro.data.ssv2 import read_split
    from repro.data.transforms import ClipTransform

    d, frames = cfg["data"], cfg["model"].get("frames", 8)
    swap = info.get("flip_swap") if d.get("flip") else None
    seed, cache = cfg["train"].get("seed", 0), d.get("cache_decoded", False)
    train = VideoClipDataset(read_split(root, "train"), frames,
                             ClipTransform(d["resize"], d["crop"], True, swap), True, seed, cache)
    val = VideoClipDataset(read_split(root, "val"), frames,
                           ClipTransform(d["resize"], d["crop"], False), False, seed, cache)
    return train, val
