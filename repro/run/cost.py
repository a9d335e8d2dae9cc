"""``run_all.py --cost``: GFLOPs and parameters of every built row's paper-profile model.

No data and no training: each model is built on the meta device and counted at the paper's
input (:mod:`repro.cost`); the result goes to ``results/<table>/cost/<row>.json`` (a ``--set``
run to ``variants/<hash>/``, like any run), with the config it counted.
"""
from __future__ import annotations

import time

from repro.config.loader import config_hash, load_spec
from repro.cost import cost_of
from repro.data.registry import num_classes
from repro.models.build import build_from_config
from repro.results.store import result_path, write_result
from repro.run.provenance import Provenance
from repro.run.unit import Unit


def run_cost(table: str, overrides: dict, set_args: tuple, results_dir, say=print) -> None:
    spec = load_spec(table)
    for row in spec.rows:
        if not row.built:
            continue
        unit = Unit(str(spec.path), row.id, "paper", None, overrides, set_args)
        _, cfg = unit.config(check_modules=True)
        # One test view, as the papers count it: the test crop (GTA's SlowFast rows train on 224
        # crops and test, and count, at 256).
        frames, size = cfg["model"]["frames"], cfg["eval"]["crop_size"]
        classes = num_classes(cfg["data"]["dataset"])
        t0 = time.time()
        c = cost_of(lambda: build_from_config(cfg, classes), frames, size)
        ins = cfg["model"]["insert"]
        prov = Provenance(
            spec_hash=config_hash(cfg), profile="cost",
            dataset=f"none ({classes} classes of {cfg['data']['dataset']})", split=spec.split, frames=frames,
            views="1x1", epochs="", seed="", device="meta", wall_time_s=round(time.time() - t0, 2),
            overrides=list(set_args),
            extra={"input": f"1x3x{frames}x{size}x{size}",
                   "places": " ".join(f"{s}{b}" for s, b in ins["stages"].items()) if ins["module"] else ""})
        out = result_path(results_dir, spec.key, "cost", row.id, unit.variant(spec, cfg))
        write_result({"table": spec.key, "row": row.id, "metrics": c, "provenance": prov.to_dict(),
                      "config": cfg}, out, results_dir)
        say(f"[{spec.key}] {row.id}: {c['gflops']:.1f} GFLOPs, {c['params_m']:.2f} M params "
            f"at {prov.extra['input']}", flush=True)
