"""Paired-bar plots of reported vs reproduced numbers, byte-stable across regenerations."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.transforms import ScaledTranslation  # noqa: E402
import pandas as pd  # noqa: E402

from repro import metrics as M  # noqa: E402
from repro.files import write_atomic  # noqa: E402


# Numbers of the paper's kind (its recipe on its dataset) may share an axis with the paper's;
# every other profile gets a panel of its own, so that no reader compares across kinds.
COMPARABLE = ("paper",)
COLOURS = {"synthetic": "#1f77b4", "paper": "#d62728", "smoke": "#2ca02c"}


def _bars(ax, labels: list[str], series: list[tuple[str, list, list, str | None]], metric: str,
          title: str) -> None:
    """Grouped horizontal bars on ``ax`` (row labels on the y axis, read top to bottom):
    ``series`` of (legend label, values, errors, colour) per row label."""
    y = np.arange(len(labels))
    height = 0.8 / max(1, len(series))
    for i, (name, vals, err, colour) in enumerate(series):
        spread = not all(np.isnan(e) for e in err)  # the paper's single numbers have none
        ax.barh(y - 0.4 + height * (i + 0.5), np.nan_to_num(vals), height,
                xerr=np.nan_to_num(err) if spread else None, capsize=2, error_kw={"lw": 0.8},
                label=name, color=colour)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(f"{metric} (%)")
    ax.set_xlim(0, max(100, ax.get_xlim()[1]))  # room for error bars past 100
    ax.set_title(title, fontsize=9)
    _legend_below(ax)


def _legend_below(ax) -> None:
    """The legend under the axis (never over the bars); constrained layout makes room for it."""
    shift = ScaledTranslation(0, -0.45, ax.figure.dpi_scale_trans)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0), ncol=2, frameon=False,
              bbox_transform=ax.transAxes + shift)


FALLBACK_METRICS = ("r@1", "r@5")


def _has_numbers(df: pd.DataFrame, metric: str) -> bool:
    sub = df[df["metric"] == metric]
    return bool(sub["reported"].notna().any() or sub["reproduced"].notna().any())


def paired_bars(df: pd.DataFrame, title: str, path: Path, metric: str = "top1",
                dataset: str | None = None) -> None:
    """Reported vs reproduced ``metric`` per row, one panel per kind of number: the paper's
    numbers (on ``dataset``, the spec's, when given) with any paper-profile reproduction; each
    other profile (synthetic) on its own axis, never beside the paper's; reversal-pair accuracy
    last when present. Rows with no number in any panel are left out."""
    if not _has_numbers(df, metric):
        # Retrieval-only tables report R@K, not top-1: plot what the table has.
        metric = next((m for m in FALLBACK_METRICS if _has_numbers(df, m)), metric)
    main = df[df["metric"] == metric]
    rev = df[df["metric"] == "reversal_pairs"]
    on_ds = main if dataset is None else main[main["dataset"] == dataset]
    shown = on_ds["reported"].notna() | main["reproduced"].reindex(on_ds.index).notna()
    keep = set(on_ds[shown]["label"]) | set(main[main["reproduced"].notna()]["label"]) | set(rev["label"])
    labels = [l for l in dict.fromkeys(df["label"]) if l in keep][::-1]  # barh draws bottom-up
    if not labels:
        labels = list(dict.fromkeys(df["label"]))[::-1]

    def series(prof: str) -> tuple[list, list]:
        sub = [main[(main["label"] == l) & (main["profile"] == prof)] for l in labels]
        return [m["reproduced"].max() for m in sub], [m["reproduced_std"].max() for m in sub]

    rep = [on_ds[on_ds["label"] == l]["reported"].max() for l in labels]
    profiles = sorted(p for p in main["profile"].unique() if p and main[main["profile"] == p]["reproduced"].notna().any())
    panels = []
    if not all(np.isnan(v) for v in rep) or any(p in COMPARABLE for p in profiles):
        paper = [("reported (paper)", rep, [np.nan] * len(labels), "#7f7f7f")]
        paper += [(f"reproduced ({p})", *series(p), COLOURS.get(p)) for p in profiles if p in COMPARABLE]
        panels.append((paper, f"{title}: paper's numbers"))
    panels += [([(f"reproduced ({p})", *series(p), COLOURS.get(p))], f"{p} profile (not comparable to the paper)")
               for p in profiles if p not in COMPARABLE]
    n = max(1, len(panels) + (not rev.empty))
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n + 1.6, 0.28 * len(labels) + 2.2), squeeze=False,
                             sharey=True, layout="constrained")
    for ax, (ser, sub_title) in zip(axes[0], panels):
        _bars(ax, labels, ser, M.label(metric), sub_title)
    if not panels and rev.empty:
        axes[0, 0].set_axis_off()
        axes[0, 0].text(0.5, 0.5, f"{title}: no {M.label(metric)} numbers yet", ha="center", va="center")
    if not rev.empty:
        _reversal_panel(axes[0, len(panels)], rev, labels)
    save_figure(fig, path, 110)


def _reversal_panel(ax, rev: pd.DataFrame, labels: list[str]) -> None:
    """Reversal-pair accuracy per row (mean ± seed std) against the order-blind 50."""
    y = np.arange(len(labels))
    vals = [rev[rev["label"] == l]["reproduced"].max() for l in labels]
    err = [rev[rev["label"] == l]["reproduced_std"].max() for l in labels]
    ax.barh(y, np.nan_to_num(vals), 0.6, color="#1f77b4", xerr=np.nan_to_num(err), capsize=2,
            error_kw={"lw": 0.8})
    ax.axvline(50, color="k", ls="--", lw=1, label="50: chance for an order-blind model")
    ax.set_xlim(0, max(100, ax.get_xlim()[1]))  # room for error bars past 100
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("reversal-pair accuracy (%)")
    ax.set_title("synthetic probe: frame-order pairs", fontsize=9)
    _legend_below(ax)


def family_heatmap(probe: pd.DataFrame, labels: dict[str, str], title: str, path: Path) -> None:
    """Modules (rows, in ``labels`` order) x class families and reversal pairs: colour is the mean
    accuracy over seeds, each cell says "mean ± std".

    ``probe`` holds long-table lines (metric ``family:<name>`` / ``reversal_pairs``, mean in
    ``reproduced``, seed std in ``reproduced_std``).
    """
    metrics = sorted(m for m in probe["metric"].unique() if m.startswith("family:")) + ["reversal_pairs"]
    rows = [r for r in labels if r in set(probe["row"])]
    mean = np.full((len(rows), len(metrics)), np.nan)
    std = np.full_like(mean, np.nan)
    for j, metric in enumerate(metrics):
        sub = probe[probe["metric"] == metric].set_index("row")
        for i, r in enumerate(rows):
            mean[i, j] = sub["reproduced"].get(r, np.nan)
            std[i, j] = sub["reproduced_std"].get(r, np.nan)
    names = [m.split(":", 1)[1].replace("_", "/\n", 1) if ":" in m else "reversal\npairs" for m in metrics]
    fig, ax = plt.subplots(figsize=(1.45 * len(metrics) + 3.2, 0.42 * len(rows) + 1.9))
    im = ax.imshow(np.ma.masked_invalid(mean), cmap="viridis", vmin=0, vmax=100, aspect="auto")
    for (i, j), v in np.ndenumerate(mean):
        if not np.isnan(v):
            s = "" if np.isnan(std[i, j]) else f" ± {std[i, j]:.1f}"
            # Dark text on the light (high) end of viridis, white on the dark end.
            ax.text(j, i, f"{v:.1f}{s}", ha="center", va="center", fontsize=8,
                    color="black" if v > 60 else "white")
    ax.set_xticks(range(len(metrics)), names, fontsize=8)
    ax.set_yticks(range(len(rows)), [labels[r] for r in rows], fontsize=8)
    ax.tick_params(top=True, bottom=False, labeltop=True, labelbottom=False)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02).set_label("accuracy (%), mean over seeds", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, 110)


def save_figure(fig, path: Path, dpi: int) -> None:
    """The figure as PNG, made in memory and written atomically (a full disk leaves no 0-byte
    plot), then closed. No software/date metadata, so regeneration gives identical bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    write_atomic(path, buf.getvalue(), fsync=False)
