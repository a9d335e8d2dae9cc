"""The smoke copy of one layout: the synthetic generator's smoke videos written in its files, cached.

:mod:`repro.data.smoke` says what smoke data is and finds a layout by name; this module writes
a given :class:`repro.data.layout.Layout`'s copy (2 train and 1 val video per synthetic class,
24 frames of 64x64) under ``<cache>/smoke/<layout.smoke>/``, once: into a temporary folder
renamed into place when complete. It does not look layouts up, so the registry can call it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from repro.data.layout import Layout, SmokeVideo
from repro.data.synthetic import (CLASSES, GENERATOR_VERSION, Difficulty, class_info, default_cache_dir,
                                  fill_template, label_text, render)

SMOKE_VERSION = "3"  # 2: the SSv2 copy holds its prepared frames too; 3: the Kinetics copy too
TRAIN_PER_CLASS, VAL_PER_CLASS, SEED = 2, 1, 0


def class_names() -> list[str]:
    """Synthetic class names (brackets stripped) in generator order: the 'file order'."""
    return [label_text(c.template) for c in CLASSES]


def videos() -> list[SmokeVideo]:
    """The smoke videos, as the synthetic generator draws them."""
    index = {c.template: i for i, c in enumerate(CLASSES)}
    out, vid = [], 0
    for split_idx, (split, per_class) in enumerate((("train", TRAIN_PER_CLASS), ("val", VAL_PER_CLASS))):
        for ci, cls in enumerate(CLASSES):
            for j in range(per_class):
                vid += 1
                # Same rule as synthetic._generate: val partners are exact reverses of base videos.
                draw = index[cls.partner_of] if cls.partner_of and split == "val" else ci
                frames, thing = render(cls, np.random.default_rng([SEED, split_idx, draw, j]), Difficulty())
                out.append(SmokeVideo(split, vid, ci, frames, thing, cls.template,
                                      fill_template(cls.template, thing)))
    return out


def ensure(layout: Layout, cache_dir: Path | None = None) -> Path:
    """Root of ``layout``'s smoke copy, written if absent or made by another generator version."""
    name = layout.smoke
    if not name or layout.write_smoke is None:
        raise ValueError("this layout has no smoke copy (no smoke name or writer)")
    root = (Path(cache_dir) if cache_dir else default_cache_dir()) / "smoke" / name
    stamp = f"smoke {SMOKE_VERSION} synthetic {GENERATOR_VERSION}"
    done = root / "DONE"
    if done.is_file() and done.read_text() == stamp:
        return root
    tmp = root.with_name(f"{name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        layout.write_smoke(tmp, videos(), class_names())
        (tmp / "DONE").write_text(stamp)
    except BaseException:  # a full disk, Ctrl-C: no half-made copy is left to take its space
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if done.is_file() and done.read_text() == stamp:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        shutil.rmtree(root, ignore_errors=True)  # a stale version
        os.replace(tmp, root)
    return root


def flip_swap(layout: Layout, cfg: dict) -> dict[int, int]:
    """The synthetic left/right swap in the label indices of ``layout``'s smoke copy.

    The real datasets' swap maps index classes the smoke files do not have, so the smoke run
    flips with the synthetic pair instead, translated through class names into the layout's order.
    """
    names = class_names()
    pairs = {names[int(a)]: names[b] for a, b in class_info()["flip_swap"].items()}
    index = layout.smoke_index(names, cfg)
    return {index[a]: index[b] for a, b in pairs.items()}
