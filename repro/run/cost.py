"""``run_all.py --cost``: GFLOPs and parameters of every built row's paper-profile model.

No data and no training: each model is built on the meta device and counted at the paper's
input (:mod:`repro.cost`); the result goes to ``results/<table>/cost/<row>.json`` (a ``--set``
run to ``variants/<hash>/``, like any run), with the config it counted.
"""
from __future__ import annotations

import time

import torch

from repro.code_digest import model_code
from repro.config.loader import config_hash, load_spec
from repro.cost import model_cost
from repro.data.registry import num_classes
from repro.errors import UsageError
from repro.models.build import build_from_config
from repro.results.store import result_path, write_result
from repro.run.provenance import Provenance
from repro.run.unit import Unit


def run_cost(table: str, overrides: dict, set_args: tuple, results_dir, say=print,
             rows: tuple[str, ...] | None = None) -> None:
    """Count every built row of ``table`` (or ``rows``): all configs are resolved and checked
    before the first count, and each count is printed beside the paper's value."""
    spec = load_spec(table)
    units = [Unit(str(spec.path), r, "paper", None, overrides, set_args) for r in _rows(spec, rows)]
    configs = [u.config(check_modules=True)[1] for u in units]  # every row checked first
    for unit, cfg in zip(units, configs):
        c, prov = _count(spec, cfg, set_args)
        out = result_path(results_dir, spec.key, "cost", unit.row, unit.variant(spec, cfg))
        write_result({"table": spec.key, "row": unit.row, "metrics": c, "provenance": prov.to_dict(),
                      "config": cfg}, out, results_dir)
        say(f"[{spec.key}] {unit.row}: {c['gflops']:.1f} GFLOPs, {c['params_m']:.2f} M params "
            f"at {prov.extra['input']}{_paper(spec.row(unit.row))}", flush=True)


def _rows(spec, rows: tuple[str, ...] | None) -> list[str]:
    """The built rows to count: ``rows`` (each must be a built row of the spec), else all."""
    built = [r.id for r in spec.rows if r.built]
    if rows is None:
        return built
    bad = [r for r in rows if r not in built]
    if bad:
        raise UsageError(f"--rows {','.join(bad)}: not a built row of {spec.key} (built rows: "
                         f"{', '.join(built)})")
    return list(rows)


def _count(spec, cfg: dict, set_args: tuple) -> tuple[dict, Provenance]:
    """GFLOPs and parameters of one config, and the provenance of the count."""
    # One test view, as the papers count it: the test crop (GTA's SlowFast rows train on 224
    # crops and test, and count, at 256).
    frames, size = cfg["model"]["frames"], cfg["eval"]["crop_size"]
    classes = num_classes(cfg["data"]["dataset"])
    t0 = time.time()
    with torch.device("meta"):  # full-size shapes, no memory (as repro.cost.cost_of builds)
        model = build_from_config(cfg, classes)
    c = model_cost(model, frames, size)
    ins = cfg["model"]["insert"]
    prov = Provenance(
        spec_hash=config_hash(cfg), profile="cost",
        dataset=f"none ({classes} classes of {cfg['data']['dataset']})", split=spec.split, frames=frames,
        views="1x1", epochs="", seed="", device="meta", wall_time_s=round(time.time() - t0, 2),
        overrides=list(set_args), code=model_code(model),
        extra={"input": f"1x3x{frames}x{size}x{size}",
               "places": " ".join(f"{s}{b}" for s, b in ins["stages"].items()) if ins["module"] else ""})
    return c, prov


def _paper(row) -> str:
    """``; paper: 32.9 GFLOPs, 24.1 M params (SSAN Table 2)`` from the row's reported costs."""
    got = {v.metric: v for v in row.reported if v.metric in ("gflops", "params_m")}
    if not got:
        return "; the paper reports no cost for this row"
    parts = [f"{got['gflops'].value:g} GFLOPs" if "gflops" in got else "",
             f"{got['params_m'].value:g} M params" if "params_m" in got else ""]
    src = next(iter(got.values()))
    return f"; paper: {', '.join(p for p in parts if p)} ({src.paper.upper()} {src.table})"
