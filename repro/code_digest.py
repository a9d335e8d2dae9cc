"""The code in a result's identity: a digest of the source of every Python module that defines a
class in the model it trained (the harness's model files and the user's own), and of the
harness and user modules those import.

A digest is sha256 over ``ast.dump`` of the parsed module with its docstrings removed, so that
comments, docstrings and formatting do not count and everything else does. A result records
``{module name: digest}`` (provenance ``code``); it is current only while every module it names
still has that digest (:func:`code_changes`). Engine and data code are not covered (see
docs/results.md). Free of torch: reports check currency without importing it.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import sys
import sysconfig
from pathlib import Path
from typing import Iterable

PACKAGE = Path(__file__).resolve().parent
# The harness's own modules that count: the networks (models/) and the text-video network.
HARNESS = ("repro.models", "repro.retrieval.model")
# Where installed code lives (torch, numpy, the standard library): never part of the digest.
_INSTALLED = tuple({Path(p).resolve() for k in ("stdlib", "platstdlib", "purelib", "platlib")
                    if (p := sysconfig.get_paths().get(k))})
_DIGESTS: dict[tuple, str] = {}


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def source_digest(text: str) -> str:
    """sha256[:16] of a module's source, blind to comments, docstrings and formatting."""
    tree = _strip_docstrings(ast.parse(text))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


def file_digest(path: Path) -> str:
    """:func:`source_digest` of a file, computed once per (path, size, mtime) in a process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = source_digest(path.read_text())
    return _DIGESTS[key]


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` as an import would find it now, without running it
    (a harness module is looked up in the package folder; a user module on ``sys.path``)."""
    if name == "repro" or name.startswith("repro."):
        base = PACKAGE.parent.joinpath(*name.split("."))
        for cand in (base.with_suffix(".py"), base / "__init__.py"):
            if cand.is_file():
                return cand
        return None
    mod = sys.modules.get(name)
    origin = getattr(mod, "__file__", None) if mod is not None else None
    if origin is None:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        origin = spec.origin if spec is not None else None
    return Path(origin) if origin and origin.endswith(".py") and Path(origin).is_file() else None


def counts(name: str, path: Path | None) -> bool:
    """Whether module ``name`` is part of a model's identity: a harness model module, or the
    user's own (a file that is neither installed nor elsewhere in the harness)."""
    if name == "repro" or name.startswith("repro."):
        return any(name == h or name.startswith(h + ".") for h in HARNESS)
    if name == "__main__":
        return True  # a class defined in a script or notebook: its source is not a module file
    if path is None:
        return False  # a builtin or compiled module
    p = path.resolve()
    return not any(p.is_relative_to(root) for root in _INSTALLED)


def _imported(name: str, path: Path) -> set[str]:
    """The modules a file imports, at any depth, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.Import):
            out |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:
                parts = package.split(".")[: len(package.split(".")) - n.level + 1] if package else []
                base = ".".join([*parts, *([n.module] if n.module else [])])
            for a in n.names:  # `from pkg import mod` may name a module
                out.add(f"{base}.{a.name}" if module_file(f"{base}.{a.name}") else base)
    return {m for m in out if m}


def modules_code(names: Iterable[str]) -> dict[str, str | None]:
    """``{module: digest}`` for the modules ``names`` that count and every counting module they
    import, transitively; None where a counting module has no source file (``__main__``)."""
    todo, out = sorted(set(names)), {}
    while todo:
        name = todo.pop()
        if name in out:
            continue
        path = module_file(name) if name != "__main__" else None
        if not counts(name, path):
            continue
        out[name] = file_digest(path) if path else None
        if path:
            todo += [m for m in _imported(name, path) if m not in out]
    return dict(sorted(out.items()))


def model_code(*models: object, also: Iterable[str] = ()) -> dict[str, str | None]:
    """:func:`modules_code` of every class in ``models`` (``nn.Module.modules()``), plus ``also``."""
    names = {type(m).__module__ for model in models for m in model.modules()}
    return modules_code([*names, *also])


def show(name: str) -> str:
    """A module as a message names it: its file relative to the working folder, else its name."""
    path = module_file(name)
    if path is None:
        return name
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def code_changes(recorded: dict | None) -> list[str]:
    """What differs between the code a result recorded and the code now, one phrase per module
    (``repro/models/gta.py changed``); empty when it is the same. A result that recorded none
    (older than code digests) is one phrase too."""
    if not isinstance(recorded, dict):
        return ["the code it ran is not recorded"]
    out = []
    for name, digest in sorted(recorded.items()):
        path = module_file(name) if name != "__main__" else None
        if digest is None or path is None:
            out.append(f"{name} has no source file to compare" if digest is None else f"{name} is gone")
        elif file_digest(path) != digest:
            out.append(f"{show(name)} changed")
    return out
