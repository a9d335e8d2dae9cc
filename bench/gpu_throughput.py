"""GPU training throughput of the paper models, ready for a GPU node (under 5 minutes).

For R50-TSN 8f, TSM 8f, +NL, +SSA, +GTA, RSA-R50 and SlowFast-R50 (the paper profile's models),
at float32 (the recipes' precision) and at bf16 autocast with channels_last 2D convolutions
(``--precision``), with and without ``torch.compile``:
- compute bound: SGD steps on batches already on the device;
- loader bound: the same steps fed by the real loader (decord, TSN sampling, the row's train
  transforms) on generated webm videos in the Something-Something-V2 layout (the smoke data).
Each is reported as training clips/s, peak memory, and a fraction of the device's bf16 peak,
counting forward + backward as 3 x the counted forward GFLOPs (repro.cost).

Writes bench/results/gpu_throughput.json, and only on CUDA: a CPU run is never a GPU figure.
``--check`` runs every path for 2 steps at a tiny size on whatever device there is and writes
nothing, to test the script itself.

Usage: .venv/bin/python bench/gpu_throughput.py [--batch 16] [--steps 20] [--no-compile] [--models r2d50,nl]
[--check]. torch.compile takes about a minute per model: with all six and compile it may pass
5 minutes; --no-compile or --models keeps a run short.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent / "results" / "gpu_throughput.json"
ROWS = [("gta_fig3", "r2d50", "R50-TSN 8f"), ("gta_table1", "tsm_8f", "TSM 8f"), ("gta_fig3", "nl", "+NL"),
        ("ssa_table2", "ssa", "+SSA"),
        ("gta_fig3", "gta", "+GTA"), ("rsa_main", "rsa_r50_8f", "RSA-R50 8f"),
        ("gta_fig3", "slowfast_r50", "SlowFast-R50 16x8")]
# Dense bf16 tensor-core peaks (TFLOP/s), from the vendors' data sheets; --peak-tflops overrides.
PEAKS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "V100": 125.0}


def peak_tflops(name: str, given: float | None) -> float | None:
    if given:
        return given
    return next((v for k, v in PEAKS.items() if k in name), None)


PRECISIONS = ("fp32", "bf16_channels_last")


def build(table: str, row: str, check: bool, precision: str = "bf16_channels_last"):
    import repro
    from repro.engine.inputs import to_channels_last
    from repro.config.loader import load_spec, resolve

    profile = "synthetic" if check else "paper"
    # Speed does not depend on the starting weights, and a GPU node may not reach the internet.
    over = {"model": {"backbone": {"pretrained": "none"}}}
    cfg = resolve(load_spec(table), row, profile, over)
    model = repro.build_model(table, row, profile, over)
    return (to_channels_last(model) if precision != "fp32" else model), cfg


def steps_per_s(model, batches, device, steps: int, warmup: int, amp: bool = True) -> tuple[float, float]:
    """Clips/s and peak memory (GiB) of ``steps`` SGD steps after ``warmup`` (bf16 autocast when
    ``amp``); ``batches`` yields ``(x, y)`` on the device."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    clips, t0 = 0, None
    for i, (x, y) in enumerate(batches):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0, clips = time.perf_counter(), 0
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        clips += len(y)
        if i + 1 == warmup + steps:
            break
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    return clips / (time.perf_counter() - t0), peak


def on_device(shape, classes: int, device, n: int):
    x = torch.randn(shape, device=device)
    y = torch.randint(0, classes, (shape[0],), device=device)
    for _ in range(n):
        yield x, y


def from_loader(cfg: dict, device, batch: int, n: int, workers: int):
    from repro.data.dataset import collate_clips
    from repro.data.registry import build_datasets, prepare
    from repro.engine.inputs import to_input

    cfg = {**cfg, "data": {**cfg["data"], "smoke": True, "num_workers": workers, "cache_decoded": False}}
    root, info = prepare(cfg, {}, None, False)
    train, _ = build_datasets(cfg, root, info)
    loader = torch.utils.data.DataLoader(train, batch_size=batch, shuffle=True, drop_last=True,
                                         num_workers=workers, collate_fn=collate_clips,
                                         persistent_workers=workers > 0, pin_memory=device.type == "cuda")
    done = 0
    while done < n:
        for b in loader:
            if "video" not in b:
                continue
            yield to_input(b["video"], device, torch.nn.Identity()), b["label"].to(device, non_blocking=True)
            done += 1
            if done >= n:
                return


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--models", help="comma-separated rows to run (default all: " + ",".join(r for _, r, _ in ROWS) + ")")
    ap.add_argument("--precision", default="bf16_channels_last",
                    help=f"comma-separated, of {', '.join(PRECISIONS)} (default bf16_channels_last)")
    ap.add_argument("--inputs", default="device,loader", help="device (compute bound), loader, or both")
    ap.add_argument("--out", type=Path, default=OUT, help=f"result file (default {OUT})")
    ap.add_argument("--check", action="store_true", help="2 steps at a tiny size, any device; writes nothing")
    a = ap.parse_args()
    from repro.cost import model_cost

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type != "cuda" and not a.check:
        raise SystemExit("error: no CUDA device: this benchmark measures a GPU and writes nothing on CPU "
                         "(use --check to test the script itself)")
    if a.check:
        a.batch, a.steps, a.warmup, a.workers = 2, 2, 1, 0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    peak = peak_tflops(name, a.peak_tflops)
    rows = []
    wanted = set(a.models.split(",")) if a.models else {r for _, r, _ in ROWS}
    precisions = [x for x in a.precision.split(",") if x]
    bad = [x for x in precisions if x not in PRECISIONS]
    if bad:
        raise SystemExit(f"error: --precision {','.join(bad)}: use {', '.join(PRECISIONS)}")
    for table, row, label in [r for r in ROWS if r[1] in wanted]:
        for precision in precisions:
            model, cfg = build(table, row, a.check, precision)
            model.to(device)
            frames, crop = cfg["model"]["frames"], cfg["data"]["crop"]
            gflops = model_cost(model, frames, crop)["gflops"] if not a.check else None
            shape = (a.batch, 3, frames, crop, crop)
            for compiled in ([False] if a.no_compile or a.check else [False, True]):
                net = torch.compile(model) if compiled else model
                for source in a.inputs.split(","):
                    n = a.warmup + a.steps
                    batches = (on_device(shape, model.fc.out_features, device, n) if source == "device"
                               else from_loader(cfg, device, a.batch, n, a.workers))
                    cps, mem = steps_per_s(net, batches, device, a.steps, a.warmup, amp=precision != "fp32")
                    frac = cps * 3 * gflops / (peak * 1e3) if gflops and peak else None
                    rows.append({"model": label, "table": table, "row": row, "precision": precision,
                                 "compile": compiled, "input": source, "clips_per_s": round(cps, 1),
                                 "peak_mem_gib": round(mem, 2), "gflops_forward": gflops,
                                 "fraction_of_bf16_peak": frac and round(frac, 3)})
                    print(json.dumps(rows[-1]), flush=True)
            del model
    if a.check:
        print(f"check run on {name}: every path ran; nothing written (not a measurement)")
        return
    a.out.write_text(json.dumps({"command": "python bench/gpu_throughput.py " + " ".join(os.sys.argv[1:]),
                               "device": name, "bf16_peak_tflops": peak, "batch": a.batch,
                               "steps": a.steps, "workers": a.workers, "torch": torch.__version__,
                               "rows": rows}, indent=2) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
