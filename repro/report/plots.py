"""Paired-bar plots of reported vs reproduced numbers, byte-stable across regenerations."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


# Numbers of the paper's kind (its recipe on its dataset) may share an axis with the paper's;
# every other profile gets a panel of its own, so that no reader compares across kinds.
COMPARABLE = ("paper",)
COLOURS = {"synthetic": "#1f77b4", "paper": "#d62728", "smoke": "#2ca02c"}


def _bars(ax, labels: list[str], series: list[tuple[str, list, list, str | None]], metric: str,
          title: str) -> None:
    """Grouped bars on ``ax``: ``series`` of (legend label, values, errors, colour) per row label."""
    x = np.arange(len(labels))
    width = 0.8 / max(1, len(series))
    for i, (name, vals, err, colour) in enumerate(series):
        spread = not all(np.isnan(e) for e in err)  # the paper's single numbers have none
        ax.bar(x - 0.4 + width * (i + 0.5), np.nan_to_num(vals), width,
               yerr=np.nan_to_num(err) if spread else None, capsize=2, error_kw={"lw": 0.8},
               label=name, color=colour)
    ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title(title, fontsize=9)
    ax.set_ylim(0, 125)  # headroom for the legend above 100%
    ax.legend(fontsize=7, loc="upper left", ncol=2)


def paired_bars(df: pd.DataFrame, title: str, path: Path, metric: str = "top1") -> None:
    """Reported vs reproduced ``metric`` per row, one panel per kind of number: the paper's
    numbers with any paper-profile reproduction; each other profile (synthetic) on its own axis,
    never beside the paper's; reversal-pair accuracy last when present."""
    labels = list(dict.fromkeys(df["label"]))
    main = df[df["metric"] == metric]
    rev = df[df["metric"] == "reversal_pairs"]

    def series(prof: str) -> tuple[list, list]:
        sub = [main[(main["label"] == l) & (main["profile"] == prof)] for l in labels]
        return ([m["reproduced"].max() for m in sub],
                [m["reproduced_std"].max() if "reproduced_std" in m else np.nan for m in sub])

    rep = [main[main["label"] == l]["reported"].max() for l in labels]
    profiles = sorted(p for p in main["profile"].unique() if p and main[main["profile"] == p]["reproduced"].notna().any())
    panels = []
    if not all(np.isnan(v) for v in rep) or any(p in COMPARABLE for p in profiles):
        paper = [("reported (paper)", rep, [np.nan] * len(labels), "#7f7f7f")]
        paper += [(f"reproduced ({p})", *series(p), COLOURS.get(p)) for p in profiles if p in COMPARABLE]
        panels.append((paper, f"{title}: paper's numbers"))
    for p in profiles:
        if p not in COMPARABLE:
            panels.append(([(f"reproduced ({p})", *series(p), COLOURS.get(p))],
                           f"{p} profile (not comparable to the paper)"))
    n = len(panels) + (not rev.empty)
    fig, axes = plt.subplots(1, max(1, n), figsize=(5.5 * max(1, n), 3.6), squeeze=False)
    for ax, (ser, sub_title) in zip(axes[0], panels):
        _bars(ax, labels, ser, metric, sub_title)
    if not rev.empty:
        ax = axes[0, len(panels)]
        x = np.arange(len(labels))
        vals = [rev[rev["label"] == l]["reproduced"].max() for l in labels]
        err = [rev[rev["label"] == l]["reproduced_std"].max() if "reproduced_std" in rev else np.nan
               for l in labels]
        ax.bar(x, np.nan_to_num(vals), 0.6, color="#1f77b4", yerr=np.nan_to_num(err), capsize=2,
               error_kw={"lw": 0.8})
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


def family_bars(probe: pd.DataFrame, labels: dict[str, str], title: str, path: Path) -> None:
    """Grouped bars: per module (row) the accuracy on each class family and on reversal pairs.

    ``probe`` holds long-table lines (metric ``family:<name>`` / ``reversal_pairs``, mean in
    ``reproduced``, seed std in ``reproduced_std``); error bars are one std over seeds.
    """
    metrics = sorted(m for m in probe["metric"].unique() if m.startswith("family:")) + ["reversal_pairs"]
    rows = [r for r in labels if r in set(probe["row"])]
    fig, ax = plt.subplots(figsize=(max(7.0, 0.75 * len(rows) * len(metrics) / 3), 3.8))
    x = np.arange(len(rows))
    width = 0.85 / len(metrics)
    cmap = plt.get_cmap("tab10")
    for i, metric in enumerate(metrics):
        sub = probe[probe["metric"] == metric].set_index("row")
        vals = [sub["reproduced"].get(r, np.nan) for r in rows]
        err = [sub["reproduced_std"].get(r, np.nan) for r in rows]
        name = metric.split(":", 1)[1] if ":" in metric else "reversal pairs"
        ax.bar(x - 0.425 + width * (i + 0.5), np.nan_to_num(vals), width, yerr=np.nan_to_num(err),
               capsize=1.5, error_kw={"lw": 0.7}, label=name, color=cmap(i % 10),
               hatch="//" if metric == "reversal_pairs" else None, edgecolor="white", linewidth=0)
    ax.axhline(50, color="k", ls="--", lw=0.8)
    ax.text(len(rows) - 0.5, 51, "50: order-blind on reversal pairs", ha="right", va="bottom", fontsize=7)
    ax.set_xticks(x, [labels[r] for r in rows], fontsize=8)
    ax.set_ylim(0, 118)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=len(metrics), loc="upper center", frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def save_panels(fig, axes, title: str, path: Path) -> None:
    """Grid every panel, title the figure, write it to ``path`` and free it."""
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
