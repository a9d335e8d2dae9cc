"""The provenance record every result carries: what ran, from which commit and config, where.

One record type, filled by a trained unit (:mod:`repro.run.unit`), an ensemble
(:mod:`repro.run.ensemble`) and a cost count (:mod:`repro.run.cost`). The keys below are common
to all three; ``extra`` holds what only one of them knows (run hash, timings, members, input).
Saved flat in the result JSON, so reports read ``result["provenance"][key]``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version

from repro.results.store import git_commit


def _torch_version() -> str:
    try:
        return version("torch")
    except PackageNotFoundError:
        return "unknown"


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
    torch: str = field(default_factory=_torch_version)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        return {**d, **extra}
