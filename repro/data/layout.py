"""What a dataset module provides: :class:`Layout`, the hooks that read, check, flip and fake a layout.

A dataset is one module holding a ``LAYOUT = Layout(...)`` and one ``register(...)`` line in
:mod:`repro.data.registry` naming that module. The registry imports the module only when the
dataset is used, so a layout module may import what it needs, but keeps heavy imports (torch,
decord) inside its functions all the same: the smoke writers and the registry's checks load it.

Hooks take the run's resolved config (``cfg``) and the dataset's registry entry
(:class:`repro.data.registry.DatasetInfo`: name, title, class count), so one layout can serve
several datasets (the file-list layout serves Diving-48, Gym99 and Gym288).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple


class SmokeVideo(NamedTuple):
    """A generated video as :mod:`repro.data.smoke_copy` hands it to a layout's writer, with all
    a writer needs, so that no dataset module imports the generator."""

    split: str  # "train" | "val"
    number: int  # from 1, across both splits
    label: int  # synthetic class index (generator order)
    frames: Any  # (F, H, W, 3) uint8 RGB
    thing: str  # the object drawn, SSv2's placeholder
    template: str  # the class's SSv2 template, e.g. "Moving [something] up"
    text: str  # the template filled with ``thing``: SSv2's per-video label


# A layout's smoke writer: (root, videos, class names in generator order).
SmokeWriter = Callable[[Path, list[SmokeVideo], list[str]], None]


def no_flip(root: Path, cfg: dict) -> dict[int, int]:
    """No class has a side (Kinetics, Diving-48, FineGym): flip every clip freely."""
    return {}


def file_order(names: list[str], cfg: dict) -> dict[str, int]:
    """Class name -> label index when a layout writes classes in the order it is given them."""
    return {n: i for i, n in enumerate(names)}


@dataclass(frozen=True)
class Layout:
    """How the files of one on-disk layout become records, and how its smoke copy is written.

    ``records(root, split, cfg, info)``: the split's records (``.path``, ``.label``,
    ``.video_id``), in the order the run sees them. ``check_root(root)`` raises a
    :class:`repro.errors.DatasetError` naming the first missing piece; ``how_to_get`` ends the
    "not configured" error. ``flip_swap(root, cfg)``: the left/right label swap on a real root.

    ``smoke`` names the smoke layout (its folder under ``<cache>/smoke/``; datasets sharing a
    layout share it), ``write_smoke(root, videos, names)`` writes it from :class:`SmokeVideo` s
    and the class names, and ``smoke_index(names, cfg)`` gives the label each class name gets
    there.

    ``generate(cfg, cache_dir, progress) -> (root, info)``: a generated dataset (the synthetic
    default), made on demand instead of looked up. ``num_classes()``: the class count, for an
    entry that registers none. ``decoder(records)``: the decoder a dataset fingerprint names
    (:mod:`repro.data.fingerprint`); None lets the fingerprint tell by the path type.
    ``prepare_jobs(root)``: (video, frame folder, height) of the videos ``python -m repro.prepare``
    turns into JPEG frames, read back with ``data.prepared: true``; None when the layout has no
    prepared form.
    """

    records: Callable[[Path, str, dict, Any], list]
    check_root: Callable[[Path], None] | None = None
    how_to_get: str = ""
    flip_swap: Callable[[Path, dict], dict[int, int]] = no_flip
    smoke: str | None = None
    write_smoke: SmokeWriter | None = None
    smoke_index: Callable[[list[str], dict], dict[str, int]] = file_order
    generate: Callable[[dict, Path | None, bool], tuple[Path, dict]] | None = None
    num_classes: Callable[[], int] | None = None
    decoder: Callable[[list], str] | None = None
    prepare_jobs: Callable[[Path], list[tuple[Path, Path, int]]] | None = None
