"""A non-editable install carries the specs and the SLURM template, has the ``repro`` command,
and runs from any folder."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    text = (REPO / "pyproject.toml").read_text()
    for init in (REPO / "repro").rglob("__init__.py"):
        name = ".".join(init.parent.relative_to(REPO).parts)
        assert f'"{name}"' in text, f"{name} is missing from [tool.setuptools] packages in pyproject.toml"


@pytest.mark.slow
def test_installed_package_runs_from_another_folder(tmp_path):
    # Built from a copy of what pyproject.toml names: pip builds in the source folder, and a stale
    # build/ left in the checkout would be installed too and could hide a file missing from the list.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for name in ("repro", "experiments"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # --prefix rather than --target: only a prefix install writes the console script (bin/repro).
    # --ignore-installed: without it pip uninstalls the venv's own (editable) repro first.
    prefix = tmp_path / "prefix"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                    "--ignore-installed", "--disable-pip-version-check", "-q", "--prefix", str(prefix), str(src)],
                   check=True, capture_output=True, timeout=300)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))
    assert (site / "repro" / "experiments" / "ssa_table2.yaml").is_file()
    assert (site / "repro" / "experiments" / "recipes" / "synthetic.yaml").is_file()
    assert (site / "repro" / "templates" / "slurm.sbatch").is_file()
    script = prefix / "bin" / "repro"
    assert script.is_file()
    # Only the install on the path, run from a folder without the checkout, so that the repo's own
    # files cannot stand in for missing package data.
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}

    def run(*cmd: str) -> str:
        out = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    # The venv's editable install can still resolve a subpackage missing from the install to the
    # checkout, so every loaded repro module is checked to come from the install.
    code = ("import sys, repro, repro.cli, repro.launch; "
            "from repro.config.loader import EXPERIMENTS, list_tables, load_spec, resolve; "
            "print(EXPERIMENTS); print(len(list_tables())); "
            "print(resolve(load_spec('ssa_table2'), 'ssa', 'synthetic')['train']['epochs']); "
            "print(*sorted({getattr(m, '__file__', None) or '' for k, m in sys.modules.items() "
            "if k == 'repro' or k.startswith('repro.')}))")
    where, n, epochs, *files = run(sys.executable, "-c", code).split()
    assert where.startswith(str(site)) and int(n) >= 20 and epochs == "8"
    assert len(files) > 10 and all(f.startswith(str(site)) for f in files), files

    listed = run(str(script), "--list")
    assert "ssa_table2" in listed and "gta_fig7" in listed
    assert run(sys.executable, "-m", "repro", "--list") == listed
    assert run(sys.executable, "-m", "repro.cli", "--list") == listed
    # main()'s return value is the script's exit status (2: bad input).
    bad = subprocess.run([str(script), "--table", "no_such_table"], cwd=work, env=env, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "no_such_table" in bad.stderr, bad.stderr[-2000:]

    assert "--table" in run(sys.executable, "-m", "repro.launch", "--help")
    assert "--nproc_per_node" in run(sys.executable, "-m", "repro.torchrun", "--help")
    # The shipped template renders, and the job starts the installed CLI (there is no run_all.py).
    out = run(sys.executable, "-m", "repro.launch", "--table", "ssa_table2", "--rows", "ssa",
              "--out-dir", str(work / "jobs"))
    assert "python -m repro.torchrun --nnodes=1 --nproc_per_node=8 --standalone -m repro --table ssa_table2" in out
    text = (work / "jobs" / "ssa_table2-ssa.sbatch").read_text()
    assert text.startswith("#!/bin/bash") and "srun --kill-on-bad-exit=1 python -m repro.torchrun" in text and "{{" not in text
