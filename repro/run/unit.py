"""One training unit: a (table, row, seed) run under a profile, where its files are, and whether
it is already done. Training one is :mod:`repro.run.train`.

A unit's result is written atomically where :mod:`repro.results.store` says: the spec's own
config at the row's path, any other config under ``variants/<hash>/``. Its checkpoints and
scores live in a run folder keyed the same way, so a ``--set`` run never resumes from, or
overwrites, the default run's files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from repro.code_digest import code_changes
from repro.config.loader import config_hash, load_spec, resolve, seed_override
from repro.results.store import VARIANTS, keyed_dir, read_result, result_path, short_path


@dataclass(frozen=True)
class Dirs:
    """Where a unit reads and writes; plain paths so that worker processes can receive it."""

    results: Path
    runs: Path
    cache: Path | None = None
    data_roots: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Unit:
    """One training run. ``seed`` None: the config's own seed, result file ``<row>.json``."""

    spec: str  # table id or path of a spec file
    row: str
    profile: str
    seed: int | None = None
    overrides: dict = field(default_factory=dict)  # parsed --set
    set_args: tuple = ()  # the --set strings, recorded in provenance
    # Train even if its result exists: a retrieval row needs the checkpoint, which is missing.
    retrain: bool = False

    @property
    def key(self) -> str:
        """File stem of its result and name of its run folder."""
        return self.row if self.seed is None else f"{self.row}.seed{self.seed}"

    def config(self, check_modules: bool = False) -> tuple[object, dict]:
        spec = load_spec(self.spec)
        return spec, resolve(spec, self.row, self.profile, seed_override(self.seed, self.overrides),
                             check_modules=check_modules)

    def variant(self, spec, cfg: dict) -> str | None:
        """The variant key when the overrides change the config, else None (the spec's own run):
        the config hash without the seed, so that a variant's seeds share one folder."""
        if not self.overrides:
            return None
        own = resolve(spec, self.row, self.profile, seed_override(self.seed))
        return None if config_hash(cfg) == config_hash(own) else variant_key(cfg)


def variant_key(cfg: dict) -> str:
    """The hash of a config with its seed left out: one folder holds a variant's seeds."""
    return config_hash({**cfg, "train": {**cfg["train"], "seed": None}})


def run_folder(runs: Path, table: str, profile: str, key: str, variant: str | None = None) -> Path:
    """Checkpoints and scores of one unit; keyed like its result file."""
    return keyed_dir(runs, table, profile, variant) / key


def up_to_date(path: Path, spec_hash: str, force: bool) -> dict | None:
    """The result at ``path`` if it was made for ``spec_hash`` by the model code there is now
    (:func:`repro.code_digest.code_changes`) and ``--force`` is not given.

    An unreadable file counts as absent: the run replaces it.
    """
    old = _readable(path)
    if not old or force or old["provenance"].get("spec_hash") != spec_hash:
        return None
    return None if code_changes(old["provenance"].get("code")) else old


def changed_code(path: Path, spec_hash: str) -> list[str]:
    """Why the result at ``path``, made for ``spec_hash``, is not current although its config is:
    the modules of its model whose code changed since (empty when none did, or no such result)."""
    old = _readable(path)
    if not old or old["provenance"].get("spec_hash") != spec_hash:
        return []
    return code_changes(old["provenance"].get("code"))


def _readable(path: Path) -> dict | None:
    try:
        return read_result(path)
    except ValueError:
        return None


def run_hash(cfg: dict) -> str:
    """Hash of what is trained: the resolved config without the table/row/profile names."""
    c = {k: v for k, v in cfg.items() if k != "meta"}
    if cfg.get("meta", {}).get("weights_sha256"):  # the starting weights' content is trained on
        c["weights_sha256"] = cfg["meta"]["weights_sha256"]
    if not c["model"]["insert"].get("module"):
        # No module inserted: where one would go changes nothing that is trained.
        c["model"] = {**c["model"], "insert": {"module": None}}
    return config_hash(c)


def find_twin(results: Path, profile: str, ident: str, own: Path) -> tuple[Path, dict] | None:
    """The newest finished result of another (table, row) with the same run hash, if any."""
    found = [*results.glob(f"*/{profile}/*.json"), *results.glob(f"*/{profile}/{VARIANTS}/*/*.json")]
    paths = sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)
    for path in paths:
        if path == own:
            continue
        try:
            res = read_result(path)
        except ValueError:
            continue  # a broken file elsewhere is not this run's business
        prov = res["provenance"] if res else {}
        if res and prov.get("run_hash") == ident and "reused_from" not in prov and not code_changes(prov.get("code")):
            return path, res
    return None


def where(unit: Unit, dirs: Dirs) -> tuple:
    """``(spec, config, spec hash, variant, result path)`` of a unit."""
    spec, cfg = unit.config()
    h, variant = config_hash(cfg), unit.variant(spec, cfg)
    return spec, cfg, h, variant, result_path(dirs.results, spec.key, unit.profile, unit.key, variant)


def finished(unit: Unit, dirs: Dirs, force: bool) -> dict | None:
    """The unit's up-to-date result, if it has one (and ``force`` is not given)."""
    _, _, h, _, out = where(unit, dirs)
    return up_to_date(out, h, force or unit.retrain)


def summary_line(table: str, key: str, result: dict, path: str) -> str:
    m, p = result["metrics"], result["provenance"]
    extra = f", reversal pairs {m['reversal_pairs']:.1f}" if m.get("reversal_pairs") is not None else ""
    return (f"[{table}] {key}: top1 {m['top1']:.1f}, top5 {m['top5']:.1f}{extra} "
            f"({p.get('wall_time_s', 0):.0f} s) -> {short_path(path)}")
