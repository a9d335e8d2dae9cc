"""Name -> constructor registry for the video modules that can be inserted into a backbone.

A constructor takes the channel count of the insertion point first, then keyword arguments
from the spec (``model.insert.args``). Built-in names are declared with the file that defines
them, so validating a spec needs no torch import; the file is imported on first use.
"""
from __future__ import annotations

import importlib
from typing import Callable

BUILTIN: dict[str, str] = {
    "nl3d": "repro.models.nonlocal_block",
    "nl2d": "repro.models.nonlocal_block",
    "nl1d": "repro.models.nonlocal_block",
    "nl2d1d": "repro.models.nonlocal_block",
    "ssa": "repro.models.ssa",
    "gta_sa": "repro.models.gta",
    "gta_ta": "repro.models.gta",
    "dnl": "repro.models.gta",
    "gta": "repro.models.gta",
    "rsa": "repro.models.rsa",
}
_MODULES: dict[str, Callable] = {}


def register_module(name: str) -> Callable[[Callable], Callable]:
    """Decorator: make ``ctor(channels, **args)`` insertable under ``name`` in specs."""
    def deco(ctor: Callable) -> Callable:
        if name in _MODULES:
            raise KeyError(f"video module {name!r} registered twice")
        _MODULES[name] = ctor
        return ctor
    return deco


def module_names() -> list[str]:
    return sorted(set(BUILTIN) | set(_MODULES))


def import_path(path: str) -> Callable:
    """``"package.module:Class"`` -> the class (or factory), for modules that live outside repro."""
    mod_name, _, attr = path.partition(":")
    try:
        obj = importlib.import_module(mod_name)
    except ImportError as e:
        raise KeyError(f"video module {path!r}: cannot import {mod_name!r} ({e}); run from the folder "
                       f"that holds it or add that folder to PYTHONPATH") from e
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise KeyError(f"video module {path!r}: {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise KeyError(f"video module {path!r} is not a class or function")
    return obj


def get_module(name: str) -> Callable:
    """A registered name, or a class path ``"package.module:Class"`` (called as ``Class(channels, **args)``)."""
    if ":" in name:
        return import_path(name)
    if name not in _MODULES and name in BUILTIN:
        importlib.import_module(BUILTIN[name])  # runs its @register_module decorators
    if name not in _MODULES:
        raise KeyError(f"unknown video module {name!r}; known: {', '.join(module_names())}")
    return _MODULES[name]
