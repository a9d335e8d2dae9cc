"""Learning curves of a table's runs (per-epoch history in each result), with the official
training log of the same configuration overlaid where one is published (experiments/reference_logs/).
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from repro.config.loader import EXPERIMENTS
from repro.report.plots import COLOURS as PROFILE_COLOURS, save_figure

REFERENCE_LOGS = EXPERIMENTS / "reference_logs"


def reference_logs() -> list[dict]:
    """Every parsed official log: ``{"paper", "dataset", "frames", "source", "epochs": [...]}``."""
    return [json.loads(p.read_text()) for p in sorted(REFERENCE_LOGS.glob("*.json"))]


def reference_for(paper: str, dataset: str, frames: int) -> dict | None:
    """The official log of ``paper`` for this dataset and frame count, if one is published."""
    for log in reference_logs():
        if (log.get("paper"), log.get("dataset"), log.get("frames")) == (paper, dataset, frames):
            return log
    return None


def plot_curves(spec, results: list[dict], path: Path) -> bool:
    """Small multiples, one panel per row: validation top-1 per epoch (left axis, one thin line
    per seed in its profile's colour) and train loss (right axis, grey), with the official log of
    the same configuration in black where one is published. False when no result has a history
    (results from before histories were kept)."""
    runs = [r for r in results if r.get("history")]
    if not runs:
        return False
    matplotlib.use("Agg")
    order = {r.id: (i, r.label) for i, r in enumerate(spec.rows)}
    by_row: dict[str, list[dict]] = {}
    for r in sorted(runs, key=lambda r: order.get(r["row"], (99, ""))[0]):
        by_row.setdefault(r["row"], []).append(r)
    ncols = min(4, len(by_row))
    nrows = -(-len(by_row) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols + 0.8, 2.5 * nrows + 1.2),
                             sharex=True, sharey=True, squeeze=False, layout="constrained")
    loss_axes, refs = [], set()
    for ax, (row, rs) in zip(axes.flat, by_row.items()):
        loss_axes.append(_row_panel(ax, spec, rs, order.get(row, (0, row))[1] or row, refs))
    for ax in axes.flat[len(by_row):]:
        ax.set_visible(False)
    _share(loss_axes, axes, ncols)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("val top-1 (%)")
    fig.legend(handles=_legend(runs, refs), loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"{spec.id}: learning curves (validation top-1 after each epoch, 1 view; train loss)")
    save_figure(fig, Path(path), 90)
    return True


def _row_panel(ax, spec, runs: list[dict], title: str, refs: set):
    """One row's panel; returns its right-hand (train loss) axis. ``refs`` collects the
    official logs drawn (each once per panel)."""
    loss = ax.twinx()
    drawn = set()
    for r in runs:
        h, cfg = r["history"], r.get("config", {})
        ep = [e["epoch"] for e in h]
        colour = PROFILE_COLOURS.get(r["provenance"]["profile"], "#9467bd")
        ax.plot(ep, [e["val_top1"] for e in h], color=colour, lw=1.0, alpha=0.85)
        loss.plot(ep, [e["train_loss"] for e in h], color="#7f7f7f", lw=0.7, alpha=0.8)
        ref = reference_for(spec.paper, cfg.get("data", {}).get("dataset"), cfg.get("model", {}).get("frames"))
        if ref and ref["source"]["path"] not in drawn:
            drawn.add(ref["source"]["path"])
            refs.add(f"{ref['source']['repo']} {ref['source']['path']}")
            rep = ref["epochs"]
            loss.plot([e["epoch"] for e in rep], [e["train_loss"] for e in rep], "k:", lw=1)
            val = [(e["epoch"], e["val_top1"]) for e in rep if e.get("val_top1") is not None]
            ax.plot(*zip(*val), "ko--", markersize=2.5, lw=1)
    ax.set_title(title, fontsize=9)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    loss.tick_params(labelsize=8)
    return loss


def _share(loss_axes: list, axes, ncols: int) -> None:
    """One train-loss scale for every panel, labelled on the right-hand column only."""
    ys = [y for ax in loss_axes for line in ax.get_lines() for y in line.get_ydata()]
    lo, hi = min(ys), max(ys)
    pad = 0.05 * (hi - lo or 1.0)
    for ax in loss_axes[1:]:
        ax.sharey(loss_axes[0])
    loss_axes[0].set_ylim(lo - pad, hi + pad)  # set after sharing: every panel's lines fit
    for i, ax in enumerate(loss_axes):
        last = i % ncols == ncols - 1 or i == len(loss_axes) - 1
        ax.tick_params(labelright=last)
        if last:
            ax.set_ylabel("train loss", color="#555555", fontsize=8)


def _legend(runs: list[dict], refs: set) -> list:
    """Line styles: one colour per profile present, the loss, and the official log if drawn."""
    from matplotlib.lines import Line2D

    profiles = sorted({r["provenance"]["profile"] for r in runs})
    handles = [Line2D([], [], color=PROFILE_COLOURS.get(p, "#9467bd"), label=f"val top-1, {p} (one line per seed)")
               for p in profiles]
    handles.append(Line2D([], [], color="#7f7f7f", lw=0.7, label="train loss (right axis)"))
    handles += [Line2D([], [], color="k", ls="--", marker="o", markersize=2.5,
                       label=f"official log, val top-1 (dotted: its train loss): {name}") for name in sorted(refs)]
    return handles


def checkpoint_lines(results: list[dict]) -> list[str]:
    """Markdown: the best- and last-epoch test numbers of every result that has both, and which
    one the row reports (eval.checkpoint, the reference's choice)."""
    rows = [r for r in results if r.get("checkpoints")]
    if not rows:
        return []
    out = ["", "## Best and last epoch", "",
           "Every run validates after each epoch and is tested at its last epoch and at the epoch "
           "of highest validation top-1. The row's number is the one its reference reports "
           "(`eval.checkpoint`).", "",
           "| Row | Profile | Seed | Reported | Best epoch | Best top-1 | Last epoch | Last top-1 |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["checkpoints"]
        out.append(f"| {r['row']} | {r['provenance']['profile']} | {r.get('seed', '-')} | "
                   f"{r.get('checkpoint', 'last')} | {c['best']['epoch']} | {c['best']['top1']:.1f} | "
                   f"{c['last']['epoch']} | {c['last']['top1']:.1f} |")
    return out
