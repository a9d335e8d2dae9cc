"""Render one example video per synthetic class as frame strips: one PNG per class family.

Each row is a class: the 8 frames an 8-segment TSN model sees at test time (segment centres),
upscaled with nearest-neighbour so that 64 px frames stay sharp, with the class on the left.
The video of a class is the first training video the generator draws for it (same seed), at
the default difficulty unless ``--set`` says otherwise.

Usage: .venv/bin/python scripts/frame_strips.py [--out docs/probe] [--seed 0] [--scale 2]
       [--set noise=20 ...]
"""
from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import yaml

from repro.data.sampling import tsn_indices
from repro.data.synthetic import CLASSES, difficulty_from_config, label_text, render

ROOT = Path(__file__).resolve().parents[1]
SEGMENTS = 8
GAP = 2  # pixels between frames
LABEL_W = 330  # pixels for the class names
TITLE_H = 26
# What each family isolates, for the strip titles (README "The synthetic dataset").
ABOUT = {"direction": "reversal pairs: only frame order separates the two classes",
         "appear_disappear": "reversal pair: only frame order separates the two classes",
         "approach_recede": "reversal pair: only frame order separates the two classes",
         "pretending": "moved and brought back: the whole trajectory is needed",
         "appearance": "per-frame: any single frame tells the class",
         "relation": "order-free cross-frame: needs several frames, not their order"}


def family_strip(family: str, seed: int, scale: int, difficulty) -> np.ndarray:
    """RGB image of the family's classes, one row of ``SEGMENTS`` upscaled frames per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    for ci, cls in enumerate(CLASSES):
        if cls.family != family:
            continue
        # The generator's first training video of the class: rng [seed, split, class, index].
        frames, _ = render(cls, np.random.default_rng([seed, 0, ci, 0]), difficulty)
        picked = frames[tsn_indices(len(frames), SEGMENTS, train=False)]
        big = picked.repeat(scale, axis=1).repeat(scale, axis=2)
        side = big.shape[1]
        row = np.full((side, SEGMENTS * (side + GAP) - GAP, 3), 255, np.uint8)
        for k, f in enumerate(big):
            row[:, k * (side + GAP): k * (side + GAP) + side] = f
        rows.append((f"{ci}: {label_text(cls.template)}", row))
    side = rows[0][1].shape[0]
    width, height = LABEL_W + rows[0][1].shape[1], TITLE_H + len(rows) * (side + GAP)
    dpi = 100
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white")
    fig.text(4 / width, 1 - 6 / height, f"{family}: {ABOUT.get(family, '')}", va="top",
             fontsize=11, weight="bold")
    for i, (name, row) in enumerate(rows):
        top = TITLE_H + i * (side + GAP)
        # figimage places raw pixels (origin bottom left), so the frames are not resampled.
        fig.figimage(row, xo=LABEL_W, yo=height - top - side, origin="upper")
        fig.text(4 / width, 1 - (top + side / 2) / height, name, va="center", fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    from PIL import Image

    return np.asarray(Image.open(buf).convert("RGB"))


def main(argv: list[str] | None = None) -> None:
    from PIL import Image

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "probe")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=int, default=2, help="nearest-neighbour upscaling factor")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a data.difficulty knob, e.g. noise=20 or travel=[0.2,0.3]")
    args = p.parse_args(argv)
    knobs = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    difficulty = difficulty_from_config(knobs)
    args.out.mkdir(parents=True, exist_ok=True)
    for family in dict.fromkeys(c.family for c in CLASSES):
        img = Image.fromarray(family_strip(family, args.seed, args.scale, difficulty))
        # A 256-colour palette keeps the gradients recognisable at a fraction of the bytes.
        path = args.out / f"{family}.png"
        img.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
              f"{path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
