"""python -m repro.launch: one torchrun command and one sbatch file per built row of a table."""
from __future__ import annotations

import re

from repro.launch import main

ROWS = ["nl3d", "nl2d", "nl1d", "nl2d1d", "ssa"]  # ssa_table2's built rows; reported-only are skipped


def test_commands_and_sbatch_files_for_ssa_table2(tmp_path, capsys):
    assert main(["--table", "ssa_table2", "--gpus", "4", "--out-dir", str(tmp_path), "--time", "12:00:00",
                 "--set", "train.batch_size=256"]) == 0
    out = capsys.readouterr().out
    cmds = re.findall(r"^(\w+): (python -m repro.torchrun .*)$", out, re.M)
    assert [r for r, _ in cmds] == ROWS
    for row, cmd in cmds:
        assert cmd == ("python -m repro.torchrun --nnodes=1 --nproc_per_node=4 --standalone run_all.py --table ssa_table2 "
                       f"--rows {row} --profile paper --no-progress --set train.batch_size=256")
    files = sorted(p.name for p in tmp_path.glob("*.sbatch"))
    assert files == sorted(f"ssa_table2-{r}.sbatch" for r in ROWS)
    text = (tmp_path / "ssa_table2-ssa.sbatch").read_text()
    assert text.startswith("#!/bin/bash") and "{{" not in text
    for line in ("#SBATCH --job-name=ssa_table2-ssa", "#SBATCH --nodes=1", "#SBATCH --gpus-per-node=4",
                 "#SBATCH --time=12:00:00", f"#SBATCH --output={tmp_path.resolve()}/%x-%j.out",
                 "#SBATCH --signal=USR1@120", "#SBATCH --requeue",
                 "srun --kill-on-bad-exit=1 " + dict(cmds)["ssa"]):
        assert line in text.splitlines(), line


def test_multi_node_uses_rendezvous(tmp_path, capsys):
    assert main(["--table", "ssa_table2", "--rows", "ssa", "--nodes", "2", "--out-dir", str(tmp_path)]) == 0
    cmd = re.search(r"^ssa: (python -m repro.torchrun .*)$", capsys.readouterr().out, re.M).group(1)
    assert "--nnodes=2 --nproc_per_node=8" in cmd and "--standalone" not in cmd
    assert "--rdzv_endpoint=$MASTER_ADDR:$MASTER_PORT" in cmd and "--rdzv_id=$SLURM_JOB_ID" in cmd
    assert "#SBATCH --nodes=2" in (tmp_path / "ssa_table2-ssa.sbatch").read_text()


def test_submit_without_sbatch_says_what_to_do(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    assert main(["--table", "ssa_table2", "--rows", "ssa", "--out-dir", str(tmp_path), "--submit"]) == 2
    err = capsys.readouterr().err
    assert "sbatch" in err and "SLURM" in err


def test_submit_calls_sbatch_per_file(tmp_path, capsys, monkeypatch):
    fake = tmp_path / "bin" / "sbatch"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "Submitted batch job ${1##*/}"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    assert main(["--table", "ssa_table2", "--out-dir", str(tmp_path / "jobs"), "--submit"]) == 0
    out = capsys.readouterr().out
    for r in ROWS:
        assert f"{r}: Submitted batch job ssa_table2-{r}.sbatch" in out


def test_unknown_or_reported_only_row_is_refused(capsys, tmp_path):
    assert main(["--table", "ssa_table2", "--rows", "nope", "--out-dir", str(tmp_path)]) == 2
    assert "built rows are" in capsys.readouterr().err


def test_rendered_sbatch_is_valid_bash_that_activates_the_environment(tmp_path, capsys):
    """The job file parses (bash -n), names the launcher's environment and the checkout, and its
    comments carry no filled-in placeholder."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    assert main(["--table", "gta_fig7", "--rows", "sa_gta", "--gpus", "8", "--nodes", "2",
                 "--out-dir", str(tmp_path)]) == 0
    text = (tmp_path / "gta_fig7-sa_gta.sbatch").read_text()
    assert subprocess.run([shutil.which("bash") or "/bin/bash", "-n", str(tmp_path / "gta_fig7-sa_gta.sbatch")],
                          capture_output=True).returncode == 0
    env = Path(sys.executable).parent
    assert any(ln in (f"source {env / 'activate'}", f"export PATH={env}:$PATH") for ln in text.splitlines())
    assert f"cd {Path(__file__).resolve().parents[1]}" in text.splitlines()
    comments = [ln for ln in text.splitlines() if ln.startswith("# ")]
    assert not any("gta_fig7" in ln or "--nproc_per_node" in ln for ln in comments), comments
