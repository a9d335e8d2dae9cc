"""Your own module as a row: its code in its result's identity (an edit re-runs, a comment does
not), its arguments through every form of --set, and the committed results current with the
committed code."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import TINY_SETS
from repro.code_digest import code_changes, model_code, source_digest
from repro.config.loader import config_hash, load_spec, parse_set, resolve, seed_override
from repro.errors import SpecError

REPO = Path(__file__).resolve().parents[1]

MODULE = '''
import torch
from torch import nn


class TemporalDiff(nn.Module):
    def __init__(self, channels, num_frames=8, scale=1.0):
        super().__init__()
        self.conv = nn.Conv3d(channels, channels, (3, 1, 1), padding=(1, 0, 0), bias=False)
        self.scale = scale

    def forward(self, x):  # (N, C, T, H, W)
        return x + self.scale * torch.relu(self.conv(x))
'''
# The same code: a docstring, comments, other spacing and line breaks.
COMMENTED = '''
"""My temporal module."""
import torch
from torch import nn


class TemporalDiff(nn.Module):
    """x plus a temporal difference."""

    def __init__(self, channels, num_frames=8, scale=1.0):
        super().__init__()
        # a 3x1x1 temporal convolution
        self.conv = nn.Conv3d(channels, channels, (3, 1, 1),
                              padding=(1, 0, 0), bias=False)
        self.scale = scale

    def forward(self, x):
        return x + self.scale * torch.relu(self.conv(x))  # residual
'''
EDITED = MODULE.replace("torch.relu", "torch.tanh")


def test_the_digest_ignores_comments_docstrings_and_formatting_only():
    assert source_digest(MODULE) == source_digest(COMMENTED)
    assert source_digest(MODULE) != source_digest(EDITED)
    assert source_digest(MODULE) != source_digest(MODULE.replace("scale=1.0", "scale=2.0"))


def test_a_model_records_the_files_of_its_classes_and_their_harness_imports():
    from repro.models.build import build_from_config

    cfg = resolve(load_spec("gta_fig3"), "gta", "synthetic")
    code = model_code(build_from_config(cfg, 15))
    # gta.py defines the module, resnet.py the backbone; attention.py and nonlocal_block.py are
    # what gta.py imports; torch is installed code and never counts.
    assert {"repro.models.gta", "repro.models.resnet", "repro.models.attention",
            "repro.models.nonlocal_block"} <= set(code)
    assert not any(k.startswith("torch") for k in code) and "repro.models.build" not in code
    assert code_changes(code) == []
    assert code_changes({**code, "repro.models.gta": "0" * 16}) == ["repro/models/gta.py changed"]
    assert code_changes(None) == ["the code it ran is not recorded"]
    assert code_changes({"no_such_module_here": "0" * 16}) == ["no_such_module_here is gone"]


def test_committed_results_ran_the_committed_code():
    """A change to a model file comes with its rows re-run (docs/architecture.md says how)."""
    stale = []
    for path in sorted((REPO / "results").glob("**/*.json")):
        if path.parent.name == "_patches":
            continue
        changed = code_changes(json.loads(path.read_text())["provenance"].get("code"))
        if changed:
            stale.append(f"{path.relative_to(REPO)}: {'; '.join(changed)}")
    assert not stale, f"{len(stale)} results ran other code; re-run their rows: {stale[:5]}"


def _run(tmp_path, tiny_root, *extra):
    cmd = [sys.executable, str(REPO / "run_all.py"), "--table", "ssa_table2", "--rows", "ssa", "--seeds", "0",
           "--jobs", "1", "--no-progress", "--cache-dir", str(tiny_root.parents[1]),
           *[a for d in ("results", "reports", "runs") for a in (f"--{d}-dir", str(tmp_path / d))],
           *[a for s in TINY_SETS for a in ("--set", s)], "--set", "model.insert.module=my_blocks:TemporalDiff",
           *extra]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_editing_your_module_re_runs_its_row_and_a_comment_does_not(tmp_path, tiny_root):
    mod = tmp_path / "my_blocks.py"
    mod.write_text(MODULE)
    out = _run(tmp_path, tiny_root)
    assert "top1" in out and "skipped" not in out
    (res,) = (tmp_path / "results").glob("ssa_table2/synthetic/variants/*/ssa.seed0.json")
    code = json.loads(res.read_text())["provenance"]["code"]
    assert code["my_blocks"] == source_digest(MODULE) and "repro.models.resnet" in code

    mod.write_text(COMMENTED)
    assert "skipped" in _run(tmp_path, tiny_root)

    mod.write_text(EDITED)
    out = _run(tmp_path, tiny_root)
    assert "the code of its model changed since its result (my_blocks.py changed): re-running" in out
    assert json.loads(res.read_text())["provenance"]["code"]["my_blocks"] == source_digest(EDITED)


# --- arguments: every form of --set, for a class-path module and for a built-in one -------------

FORMS = {
    "mapping": ["model.insert.module={m}", "model.insert.args={{{a}}}"],
    "key": ["model.insert.module={m}", "model.insert.args.{k}={v}"],
    "whole insert": ["model.insert={{module: '{m}', args: {{{a}}}}}"],
    "null then key": ["model.insert.module={m}", "model.insert.args=null", "model.insert.args.{k}={v}"],
    "key before module": ["model.insert.args.{k}={v}", "model.insert.module={m}"],
}
MODULES = {"class path": ("my_blocks:TemporalDiff", "scale", 0.5), "built-in": ("gta_ta", "pe", True)}


@pytest.fixture
def my_blocks(tmp_path, monkeypatch):
    (tmp_path / "my_blocks.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("my_blocks", None)
    yield
    sys.modules.pop("my_blocks", None)


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("form", FORMS)
def test_every_form_of_arguments_replaces_the_rows_own(form, module, my_blocks):
    name, key, value = MODULES[module]
    sets = [s.format(m=name, k=key, v=str(value).lower(), a=f"{key}: {str(value).lower()}") for s in FORMS[form]]
    cfg = resolve(load_spec("ssa_table2"), "ssa", "synthetic", parse_set(sets), check_modules=True)
    # SSA's own sa/sve/ta are gone: the module gets only what was given.
    assert cfg["model"]["insert"]["module"] == name and cfg["model"]["insert"]["args"] == {key: value}


def test_keys_after_a_clear_hold_only_those_keys_for_the_same_module():
    spec = load_spec("ssa_table2")
    cleared = resolve(spec, "ssa", "synthetic", parse_set(["model.insert.args=null", "model.insert.args.sa=false"]))
    merged = resolve(spec, "ssa", "synthetic", parse_set(["model.insert.args.sa=false"]))
    assert cleared["model"]["insert"]["args"] == {"sa": False}
    assert merged["model"]["insert"]["args"] == {"sa": False, "sve": True, "ta": True}


@pytest.mark.parametrize("sets, says", [
    (["model.insert.args=3", "model.insert.args.scale=0.5"], "an earlier --set gave model.insert.args the value 3"),
    (["model.insert.module=my_blocks:TemporalDiff", "model.insert.args.scal=0.5"], "takes no argument 'scal'"),
    (["model.insert..scale=1"], "is not a key path"),
])
def test_a_bad_argument_form_is_one_line(sets, says, my_blocks):
    with pytest.raises(SpecError) as e:
        resolve(load_spec("ssa_table2"), "ssa", "synthetic", parse_set(sets), check_modules=True)
    assert says in str(e.value)


@pytest.mark.slow
def test_a_bad_argument_form_exits_2_without_a_traceback(tmp_path):
    (tmp_path / "my_blocks.py").write_text(MODULE)
    proc = subprocess.run([sys.executable, str(REPO / "run_all.py"), "--table", "ssa_table2", "--rows", "ssa",
                           "--cost", "--results-dir", str(tmp_path / "r"), "--set", "model.insert.args=null",
                           "--set", "model.insert.module=my_blocks:TemporalDiff", "--set", "model.insert.args.x=1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "takes no argument 'x'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_notebook_that_edits_its_module_gets_the_new_code(tmp_path, monkeypatch):
    from repro.models.registry import import_path

    mod = tmp_path / "nb_blocks.py"
    mod.write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    first = import_path("nb_blocks:TemporalDiff")
    mod.write_text(textwrap.dedent(EDITED).replace("scale=1.0", "scale=3.0"))
    import os
    os.utime(mod, ns=(mod.stat().st_atime_ns, mod.stat().st_mtime_ns + 10**9))
    second = import_path("nb_blocks:TemporalDiff")
    assert first is not second and second(4).scale == 3.0
    sys.modules.pop("nb_blocks", None)


# --- a summary of your rows --------------------------------------------------------------------

def _fake(spec, row, seed, top1, fams, sets=()):
    """A result of ``row`` at ``seed`` under ``--set sets``, with the real config and hash."""
    from repro.run.unit import Unit

    over = parse_set(list(sets)) if sets else {}
    cfg = resolve(spec, row, "synthetic", seed_override(seed, over))
    unit = Unit("ssa_table2", row, "synthetic", seed, over, tuple(sets))
    return cfg, unit.variant(spec, cfg), {
        "table": "ssa_table2", "row": row, "seed": seed, "config": cfg,
        "metrics": {"top1": top1, "top5": 100.0, "family": fams},
        "provenance": {"spec_hash": config_hash(cfg), "code": {},
                       "profile": "synthetic", "commit": "c" * 40, "dataset": "synthetic (k)", "split": "val",
                       "frames": 8, "views": "1x1", "epochs": 8, "seed": seed, "device": "cpu",
                       "wall_time_s": 1.0, "overrides": list(sets), "places": "layer2[0] layer3[0, 1]"}}


def test_a_three_seed_variant_has_its_own_section_against_the_row_it_replaced(tmp_path, my_blocks):
    from repro.report.build import build_report
    from repro.results.store import result_path, write_json_atomic

    spec = load_spec("ssa_table2")
    res = tmp_path / "results"
    sets = ("model.insert.module=my_blocks:TemporalDiff", "model.insert.args.scale=0.5")
    folders = set()
    for s in range(3):
        for row, top1 in (("ssa", 70.0 + s), ("nl1d", 40.0 + s)):
            _, _, r = _fake(spec, row, s, top1, {"direction": top1, "appearance": 100.0})
            write_json_atomic(r, result_path(res, "ssa_table2", "synthetic", f"{row}.seed{s}"))
        _, variant, r = _fake(spec, "ssa", s, 50.0 + 2 * s, {"direction": 50.0 + s, "appearance": 99.0}, sets)
        path = result_path(res, "ssa_table2", "synthetic", f"ssa.seed{s}", variant)
        write_json_atomic(r, path)
        folders.add(path.parent)
    assert len(folders) == 1, "a variant's seeds share one folder"
    built = build_report(spec, res, tmp_path / "reports")
    md = (tmp_path / "reports" / "ssa_table2.md").read_text()
    section = md.split("## Your variants")[1].split("\n## ")[0]
    assert "ssa with --set model.insert.module=my_blocks:TemporalDiff --set model.insert.args.scale=0.5" in section
    assert "52.0 ± 2.0" in section and "50.0, 52.0, 54.0" in section  # mean ± std, per seed
    assert "the row it replaced" in section and "71.0 ± 1.0" in section
    assert "lower (diff -19.0" in section and "higher (diff +11.0" in section  # Welch against SSA, then NL 1D
    assert "p = " in section and "| direction" in section and "51.0 ± 1.0" in section  # per-family table
    assert "layer2[0] layer3[0, 1]" in section  # placements named
    assert built.variants == list(folders)
