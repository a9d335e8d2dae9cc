"""A non-editable install carries the specs and runs from any folder."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    text = (REPO / "pyproject.toml").read_text()
    for init in (REPO / "repro").rglob("__init__.py"):
        name = ".".join(init.parent.relative_to(REPO).parts)
        assert f'"{name}"' in text, f"{name} is missing from [tool.setuptools] packages in pyproject.toml"


@pytest.mark.slow
def test_installed_package_finds_its_specs_from_another_folder(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
                    "--target", str(target), str(REPO)], check=True, capture_output=True, timeout=300)
    assert (target / "repro" / "experiments" / "ssa_table2.yaml").is_file()
    assert (target / "repro" / "experiments" / "recipes" / "synthetic.yaml").is_file()
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = ("from repro.config.loader import EXPERIMENTS, list_tables, load_spec, resolve; "
            "print(EXPERIMENTS); print(len(list_tables())); "
            "print(resolve(load_spec('ssa_table2'), 'ssa', 'synthetic')['train']['epochs'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    where, n, epochs = out.stdout.split()
    assert where.startswith(str(target)) and int(n) >= 20 and epochs == "8"
