"""Checking a parsed YAML value against a type schema, collecting every problem with its key path.

A schema is a type (``int``, ``str``, ...), a tuple of alternatives, ``("list", item schema)``,
a dict of key -> schema (``"*"``: any key), or :data:`ANY`. A leaf module: the config layer checks
specs with it, and the data layer checks the generator's knobs without importing the config.
"""
from __future__ import annotations

from typing import Any

ANY = object()  # any value goes (a module's own arguments)
NUM = (int, float)

# Keys whose form changed: what an old value means now.
HINTS = {"data.flip": " (flip is a mode now: true was swap, false none; or skip, see the schema)"}


def _type_name(t: Any) -> str:
    if isinstance(t, tuple) and t and t[0] == "list":
        return "a list"
    if isinstance(t, tuple):
        return " or ".join(_type_name(x) for x in t)
    if t is type(None):
        return "null"
    if isinstance(t, dict):
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(t, str(t))


def _is(value: Any, t: Any) -> bool:
    if isinstance(t, tuple) and t and t[0] == "list":
        return isinstance(value, list)
    if isinstance(t, tuple):
        return any(_is(value, x) for x in t)
    if t in (int, float) and isinstance(value, bool):
        return False
    return isinstance(value, t)


def check(value: Any, schema: Any, path: str, problems: list[str]) -> None:
    """Append to ``problems`` every place where ``value`` does not fit ``schema``."""
    if schema is ANY:
        return
    if isinstance(schema, tuple) and schema and all(isinstance(s, (dict, tuple)) for s in schema) \
            and not (schema[0] == "list"):
        # Alternatives of structured schemas: pick by shape (mapping vs list).
        for alt in schema:
            if isinstance(alt, dict) == isinstance(value, dict):
                check(value, alt, path, problems)
                return
        problems.append(f"{path}: expected {' or '.join(_type_name(a) for a in schema)}, "
                        f"got {type(value).__name__}")
        return
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            problems.append(f"{path or '<top>'}: expected a mapping, got {type(value).__name__}")
            return
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if k in schema:
                check(v, schema[k], sub, problems)
            elif "*" in schema:
                check(v, schema["*"], sub, problems)
            else:
                known = ", ".join(sorted(x for x in schema if x != "*"))
                problems.append(f"{sub}: unknown key (allowed here: {known})")
        return
    if isinstance(schema, tuple) and schema and schema[0] == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            check(item, schema[1], f"{path}[{i}]", problems)
        return
    if not _is(value, schema):
        hint = next((h for k, h in HINTS.items() if path.endswith(k)), "")
        problems.append(f"{path}: expected {_type_name(schema)}, got {type(value).__name__} "
                        f"{value!r:.40}{hint}")
