"""The retrieval section of a table's report: every retrieval row's metrics over seeds, the
classifier its features came from, and the settings it trained with."""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from tabulate import tabulate

from repro import metrics as M
from repro.report.plots import save_figure
from repro.report.seeds import aggregate, fmt_mean_std
from repro.report.tables import narrow_tables
from repro.retrieval.config import SOURCES, retrieval_settings

COLUMNS = tuple((k, M.label(k)) for k in M.metric_names(retrieval=True))


def retrieval_section(spec, results: list[dict], plot: Path | None = None,
                      title: str = "Text-to-video retrieval") -> list[str]:
    """Markdown lines (empty when the spec has no retrieval row with a result); ``plot``: where
    to draw the rows' metrics and ranking-loss curves."""
    labels = {r.id: r.label for r in spec.rows if r.is_retrieval}
    mine = [r for r in results if r["row"] in labels]
    if not mine:
        return []
    order = list(labels)
    rows = []
    for a in sorted(aggregate(mine), key=lambda a: (order.index(a["row"]), a["provenance"]["profile"])):
        runs = [r for r in mine if r["row"] == a["row"] and r["provenance"]["profile"] == a["provenance"]["profile"]]
        clf = runs[0]["provenance"].get("classifier") or {}
        tops = [r["provenance"].get("classifier", {}).get("top1") for r in runs]
        top = (f"{sum(tops) / len(tops):.1f}" if tops and all(t is not None for t in tops)
               else "published weights" if clf.get("weights") else "")
        rows.append([labels[a["row"]], a["provenance"]["profile"], f"{clf.get('table', '')}/{clf.get('row', '')}",
                     top, a["n"]] + [fmt_mean_std(a["mean"].get(k, float("nan")), a["std"].get(k, float("nan")), a["n"])
                                    if k in a["mean"] else "" for k, _ in COLUMNS])
    settings = {}
    for r in mine:
        settings.setdefault(r["provenance"]["profile"], r["config"]["retrieval"])
    headers = ["Row", "Profile", "Features of", "Classifier top-1", "Seeds", *[h for _, h in COLUMNS]]
    out = ["", f"## {title}", "",
           "Per retrieval row and profile, mean ± standard deviation over seeds. Captions are the "
           "queries and the test clips the gallery; R@K is the percent of captions whose clip ranks "
           "within K, the median rank is 1-based (HowTo100M's metrics.py). On the synthetic profile "
           "a caption may describe several videos (its best-ranked one counts); R@K and the median "
           "rank are over the captions that say what happens, *appearance R@1* over those naming only "
           "colour and shape, and *order-only R@1* is the percent of captions naming a direction whose "
           "video outscores its exact time reverse (50 = blind to frame order). The classifier column "
           "names the row whose features were used, and its top-1 on its own validation set.", "",
           *narrow_tables(headers, rows, [[2, 3, 4], list(range(5, len(headers)))], key=2)]
    for profile, s in sorted(settings.items()):
        out += ["", f"Retrieval settings ({profile}): " + ", ".join(f"{k} {v}" for k, v in s.items()
                                                                   if k != "word2vec") + "."]
    if plot is not None and _plot(spec, mine, labels, plot):
        out += ["", f"![retrieval]({plot.name})"]
    return out


def settings_section(spec, overrides: dict | None = None) -> list[str]:
    """The paper profile's retrieval settings (with ``--set retrieval.*`` applied) beside what
    SSAN and [22] state, with sources; out-of-range settings raise the SpecError that names them."""
    rows = [r for r in spec.rows if r.is_retrieval]
    if not rows:
        return []
    s = retrieval_settings(spec, rows[0].id, "paper", overrides)
    lines = [[k, s[k], *SOURCES[k]] for k in SOURCES]
    return ["", "## Retrieval settings (--profile paper)", "",
            "The retrieval network's settings under `--profile paper` beside what SSAN and HowTo100M "
            "([22]) state; docs/retrieval-facts.md has every source. SSAN states none of them. Features: "
            "the pooled input of the classifier row's last linear layer, one clip of its frame count at "
            "its test resize and centre crop (SSAN gives no feature details).", "",
            tabulate(lines, headers=["Setting", "Here", "Sources say", "Where"], tablefmt="github",
                     disable_numparse=True)]


def _plot(spec, results: list[dict], labels: dict[str, str], path: Path) -> bool:
    """Left: R@1, R@5 and order-only R@1 per row (mean and seed std); right: the ranking loss
    per epoch of every run, one thin line per seed in its row's colour. One legend, below both."""
    matplotlib.use("Agg")
    from matplotlib.lines import Line2D

    order = list(labels)
    aggs = sorted(aggregate(results), key=lambda a: (order.index(a["row"]), a["provenance"]["profile"]))
    if not aggs:
        return False
    keys = [k for k in ("r@1", "r@5", "order_only_r@1") if any(k in a["mean"] for a in aggs)]
    colour = {(a["row"], a["provenance"]["profile"]): plt.get_cmap("tab10")(i % 10) for i, a in enumerate(aggs)}
    fig, (ax_bar, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    width = 0.8 / max(len(aggs), 1)
    handles = []
    for i, a in enumerate(aggs):
        x = np.arange(len(keys)) + i * width
        handles.append(ax_bar.bar(x, [a["mean"].get(k, 0) for k in keys], width, capsize=3,
                                  yerr=[a["std"].get(k, 0) for k in keys],
                                  color=colour[(a["row"], a["provenance"]["profile"])],
                                  label=f"{labels[a['row']]} ({a['provenance']['profile']}, n={a['n']})"))
    ax_bar.set_xticks(np.arange(len(keys)) + 0.4 - width / 2, [dict(COLUMNS)[k] for k in keys])
    if "order_only_r@1" in keys:
        ax_bar.axhline(50, color="k", lw=0.8, ls=":")
        handles.append(Line2D([], [], color="k", lw=0.8, ls=":", label="order-blind (50)"))
    ax_bar.set(ylabel="%", title="Text-to-video retrieval (mean ± seed std)", ylim=(0, 105))
    for r in results:
        h = r.get("retrieval_history") or []
        ax_loss.plot([e["epoch"] for e in h], [e["loss"] for e in h], lw=0.8,
                     color=colour.get((r["row"], r["provenance"]["profile"]), "grey"))
    ax_loss.set(xlabel="epoch", ylabel="ranking loss",
                title="Retrieval network training loss (one line per seed, colour as left)")
    for ax in (ax_bar, ax_loss):
        ax.grid(alpha=0.3)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)), fontsize=8, frameon=False)
    fig.suptitle(f"{spec.id}: retrieval")
    save_figure(fig, Path(path), 90)
    return True
