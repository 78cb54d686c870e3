"""No import circle inside a package: its modules' imports, read with `ast`, form no cycle.

Every import counts, including those under `if TYPE_CHECKING:` and inside functions: a circle
hidden behind either still means two modules that cannot be read (or split) one without the
other. Packages join `CYCLE_FREE` once they have none.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "probe"
CYCLE_FREE = ["daemon"]


def _module_name(path: Path) -> str:
    parts = ("probe", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, modules: set[str]) -> set[str]:
    """The modules of `modules` that `tree` imports (`from a import b` may name module a.b)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found & modules


def import_graph(package: str) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports."""
    paths = {_module_name(p): p for p in (PACKAGE / package).rglob("*.py")}
    modules = set(paths)
    return {
        name: _imported(ast.parse(path.read_text(encoding="utf-8")), modules) - {name}
        for name, path in paths.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` (its modules, the first repeated at the end), or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            cycle = visit(imported, [*path, module])
            if cycle is not None:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle is not None:
            return cycle
    return None


def test_find_cycle_finds_one() -> None:
    """The check can fail: a circle through three modules, beside a module outside it."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_counts_type_checking_and_local_imports() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from probe.daemon.service import Daemon\n"
        "def f():\n    import probe.daemon.pool\n"
        "from probe.daemon import runs\n"
    )
    modules = {"probe.daemon.service", "probe.daemon.pool", "probe.daemon.runs"}
    assert _imported(tree, modules) == modules


@pytest.mark.parametrize("package", CYCLE_FREE)
def test_no_import_circle(package: str) -> None:
    graph = import_graph(package)
    assert len(graph) > 1, f"probe/{package} not found"
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " → ".join(cycle or [])
