"""Report layout: every markdown table the report code writes stays narrow enough to read
(at most MOST_COLUMNS columns), and the main table has one line per row."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from repro.config.loader import load_spec
from repro.report.tables import MOST_COLUMNS, long_table, markdown, narrow_tables

REPORTS = Path(__file__).resolve().parents[1] / "reports"
DIVIDER = re.compile(r"^\|[-:| ]+\|$")


def table_widths(text: str) -> list[tuple[int, str]]:
    """(columns, header line) of every markdown table in ``text``: a header row followed by its
    |---| divider; escaped pipes (\\|) inside cells are not column breaks."""
    lines = text.splitlines()
    out = []
    for head, div in zip(lines, lines[1:]):
        if head.startswith("|") and DIVIDER.match(div.strip()):
            out.append((len(re.split(r"(?<!\\)\|", head.strip())) - 2, head))
    return out


def test_table_widths_counts_columns():
    assert table_widths("| a | b \\| c |\n|---|---|\n| 1 | 2 |") == [(2, "| a | b \\| c |")]


@pytest.mark.parametrize("path", sorted(REPORTS.glob("*.md")), ids=lambda p: p.name)
def test_every_generated_table_is_narrow(path):
    widths = table_widths(path.read_text())
    wide = [(n, h[:120]) for n, h in widths if n > MOST_COLUMNS]
    assert not wide, f"{path.name}: tables wider than {MOST_COLUMNS} columns: {wide}"


def test_narrow_tables_repeats_the_key_column():
    headers = ["Row"] + [f"c{i}" for i in range(12)]
    text = "\n".join(narrow_tables(headers, [["r"] + list(range(12))]))
    widths = table_widths(text)
    assert [n for n, _ in widths] == [9, 5] and all(h.startswith("| Row") for _, h in widths)


SPEC = """
id: toy
title: toy table
paper: gta
table: Figure 3
dataset: ssv1
split: val
recipe: ssan_ss
defaults:
  model: {backbone: {depth: 50}, insert: {stages: {layer2: [1, 3], layer3: [1, 3, 5]}, position: after_block}}
rows:
  - id: base
    reported: [{metric: top1, value: 17.0}, {metric: top5, value: 40.0}, {metric: top1, value: 30.0, dataset: ssv2}]
  - id: nl
    model: {insert: {module: nl3d}}
    reported: [{metric: top1, value: 31.2}]
"""


def _result(row, seed, profile, top1):
    return {"row": row, "seed": seed, "metrics": {"top1": top1, "top5": top1 + 20},
            "provenance": {"profile": profile, "dataset": f"{profile} (abc123)", "frames": 8, "views": "1x1",
                           "epochs": 4, "seed": seed, "commit": "c" * 40, "code": {}, "spec_hash": "h", "device": "cpu",
                           "wall_time_s": 1.0, "places": "layer2[0]"}}


def test_main_table_has_one_line_per_row_per_dataset_and_metric(tmp_path):
    p = tmp_path / "toy.yaml"
    p.write_text(textwrap.dedent(SPEC))
    spec = load_spec(p)
    res = [_result("base", s, "synthetic", 50.0 + s) for s in range(3)] + [_result("base", None, "paper", 18.0)]
    text = markdown(spec, long_table(spec, res), res, None)
    main = text.split("## Reported vs reproduced")[1].split("\n## ")[0]
    assert "### ssv1 val, Top-1" in main and "### ssv2 val, Top-1" in main and "### ssv1 val, Top-5" in main
    block = main.split("### ssv1 val, Top-1")[1].split("###")[0]
    base = [ln for ln in block.splitlines() if ln.startswith("| toy") or ln.startswith("| base")]
    assert len(base) == 1  # both profiles on one line
    assert "51.0 ± 1.0 (synthetic, 3 seeds)" in base[0] and "18.0 (paper, 1 seed)" in base[0]
    assert "+1.0 (paper)" in base[0]  # the paper profile's Delta, named; synthetic has none
    assert all(n <= MOST_COLUMNS for n, _ in table_widths(text))
    prov = text.split("## Provenance")[1]
    assert "synthetic (abc123)" in prov and "| Frames" in prov and "| Epochs" in prov
