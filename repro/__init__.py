"""repro: a reproduction harness for video temporal-attention papers (SSAN, GTA, RSA)."""
from __future__ import annotations


def build_model(table: str, row: str, profile: str = "paper", overrides: dict | None = None):
    """The ``nn.Module`` of one row of a paper table (see :func:`repro.models.build.build_model`)."""
    from repro.models.build import build_model as _build

    return _build(table, row, profile, overrides)


__all__ = ["build_model"]
