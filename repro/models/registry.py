"""Name -> constructor registry for the video modules that can be inserted into a backbone.

A constructor takes the channel count of the insertion point first, then keyword arguments
from the spec (``model.insert.args``). Spec validation asks this registry which names exist.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

_MODULES: dict[str, Callable[..., nn.Module]] = {}


def register_module(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    def deco(ctor: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODULES:
            raise KeyError(f"video module {name!r} registered twice")
        _MODULES[name] = ctor
        return ctor
    return deco


def module_names() -> list[str]:
    _load_builtin()
    return sorted(_MODULES)


def get_module(name: str) -> Callable[..., nn.Module]:
    _load_builtin()
    if name not in _MODULES:
        raise KeyError(f"unknown video module {name!r}; known: {', '.join(sorted(_MODULES))}")
    return _MODULES[name]


def _load_builtin() -> None:
    # Importing the module files runs their @register_module decorators.
    from repro.models import nonlocal_block, ssa  # noqa: F401
