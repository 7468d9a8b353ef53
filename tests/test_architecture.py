"""The shape of ``src/autotuner``, read with ``ast`` (nothing is imported): no import cycles, no module
reaching into another's ``_private`` names, no silenced attribute errors.

Imports count wherever they are written (module level or inside a function); those under
``if TYPE_CHECKING:`` do not, since they never run. Importing ``a.b.c`` also runs ``a.b``'s
``__init__``, so it counts as importing that package too (unless the importer lives inside it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
ROOT = SRC / "autotuner"


def _module_name(path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    return ".".join(parts[:-1] if is_package else parts), is_package


def _modules() -> dict[str, tuple[Path, bool, ast.Module]]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        name, is_package = _module_name(path)
        out[name] = (path, is_package, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return out


MODULES = _modules()


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:``."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                skipped.update(id(n) for n in ast.walk(stmt))
    return skipped


def _imported_target(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = (module if is_package else module.rsplit(".", 1)[0]).split(".")
    base = package[:len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str) -> set[str]:
    """The autotuner modules ``module`` imports (relative imports resolved)."""
    _path, is_package, tree = MODULES[module]
    skipped = _type_checking_only(tree)
    direct: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            direct.update(a.name for a in node.names if a.name in MODULES)
        elif isinstance(node, ast.ImportFrom):
            target = _imported_target(node, module, is_package)
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:  # a submodule
                    direct.add(f"{target}.{alias.name}")
                elif target in MODULES:
                    direct.add(target)
    found = set(direct)
    for target in direct:  # the packages whose __init__ runs on the way
        parts = target.split(".")
        for k in range(2, len(parts)):
            package = ".".join(parts[:k])
            if package in MODULES and not (module == package or module.startswith(package + ".")):
                found.add(package)
    found.discard(module)
    return found


def import_cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each with one cycle spelled out."""
    graph = {m: imports_of(m) for m in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_one_cycle(graph, group) for group in groups]


def _one_cycle(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """A path from the group's first module back to itself, for the failure message."""
    members, start = set(group), group[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return group


def test_the_import_walker_sees_function_level_relative_and_package_imports():
    assert "autotuner.search.experiment" in imports_of("autotuner.search.tuner")  # module level, relative
    assert "autotuner.deploy.local" in imports_of("autotuner.deploy.registry")  # inside a function
    assert "autotuner.engines" in imports_of("autotuner.deploy.base")  # engines.launch runs engines/__init__
    assert "autotuner.spec.task" not in imports_of("autotuner.search.space")  # under TYPE_CHECKING only


def test_no_import_cycles():
    cycles = import_cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def private_uses() -> list[str]:
    """``name._private`` where ``name`` was imported from an autotuner module, and private names
    imported from another autotuner module (``self._x`` and ``cls._x`` are a module's own business)."""
    found = []
    for module, (path, is_package, tree) in MODULES.items():
        where = path.relative_to(SRC)
        imported: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("autotuner")):
                for alias in node.names:
                    imported.add(alias.asname or alias.name)
                    if _private(alias.name):
                        found.append(f"{where}:{node.lineno}: imports {alias.name} from "
                                     f"{_imported_target(node, module, is_package)}")
            elif isinstance(node, ast.Import):
                imported.update((a.asname or a.name).split(".")[0] for a in node.names
                                if a.name.startswith("autotuner"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name)
                    and node.value.id in imported):
                found.append(f"{where}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_module_uses_another_modules_private_names():
    uses = private_uses()
    assert not uses, "private names used across modules:\n" + "\n".join(uses)


def test_no_silenced_attribute_errors():
    silenced = [f"{path.relative_to(SRC)}:{i}" for path, _pkg, _tree in MODULES.values()
                for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if "type: ignore[attr-defined]" in line]
    assert not silenced, "type: ignore[attr-defined] (say it in the interface instead): " + ", ".join(silenced)


@pytest.mark.parametrize("source, expected", [
    ("from . import leases\nfrom .models import Row\n", {"autotuner.store.leases", "autotuner.store.models"}),
    ("def f():\n    from ..engines import get_adapter\n", {"autotuner.engines"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .leases import X\n", set()),
])
def test_relative_imports_resolve_from_the_modules_package(source, expected, monkeypatch):
    path = ROOT / "store" / "probe.py"
    monkeypatch.setitem(MODULES, "autotuner.store.probe", (path, False, ast.parse(source)))
    assert imports_of("autotuner.store.probe") == expected


def test_a_cycle_through_a_function_level_import_is_found(monkeypatch):
    monkeypatch.setitem(MODULES, "autotuner.store.probe_a",
                        (ROOT / "store" / "probe_a.py", False, ast.parse("from .probe_b import x\n")))
    monkeypatch.setitem(MODULES, "autotuner.store.probe_b",
                        (ROOT / "store" / "probe_b.py", False, ast.parse("def f():\n    from . import probe_a\n")))
    assert ["autotuner.store.probe_a", "autotuner.store.probe_b", "autotuner.store.probe_a"] in import_cycles()
