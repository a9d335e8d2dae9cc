"""The one-shot GPU check (issue 24): what a session with a lent GPU runs once, in at most 8 minutes.

bench/gpu_check.sh calls it. Each step runs as its own command, is timed, and goes into
bench/results/gpu_check.json (written on CUDA only: a CPU run is never a GPU figure):

1. ``throughput``: bench/gpu_throughput.py, compute bound (batches already on the device), for
   R50-TSN, TSM, +NL, +SSA, +GTA, RSA and SlowFast at float32 and at bf16 + channels_last:
   clips/s, peak memory, fraction of the bf16 peak from the counted FLOPs
   (bench/results/gpu_throughput.json);
2. ``resume``: TSM's row on the smoke data, read from its prepared frames, under
   ``python -m repro.torchrun``; SIGUSR1 to every process once the first epoch's checkpoint is
   written, then the same command again, which must resume at the saved step and finish;
3. ``eval_only``: that row's model saved as a TSM checkpoint file, converted and tested with
   ``--eval-only``;
4. ``loader``: bench/prepared_frames.py, loader clips/s from webm, from prepared frames (CPU
   path) and through the GPU decode path (``data.decode: gpu``: nvJPEG, crop and resize on the
   device).

``--dry-run`` runs the same steps on CPU at tiny sizes (the synthetic profile, 2-step
throughput checks), writes under a temporary folder only, and fails if any step fails: CI runs it,
so that the script a GPU session gets has run before.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
OUT = REPO / "bench" / "results" / "gpu_check.json"
PY = sys.executable
ROW = ["--table", "gta_table1", "--rows", "tsm_8f", "--seeds", "0", "--no-progress"]


def run(cmd: list[str], timeout: float, **kw) -> dict:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, **kw)
    out = {"command": " ".join(cmd), "rc": r.returncode, "seconds": round(time.perf_counter() - t0, 1)}
    if r.returncode:
        out["tail"] = (r.stdout + r.stderr)[-2000:]
    return out


def throughput(dry: bool, tmp: Path) -> dict:
    cmd = [PY, "bench/gpu_throughput.py", "--inputs", "device", "--precision", "fp32,bf16_channels_last"]
    cmd += ["--check"] if dry else ["--no-compile", "--steps", "10", "--warmup", "3"]
    return run(cmd, 300)


def _dirs(tmp: Path, name: str) -> list[str]:
    return [x for k in ("results", "reports", "runs") for x in (f"--{k}-dir", str(tmp / name / k))]


def _row_run(dry: bool) -> list[str]:
    if dry:  # the synthetic backbone, a few steps an epoch; 3 epochs, so that the signal lands in training
        return [*ROW, "--profile", "synthetic", "--set", "train.epochs=3", "--set", "train.max_iters=6",
                "--set", "data.train_per_class=2", "--set", "data.val_per_class=1", "--set", "train.batch_size=4"]
    # The paper pipeline on the smoke copy's prepared frames: 4 epochs of 15 steps at batch 2.
    return [*ROW, "--profile", "smoke", "--set", "data.prepared=true", "--set", "train.epochs=4",
            "--set", "train.max_iters=null", "--set", "train.batch_size=2", "--set", "eval.batch_size=2"]


def resume(dry: bool, tmp: Path) -> dict:
    from helpers import step_processes

    cmd = [PY, "-m", "repro.torchrun", "--standalone", "--nproc_per_node=1", "run_all.py", *_row_run(dry),
           *_dirs(tmp, "resume")]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    runs = tmp / "resume" / "runs"
    while time.time() < deadline and p.poll() is None and not list(runs.rglob("best.pt")):
        time.sleep(0.05)  # best.pt is written at the end of the first epoch
    sent = time.perf_counter()
    for pid in step_processes(p.pid):  # as SLURM signals a job step
        try:
            os.kill(pid, signal.SIGUSR1)
        except ProcessLookupError:
            pass
    out, err = p.communicate(timeout=240)
    stopped = {"rc": p.returncode, "seconds": round(time.perf_counter() - t0, 1),
               "signal_to_exit_s": round(time.perf_counter() - sent, 2),
               "said": next((ln for ln in err.splitlines() if "stopped on" in ln), "")[-300:]}
    again = run(cmd, 300)
    log = next(iter(runs.rglob("log.txt")), None)
    resumed = [ln for ln in (log.read_text().splitlines() if log else []) if "resumed from" in ln]
    # Usually the signal lands inside epoch 2 (a step checkpoint); on a loaded machine it may land
    # while epoch 1's checkpoint is written (a stop after the epoch). Either is a correct stop.
    ok = "stopped on" in stopped["said"] and stopped["rc"] != 0 and again["rc"] == 0 and bool(resumed)
    stopped["mid_epoch"] = "step" in stopped["said"]
    return {"command": " ".join(cmd), "rc": 0 if ok else 1, "stopped": stopped, "again": again,
            "resumed": resumed[-1][-200:] if resumed else "", **({} if ok else {"tail": err[-2000:]})}


def eval_only(dry: bool, tmp: Path) -> dict:
    import torch
    from helpers import tsm_layout

    import repro

    profile = "synthetic" if dry else "paper"
    model = repro.build_model("gta_table1", "tsm_8f", profile, overrides={"model": {"backbone": {"pretrained": "none"}}})
    ckpt = tmp / "TSM_something_resnet50_shift8_blockres_avg_segment8_e45.pth"
    saved = tsm_layout(model.state_dict())
    # TSM's blockres shift wraps every residual block's conv1 (ops/temporal_shift.py): conv1.net.*
    saved["state_dict"] = {re.sub(r"(layer\d\.\d+\.conv1)\.", r"\1.net.", k): v for k, v in saved["state_dict"].items()}
    torch.save(saved, ckpt)
    args = ([*ROW, "--profile", "synthetic", "--set", "data.train_per_class=2", "--set", "data.val_per_class=1"]
            if dry else [*ROW, "--profile", "smoke", "--set", "data.prepared=true"])
    return run([PY, "run_all.py", *args, "--eval-only", "--weights", str(ckpt), *_dirs(tmp, "eval")], 300)


def loader(dry: bool, tmp: Path) -> dict:
    return run([PY, "bench/prepared_frames.py", *(["--dry-run"] if dry else ["--passes", "2"])], 400)


STEPS = {"throughput": throughput, "resume": resume, "eval_only": eval_only, "loader": loader}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="every step on CPU at tiny sizes; writes nothing here")
    ap.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, of {', '.join(STEPS)}")
    a = ap.parse_args()
    import torch

    if not a.dry_run and not torch.cuda.is_available():
        print("error: no CUDA device: the GPU check measures a GPU (use --dry-run to test the script on CPU)",
              file=sys.stderr)
        return 2
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (dry run)"
    record = {"command": "bench/gpu_check.sh " + " ".join(sys.argv[1:]), "device": device,
              "torch": torch.__version__, "steps": {}}
    with tempfile.TemporaryDirectory() as t:
        for name in a.steps.split(","):
            print(f"== {name}", flush=True)
            record["steps"][name] = r = STEPS[name](a.dry_run, Path(t))
            print(json.dumps({k: v for k, v in r.items() if k != "tail"}), flush=True)
            if r["rc"]:
                print(r.get("tail", ""), file=sys.stderr)
    failed = [k for k, v in record["steps"].items() if v["rc"]]
    if not a.dry_run:
        OUT.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {OUT}")
    print(f"gpu check{' (dry run)' if a.dry_run else ''}: {len(record['steps']) - len(failed)} of "
          f"{len(record['steps'])} steps passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
