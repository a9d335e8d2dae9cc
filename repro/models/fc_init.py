"""The forms of ``model.fc_init``, the classifier's initialisation: parsed here, free of torch, so
that the config checker and the model builder read the value the same way."""
from __future__ import annotations


def fc_init(v: str) -> tuple[str, float] | None:
    """``("default"|"xavier", 0)`` or ``("normal", std)`` from ``model.fc_init``; None if malformed."""
    if v in ("default", "xavier"):
        return v, 0.0
    if isinstance(v, str) and v.startswith("normal:"):
        try:
            std = float(v.split(":", 1)[1])
        except ValueError:
            return None
        return ("normal", std) if std > 0 else None
    return None
