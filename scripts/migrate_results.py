"""Migrate trained results to the current config resolution (defaults filled in before hashing).

For every result under ``results/<table>/<profile>/`` that stores its config, the row's config is
resolved now; the result is migrated only when every value it stored is unchanged and every value
it lacked is what the schema's default (or a derived default) gives, i.e. when the same training
ran. Its config, spec hash and run hash are then rewritten, and ``provenance.migrated`` records the
old hash. Anything else is left as it is and listed (the reports then show it as stale). Cost
results hold no config: re-count them with ``run_all.py --cost``.

    python scripts/migrate_results.py [--results-dir results] [--dry-run]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repro.results.select import CurrentConfigs, flatten
from repro.results.store import RESULTS_DIR, read_result, write_json_atomic
from repro.run.unit import run_hash
from repro.config import schema as S
from repro.config.loader import load_spec


# Keys whose form changed, with what an old value means now.
RENAMED = {"data.flip": {True: "swap", False: "none"}}


def same_training(old: dict, new: dict) -> list[str]:
    """Keys where ``old`` (a stored config) and ``new`` (resolved now) disagree; meta is a label."""
    a = flatten({k: v for k, v in old.items() if k != "meta"})
    for k, table in RENAMED.items():
        if k in a and isinstance(a[k], bool):
            a[k] = table[a[k]]
    b = flatten({k: v for k, v in new.items() if k != "meta"})
    # Keys absent from the old config took the code's defaults then (the same values, now in the
    # schema); resolve() writes them out, so a new key must hold its default.
    defaults = flatten(S.DEFAULTS)
    defaults.update({k: b.get(src) for k, src in S.DERIVED.items()})
    changed = [k for k in sorted(a) if a[k] != b.get(k)]
    added = [k for k in sorted(b.keys() - a.keys())
             if b[k] != defaults.get(k, "(no default)") and not k.startswith("model.backbone.layers")]
    return changed + [f"{k} (new, not its default)" for k in added]


def migrate(results_dir: Path, dry_run: bool) -> int:
    moved, kept = 0, []
    for table_dir in sorted(p for p in results_dir.iterdir() if p.is_dir()):
        spec = load_spec(table_dir.name)
        configs = CurrentConfigs(spec)
        for path in sorted(table_dir.glob("*/*.json")):
            res = read_result(path)
            prov = res["provenance"]
            if prov["profile"] == "cost" or not isinstance(res.get("config"), dict):
                continue
            cfg, h, why = configs.get(res["row"], prov["profile"], res.get("seed"))
            if h is None:
                kept.append(f"{path}: {why}")
                continue
            if prov["spec_hash"] == h:
                continue
            diff = same_training(res["config"], cfg)
            if diff:
                kept.append(f"{path}: other values than the spec's now: {', '.join(diff[:4])}")
                continue
            step = {"from_spec_hash": prov["spec_hash"], "from_run_hash": prov.get("run_hash"),
                    "by": "scripts/migrate_results.py (new keys at their defaults; renamed values)"}
            before = prov.get("migrated")
            prov["migrated"] = [*(before if isinstance(before, list) else [before] if before else []), step]
            prov["spec_hash"], prov["run_hash"] = h, run_hash(cfg)
            res["config"] = cfg
            if not dry_run:
                write_json_atomic(res, path)
            moved += 1
    print(f"{moved} result(s) migrated{' (dry run)' if dry_run else ''}; {len(kept)} left as they are")
    for k in kept:
        print(f"  kept: {k}")
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args()
    sys.exit(migrate(a.results_dir, a.dry_run))
