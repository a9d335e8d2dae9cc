"""Paired-bar plots of reported vs reproduced numbers, byte-stable across regenerations."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def paired_bars(df: pd.DataFrame, title: str, path: Path, metric: str = "top1") -> None:
    """Left: reported vs reproduced ``metric`` per row. Right (if present): reversal-pair accuracy."""
    labels = list(dict.fromkeys(df["label"]))
    main = df[df["metric"] == metric]
    rev = df[df["metric"] == "reversal_pairs"]
    panels = 2 if not rev.empty else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 3.6), squeeze=False)
    ax = axes[0, 0]
    x = np.arange(len(labels))
    rep = [main[main["label"] == l]["reported"].max() for l in labels]
    profiles = sorted(p for p in main["profile"].unique() if p)
    width = 0.8 / (1 + len(profiles))
    ax.bar(x - 0.4 + width / 2, np.nan_to_num(rep), width, label="reported (paper)", color="#7f7f7f")
    colours = {"synthetic": "#1f77b4", "paper": "#d62728", "smoke": "#2ca02c"}
    for i, prof in enumerate(profiles):
        vals = [main[(main["label"] == l) & (main["profile"] == prof)]["reproduced"].max() for l in labels]
        note = ", not comparable" if prof == "synthetic" else ""
        ax.bar(x - 0.4 + width * (i + 1.5), np.nan_to_num(vals), width,
               label=f"reproduced ({prof}{note})", color=colours.get(prof, None))
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(title, fontsize=9)
    ax.set_ylim(0, 125)  # headroom for the legend above 100%
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    if panels == 2:
        ax = axes[0, 1]
        vals = [rev[rev["label"] == l]["reproduced"].max() for l in labels]
        ax.bar(x, np.nan_to_num(vals), 0.6, color="#1f77b4")
        ax.axhline(50, color="k", ls="--", lw=1, label="chance for an order-blind model")
        ax.set_ylim(0, 105)
        ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("reversal-pair accuracy (%)")
        ax.set_title("synthetic probe: frame-order pairs", fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    # No software/date metadata, so regeneration gives identical bytes.
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
