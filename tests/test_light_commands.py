"""Commands that train nothing run without importing torch (about 7 s saved on every --list)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROBE = """
import sys
from repro.cli import main
try:
    rc = main(sys.argv[1:])
except SystemExit as e:
    rc = e.code
print("TORCH" if "torch" in sys.modules else "NO-TORCH", rc)
"""


@pytest.mark.parametrize("args", [["--list"], ["--help"], ["--table", "ssa_table2", "--fidelity"],
                                  ["--table", "ssa_table2", "--report-only"]], ids=lambda a: " ".join(a))
def test_light_commands_do_not_import_torch(args, tmp_path):
    if "--report-only" in args:
        args = [*args, "--reports-dir", str(tmp_path)]
    out = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    last = out.stdout.strip().splitlines()[-1]
    assert last in ("NO-TORCH 0", "NO-TORCH None"), (last, out.stderr[-1000:])
