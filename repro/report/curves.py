"""Learning curves of a table's runs (per-epoch history in each result), with the official
training log of the same configuration overlaid where one is published (experiments/reference_logs/).
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt

from repro.config.loader import EXPERIMENTS
from repro.report.plots import save_panels

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
    """Train loss and validation top-1 per epoch of every result with a history; False when
    none has one (results from before histories were kept)."""
    runs = [r for r in results if r.get("history")]
    if not runs:
        return False

    matplotlib.use("Agg")

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.2))
    shown_refs = set()
    for r in runs:
        h, cfg = r["history"], r.get("config", {})
        label = f"{r['row']} ({r['provenance']['profile']}, seed {r.get('seed', '-')})"
        ep = [e["epoch"] for e in h]
        line, = ax_loss.plot(ep, [e["train_loss"] for e in h], label=label)
        ax_acc.plot(ep, [e["val_top1"] for e in h], color=line.get_color(), label=label)
        ref = reference_for(spec.paper, cfg.get("data", {}).get("dataset"), cfg.get("model", {}).get("frames"))
        if ref and ref["source"]["path"] not in shown_refs:
            shown_refs.add(ref["source"]["path"])
            name = f"official log ({ref['source']['repo']} {ref['source']['path']})"
            rep = ref["epochs"]
            ax_loss.plot([e["epoch"] for e in rep], [e["train_loss"] for e in rep], "k--", label=name)
            val = [(e["epoch"], e["val_top1"]) for e in rep if e.get("val_top1") is not None]
            ax_acc.plot(*zip(*val), "ko--", markersize=3, label=name)
    ax_loss.set(xlabel="epoch", ylabel="train loss", title="Training loss")
    ax_acc.set(xlabel="epoch", ylabel="top-1 (%)", title="Validation top-1 (1 view, after each epoch)")
    ax_acc.legend(fontsize=7, loc="lower right")
    save_panels(fig, (ax_loss, ax_acc), f"{spec.id}: learning curves", path)
    return True


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
