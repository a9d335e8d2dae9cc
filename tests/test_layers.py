"""The package's layers (docs/architecture.md): every import points down or sideways within its
own folder, never up, and no two files import each other, even through a function-local import."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "repro"
# Top to bottom; a folder (or top-level module) may import only those on later lines.
LAYERS = [
    ("__main__", "cli", "probe", "launch", "torchrun", "prepare", "__init__"),  # entry points and the public API
    ("run",),  # a plan of (table, row, seed) units -> result files
    ("report",),  # result files -> markdown, CSV, plots
    ("results",),  # reading, writing and selecting result files
    ("retrieval", "convert"),  # the text-video network; published checkpoints -> our state dicts
    ("config",),  # specs, recipes, profiles -> one resolved config per run
    ("engine", "models"),  # training and evaluation loops; the networks
    ("data",),  # datasets, decoding, transforms, generated data
    ("metrics", "cost", "typecheck", "progress", "files", "errors", "code_digest"),  # leaves
]
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}


def _unit(path: Path) -> str:
    """The layer unit a file belongs to: its folder under repro/, or its own name at the top."""
    rel = path.relative_to(PACKAGE).parts
    return rel[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """Every repro module a file imports, at any depth (function-local ones too)."""
    out = set()
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] == "repro":
            for a in n.names:  # `from repro.run import unit` names a module
                sub = f"{n.module}.{a.name}"
                out.add(sub if _file(sub) else n.module)
        elif isinstance(n, ast.Import):
            out |= {a.name for a in n.names if a.name.split(".")[0] == "repro"}
    return out


def _file(module: str) -> Path | None:
    base = PACKAGE.parent.joinpath(*module.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def test_every_file_belongs_to_a_layer():
    units = {_unit(p) for p in PACKAGE.rglob("*.py")}
    assert units <= set(LEVEL), f"files outside the declared layers: {sorted(units - set(LEVEL))}"


def test_no_import_points_up_a_layer():
    up = []
    for p in PACKAGE.rglob("*.py"):
        for m in _imports(p):
            target = _file(m)
            if target is None or target == PACKAGE / "__init__.py":
                continue
            src, dst = _unit(p), _unit(target)
            if src != dst and LEVEL[dst] < LEVEL[src]:
                up.append(f"{p.relative_to(PACKAGE.parent)} imports {m} ({src} -> {dst})")
    assert not up, "\n".join(up)


def test_no_import_circles():
    graph: dict[Path, set[Path]] = defaultdict(set)
    for p in PACKAGE.rglob("*.py"):
        graph[p] = {t for m in _imports(p) if (t := _file(m)) and t != p and t.name != "__init__.py"}
    state: dict[Path, int] = {}
    stack: list[Path] = []

    def visit(p: Path) -> list[Path] | None:
        state[p] = 1
        stack.append(p)
        for q in sorted(graph[p]):
            if state.get(q) == 1:
                return stack[stack.index(q):] + [q]
            if q not in state and (cycle := visit(q)):
                return cycle
        stack.pop()
        state[p] = 2
        return None

    for p in sorted(graph):
        if p not in state and (cycle := visit(p)):
            raise AssertionError("import circle: " + " -> ".join(str(c.relative_to(PACKAGE.parent)) for c in cycle))
