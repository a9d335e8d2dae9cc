"""A full disk under results, runs, reports or the feature cache: one line naming the folder and
the bytes needed, exit code 1, and no partial or 0-byte file. Each case mounts a small tmpfs in
a private mount namespace (``unshare -rm``), so nothing outside the test sees it."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = ["--table", "ssa_table2", "--rows", "nl1d", "--seeds", "0", "--no-progress", "--jobs", "1",
        "--set", "train.epochs=1", "--set", "train.max_iters=2", "--set", "data.train_per_class=2",
        "--set", "data.val_per_class=1", "--set", "train.batch_size=4"]


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(["unshare", "-rm", "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=4k tmpfs $d"],
                       capture_output=True)
    return r.returncode == 0


pytestmark = pytest.mark.skipif(not _namespaces_work(), reason="needs unshare -rm and tmpfs mounts")


def _in_full_tmpfs(folder: Path, size: str, argv: list[str]) -> subprocess.CompletedProcess:
    """``argv`` run with a ``size`` tmpfs mounted at ``folder`` (private to the command)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = f'mount -t tmpfs -o size={size} tmpfs "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(folder), *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=300)




def _run(tmp: Path, cache: Path, full: str, size: str, jobs: int = 1) -> tuple[subprocess.CompletedProcess, Path]:
    # full == "cache": an empty cache folder, so that the run generates its dataset there.
    dirs = {k: tmp / k for k in ("results", "reports", "runs", "cache")}
    if full != "cache":
        dirs["cache"] = cache
    side_by_side = ["--jobs", "2", "--seeds", "0,1"] if jobs > 1 else []
    argv = [sys.executable, "run_all.py", *TINY, *side_by_side,
            *(x for k, d in dirs.items() for x in (f"--{k}-dir", str(d)))]
    # After the run, list the full folder from inside the namespace (the mount dies with it).
    lister = [sys.executable, "-c", "import os, sys; [print(os.path.join(r, f), os.path.getsize(os.path.join(r, f))) "
              "for r, _, fs in os.walk(sys.argv[1]) for f in fs]", str(dirs[full])]
    script = (f'mount -t tmpfs -o size={size} tmpfs "{dirs[full]}" && "$@"; rc=$?; echo "--- left:"; '
              + " ".join(f'"{a}"' for a in lister) + '; exit $rc')
    dirs[full].mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", *argv], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
    return r, dirs[full]


@pytest.mark.slow
# Sizes below what each folder needs: a result file is about 6 KiB (4k: one page), a checkpoint
# MiBs, a report's plot tens of KiB, the generated dataset MiBs. --jobs 2: a worker's full disk
# stops the run the same way.
@pytest.mark.parametrize("full, size, jobs", [("runs", "12k", 1), ("results", "4k", 1), ("reports", "12k", 1),
                                              ("cache", "1m", 1), ("runs", "12k", 2)])
def test_a_full_disk_is_one_line_exit_1_and_no_partial_file(tmp_path, tiny_root, full, size, jobs):
    r, folder = _run(tmp_path, tiny_root.parents[1], full, size, jobs)
    assert r.returncode == 1, (r.returncode, r.stderr[-3000:])
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "no space left on the device of " + str(folder) in errors[0] and "needed" in errors[0], errors
    left = [ln.rsplit(" ", 1) for ln in r.stdout.split("--- left:", 1)[1].splitlines() if ln.strip()]
    # No empty file (but a dataset's flock file, empty by design), no temp file or half-made folder.
    assert not [p for p, n in left if (int(n) == 0 and not p.endswith(".lock")) or ".tmp" in p], left


def test_a_feature_cache_on_a_full_disk_is_named_not_a_sigbus(tmp_path):
    """The memory-mapped features array is allocated up front: a sparse file that met a full
    disk while being written killed the process with SIGBUS (exit 135) and no message."""
    code = """
import sys, torch
from pathlib import Path
from repro.errors import DiskFull
from repro.retrieval.features import extract
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(512))
batches = [{"video": torch.zeros(4, 3, 2, 4, 4, dtype=torch.uint8), "index": torch.arange(i, i + 4),
            "bad": 0, "bad_videos": []} for i in range(0, 4000, 4)]
try:
    extract(model, batches, 4000, Path(sys.argv[1]) / "f", progress=False)
except DiskFull as e:
    print("error:", e)
    sys.exit(1)
"""
    r = _in_full_tmpfs(tmp_path / "cache", "64k", [sys.executable, "-c", code, str(tmp_path / "cache")])
    assert r.returncode == 1, (r.returncode, r.stderr[-3000:])
    assert "no space left on the device of " + str(tmp_path / "cache" / "f") in r.stdout and "needed" in r.stdout


def test_prepare_on_a_full_disk_is_one_line_and_leaves_no_folder(tmp_path):
    import shutil

    from repro.data import smoke
    from repro.data.ssv2 import FRAMES_DIR, VIDEO_DIR

    src = smoke.ensure_layout("ssv2", REPO / ".cache")
    root = tmp_path / "ssv2"
    shutil.copytree(src / "labels", root / "labels")
    shutil.copytree(src / VIDEO_DIR, root / VIDEO_DIR)
    frames = root / FRAMES_DIR
    lister = "import os, sys; print(sorted(os.listdir(sys.argv[1])))"
    script = (f'mount -t tmpfs -o size=64k tmpfs "{frames}" && "$@"; rc=$?; '
              f'"{sys.executable}" -c "{lister}" "{frames}"; exit $rc')
    frames.mkdir()
    r = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", sys.executable, "-m", "repro.prepare", "ssv2",
                        "--root", str(root), "--jobs", "1", "--no-progress"], cwd=REPO, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in r.stderr and f"device of {frames}" in errors[0], r.stderr[-2000:]
    left = eval(r.stdout.strip().splitlines()[-1])  # what the tmpfs held: whole folders only, no temporary one
    assert not [n for n in left if ".tmp" in n]
