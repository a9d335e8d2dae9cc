"""A run folder keeps a log file, and a log without a terminal gets lines, not bar redraws."""
from __future__ import annotations

import io
import re

import pytest


@pytest.mark.slow
def test_run_folder_keeps_a_log_of_epochs_and_final_metrics(tiny_root, tmp_path):
    from repro.engine.runlog import LOG_FILE
    from repro.run.train import run_unit
    from repro.run.unit import Dirs, Unit, run_folder

    tiny = {"train": {"epochs": 2, "max_iters": 2, "batch_size": 4},
            "data": {"train_per_class": 2, "val_per_class": 1}}
    unit = Unit("ssa_table2", "nl1d", "synthetic", 0, tiny)
    dirs = Dirs(tmp_path / "results", tmp_path / "runs", tiny_root.parents[1])
    done = run_unit(unit, dirs, say=lambda *a, **k: None, progress=False)
    variant = done["path"].split("variants/")[1].split("/")[0]
    log = (run_folder(dirs.runs, "ssa_table2", "synthetic", unit.key, variant) / LOG_FILE).read_text()
    assert re.search(r"epoch 1/2: train loss [\d.]+, val top1 [\d.]+ .* clips/s training", log)
    assert "epoch 2/2" in log and "test, last epoch (2): top1" in log and "(the row's number)" in log


def test_without_a_terminal_progress_is_a_line_a_minute(monkeypatch, capsys):
    from repro import progress as P

    monkeypatch.setattr(P.sys, "stderr", io.StringIO())  # not a TTY
    clock = iter([0.0, 10.0, 61.0, 62.0])
    monkeypatch.setattr(P.time, "time", lambda: next(clock))
    bar = P.progress_bar(total=4, desc="epoch 1/8", unit="it", enabled=True)
    assert isinstance(bar, P.Lines)
    for _ in range(3):
        bar.update(1)
        bar.set_postfix(loss="0.693")
    # One line: at 61 s a minute had passed; at 10 s and 62 s less than a minute since the last.
    assert P.sys.stderr.getvalue() == "epoch 1/8: 2/4 it (61 s), loss 0.693\n"
