"""Imports point left, never right: measure → observe → decide → store → ship → report.

Foundation (models, config, errors, paths, targets) may be imported by any stage; decide/
imports only models; applications (cli, helper, runner, daemon, collector) sit on top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "probe"
FOUNDATION = {"models", "config", "config_errors", "errors", "paths", "targets", "serving",
              "lean", "__init__"}  # fmt: skip
STAGES = ["measure", "observe", "decide", "store", "ship", "report"]
APPLICATIONS = {
    "cli",
    "helper",
    "runner",
    "run_throughput",
    "geoip",
    "daemon",
    "collector",
    "__main__",
}


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "probe" else None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _allowed(owner: str, imported: str) -> bool:
    if owner in APPLICATIONS or imported in FOUNDATION or imported == owner:
        return True
    if owner == "decide":
        return imported == "models"
    if owner in FOUNDATION:
        return imported in FOUNDATION
    if owner in STAGES and imported in STAGES:
        return STAGES.index(imported) < STAGES.index(owner)
    return False


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_points_right(path: Path) -> None:
    rel = path.relative_to(PACKAGE)
    owner = rel.parts[0].removesuffix(".py")
    for module in _imports(path):
        imported = _part(module)
        if imported is None:
            continue
        assert _allowed(owner, imported), f"{rel}: {owner} must not import probe.{imported}"


def test_decide_imports_nothing_but_models() -> None:
    for path in (PACKAGE / "decide").rglob("*.py"):
        for module in _imports(path):
            if module.startswith("probe"):
                assert module.startswith(("probe.models", "probe.decide")), f"{path.name}: {module}"


def _imported_names(path: Path) -> set[str]:
    """Return every dotted module a file imports, `from a import b` counted as `a.b` too."""
    found = _imports(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


VOCABULARY_READERS = sorted((PACKAGE / "decide").rglob("*.py")) + sorted(
    (PACKAGE / "helper").rglob("*.py")
)


@pytest.mark.parametrize("path", VOCABULARY_READERS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_failure_vocabulary_comes_from_models(path: Path) -> None:
    # decide/ and helper/ read the failure strings from probe.models.failures; the exception
    # table in measure/failures.py is measure's business.
    for module in _imported_names(path):
        assert not module.startswith("probe.measure.failures"), f"{path.name}: {module}"
