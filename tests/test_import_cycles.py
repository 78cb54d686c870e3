"""No two modules of probe/ import each other, directly or around a circle (issue 22).

The graph is read with `ast` from every import a module holds: at module level, under `if
TYPE_CHECKING:` (a circle only the type checker follows is still two modules that cannot be read
apart: measure/packets.py and measure/_trace.py were one, until the packet specs moved to
models/packets.py) and inside functions (an import deferred to keep a command's start light must
not hide a circle either). `from probe.pkg import name` points at `probe.pkg.name` when that is a
module, else at the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "probe"

# Circles that only `if TYPE_CHECKING:` imports make, each for its owner to break; an entry that
# no longer matches fails the last test, so this list can only shrink.
KNOWN = {
    frozenset({"probe.ship.bundle", "probe.ship.lines"}),  # lines types Bundle, Limits
}


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(path): path for path in PACKAGE.rglob("*.py")}


def _imported(module: str, path: Path) -> set[str]:
    """Return the modules of probe/ that `module` imports."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in MODULES)
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*parts, base] if base else parts)
        for alias in node.names:
            full = f"{base}.{alias.name}"
            found.add(full if full in MODULES else base)
    return (found & MODULES.keys()) - {module}


def _circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Return the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = {stack.pop()}
            while node not in component:
                component.add(stack.pop())
            if len(component) > 1:
                circles.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


GRAPH = {module: _imported(module, path) for module, path in MODULES.items()}


def test_no_module_of_probe_is_part_of_an_import_circle() -> None:
    found = [sorted(c) for c in _circles(GRAPH) if c not in KNOWN]
    assert not found, f"import circles: {found}"


def test_the_graph_sees_a_circle_and_a_type_checking_import() -> None:
    """The reader can fail: a made-up circle and the TYPE_CHECKING import that was one."""
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        frozenset({"a", "b", "c"})
    ]
    lines = PACKAGE / "ship" / "lines.py"
    assert "probe.ship.bundle" in _imported("probe.ship.lines", lines)


def test_measure_packets_and_trace_no_longer_import_each_other() -> None:
    assert "probe.measure.packets" not in GRAPH["probe.measure._trace"]
    assert "probe.models.packets" in GRAPH["probe.measure._trace"]


def test_every_known_circle_is_still_there() -> None:
    stale = [sorted(c) for c in KNOWN if c not in _circles(GRAPH)]
    assert not stale, f"remove from KNOWN, the circle is gone: {stale}"
