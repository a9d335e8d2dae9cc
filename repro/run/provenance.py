"""The provenance record every result carries: what ran, from which commit and config, where.

One record type, filled by a trained unit (:mod:`repro.run.unit`), an ensemble
(:mod:`repro.run.ensemble`) and a cost count (:mod:`repro.run.cost`). The keys below are common
to all three (``code``: the digest of the model's source, :mod:`repro.code_digest`); ``extra`` holds what only one of them knows (run hash, timings, members, input).
Saved flat in the result JSON, so reports read ``result["provenance"][key]``.
"""
from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from repro.results.store import diff_sha256, git_commit


def _torch_version() -> str:
    try:
        return version("torch")
    except PackageNotFoundError:
        return "unknown"


def cpu_name() -> str:
    """The CPU a run trained on: CPU float kernels differ between CPU models (AVX-512 or not), so
    the same config and seed can train to other numbers on another machine."""
    name = platform.processor() or platform.machine()
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return name
    model = next((ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), name)
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), [])
    return f"{model} ({platform.machine()}{', avx512' if 'avx512f' in flags else ''})"


@dataclass
class Provenance:
    spec_hash: str  # hash of the resolved config (ensembles: of the members' hashes)
    profile: str  # paper | smoke | synthetic | cost
    dataset: str
    split: str
    frames: int | str
    views: str  # clips x crops
    epochs: int | str
    seed: int | str
    device: str
    wall_time_s: float
    overrides: list[str] = field(default_factory=list)  # the --set strings it ran with
    commit: str = field(default_factory=git_commit)
    # sha256 of the source patch when the tree was dirty (the patch: repro.results.store.write_result)
    diff_sha256: str | None = field(default_factory=diff_sha256)
    torch: str = field(default_factory=_torch_version)
    # {module: digest} of the model's source (repro.code_digest); part of the result's identity
    code: dict | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        return {**d, **extra}
