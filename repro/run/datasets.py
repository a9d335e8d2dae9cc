"""The datasets of a unit's config, prepared (generated or checked) once per process and built
per unit: a worker that runs several units decodes each video once.
"""
from __future__ import annotations

import json

from repro.data.registry import build_datasets, prepare
from repro.engine import distributed as D
from repro.run.unit import Dirs


# Decoded videos already held in this process, by data config and roots: a worker that runs several
# units decodes each video once. Datasets themselves are built per unit, since their
# augmentation seed (train.seed) and clip length (model.frames) belong to the unit.
_PREPARED: dict[str, tuple] = {}


def load_datasets(cfg: dict, dirs: Dirs, progress: bool) -> tuple:
    """``(root, info, train, val)`` of a config: its dataset prepared once per process."""
    # The roots are part of the key: a caller in one process may point the same config elsewhere.
    key = json.dumps([cfg["data"], dirs.data_roots, str(dirs.cache)], sort_keys=True)
    if key not in _PREPARED:
        W = D.world()
        # Rank 0 generates a missing dataset (with its progress bar) while the others wait.
        if not W.is_main:
            D.barrier()
        root, info = prepare(cfg, dirs.data_roots, dirs.cache, progress)
        if W.is_main:
            D.barrier()
        _PREPARED[key] = (root, info, {}, {})
    root, info, train_cache, val_cache = _PREPARED[key]
    train_ds, val_ds = build_datasets(cfg, root, info)
    if train_ds.cache is not None:  # whole decoded videos: the same whatever the seed or frames
        train_ds.cache, val_ds.cache = train_cache, val_cache
    return root, info, train_ds, val_ds


def prepare_data(cfg: dict, dirs: Dirs, progress: bool) -> None:
    """Generate a config's dataset if missing (in this process, with its progress bar)."""
    prepare(cfg, dirs.data_roots, dirs.cache, progress)
