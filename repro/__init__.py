"""repro: a reproduction harness for video temporal-attention papers (SSAN, GTA, RSA)."""
from __future__ import annotations

from repro.config.loader import load_spec, resolve
from repro.data.registry import num_classes


def build_model(table: str, row: str, profile: str = "paper", overrides: dict | None = None):
    """The ``nn.Module`` of one row of a paper table under a profile (its resolved config, built
    by :func:`repro.models.build.build_from_config`)."""
    from repro.models.build import build_from_config

    cfg = resolve(load_spec(table), row, profile, overrides)
    return build_from_config(cfg, num_classes(cfg["data"]["dataset"]))


def convert_checkpoint(checkpoint, source: str | None = None, table: str | None = None,
                       row: str | None = None, profile: str = "paper", **kwargs):
    """A published checkpoint as the state dict of a row's model, which ``build_model(table,
    row, profile)`` loads strictly (see :func:`repro.convert.convert_checkpoint`)."""
    from repro.convert import convert_checkpoint as _convert

    return _convert(checkpoint, source, table, row, profile, **kwargs)


__all__ = ["build_model", "convert_checkpoint"]
