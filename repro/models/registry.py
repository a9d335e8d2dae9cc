"""The one registry of insertable video modules: name -> ``"package.module:attr"``.

A constructor takes the channel count of the insertion point first, then keyword arguments
from the spec (``model.insert.args``). Names resolve to import paths, so validating a spec needs
no torch import; the file is imported on first use. A spec may also name any class path
``package.module:Class`` directly (your own module).
"""
from __future__ import annotations

import importlib
import inspect
import os
from typing import Callable

REGISTRY: dict[str, str] = {
    "nl3d": "repro.models.nonlocal_block:nl3d",
    "nl2d": "repro.models.nonlocal_block:nl2d",
    "nl1d": "repro.models.nonlocal_block:nl1d",
    "nl2d1d": "repro.models.nonlocal_block:nl2d1d",
    "ssa": "repro.models.ssa:SSA",
    "gta_sa": "repro.models.gta:gta_sa",
    "gta_ta": "repro.models.gta:gta_ta",
    "dnl": "repro.models.gta:dnl",
    "gta": "repro.models.gta:gta",
    "rsa": "repro.models.rsa:rsa",
}


def module_names() -> list[str]:
    return sorted(REGISTRY)


def import_path(path: str) -> Callable:
    """``"package.module:Class"`` -> the class (or factory), for modules that live outside repro."""
    mod_name, _, attr = path.partition(":")
    try:
        obj = _fresh(mod_name)
    except Exception as e:  # noqa: BLE001 -- a user module may fail to import in any way
        raise KeyError(f"video module {path!r}: cannot import {mod_name!r} ({type(e).__name__}: {e}); "
                       "run from the folder that holds it or add that folder to PYTHONPATH") from e
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise KeyError(f"video module {path!r}: {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    # A torch.nn.Module class (it has forward) or a Python function that builds one; anything
    # else (a constant, a builtin, another class) would fail deep inside the model builder.
    if not ((inspect.isclass(obj) and callable(getattr(obj, "forward", None))) or inspect.isfunction(obj)):
        what = "a class without forward" if inspect.isclass(obj) else type(obj).__name__
        raise KeyError(f"video module {path!r} is {what}, not a torch.nn.Module class or a function "
                       "that returns one")
    return obj


_LOADED: dict[str, int] = {}  # a user module's file mtime when this process imported it


def _fresh(mod_name: str):
    """The module, imported again when its file changed since this process imported it (a
    notebook that edits its module and re-runs gets the code on disk, which its result records)."""
    mod = importlib.import_module(mod_name)
    f = getattr(mod, "__file__", None)
    if mod_name.split(".")[0] == "repro" or not f or not os.path.isfile(f):
        return mod
    mtime = os.stat(f).st_mtime_ns
    if _LOADED.setdefault(mod_name, mtime) != mtime:
        mod = importlib.reload(mod)
        _LOADED[mod_name] = mtime
    return mod


def get_module(name: str) -> Callable:
    """A registered name, or a class path ``"package.module:Class"`` (called as ``Class(channels, **args)``)."""
    if ":" in name:
        return import_path(name)
    if name not in REGISTRY:
        raise KeyError(f"unknown video module {name!r}; known: {', '.join(module_names())}")
    return import_path(REGISTRY[name])


def argument_problems(name: str, args: dict) -> list[str]:
    """Names in ``args`` that the module's constructor does not take (``[]`` when it takes ``**kwargs``).

    A factory that passes ``**kwargs`` on to a class says so with a ``builds`` attribute, and
    that class's signature is checked instead.
    """
    ctor = get_module(name)
    target = getattr(ctor, "builds", ctor)
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return []
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return []
    names = [n for n in params if n not in ("self", "channels")]
    out = [f"{name} takes no argument {k!r} (its arguments: {', '.join(names) or 'none'})"
           for k in args if k not in params or k in ("self", "channels")]
    # A switch (a parameter whose default is true/false) takes true/false: "yes" would be truthy.
    return out + [f"{name} argument {k!r} is a switch (default {params[k].default}): give true or false, "
                  f"not {v!r}" for k, v in args.items()
                  if k in params and isinstance(params[k].default, bool) and not isinstance(v, bool)]
