"""repro: a reproduction harness for video temporal-attention papers (SSAN, GTA, RSA)."""
from __future__ import annotations


def build_model(table: str, row: str, profile: str = "paper", overrides: dict | None = None):
    """The ``nn.Module`` of one row of a paper table (see :func:`repro.models.build.build_model`)."""
    from repro.models.build import build_model as _build

    return _build(table, row, profile, overrides)


def convert_checkpoint(checkpoint, source: str | None = None, table: str | None = None,
                       row: str | None = None, profile: str = "paper", **kwargs):
    """A published checkpoint as the state dict of a row's model, which ``build_model(table,
    row, profile)`` loads strictly (see :func:`repro.convert.convert_checkpoint`)."""
    from repro.convert import convert_checkpoint as _convert

    return _convert(checkpoint, source, table, row, profile, **kwargs)


__all__ = ["build_model", "convert_checkpoint"]
