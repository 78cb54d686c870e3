"""Each package's docstring lists its public modules, and every module it lists exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "probe"
PACKAGES = sorted(p.parent for p in PACKAGE.glob("*/__init__.py"))
LISTED = re.compile(r"^\s{4}(\w+)\s{2,}\S", re.MULTILINE)


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_docstring_lists_exactly_the_public_modules(package: Path) -> None:
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8"))) or ""
    listed = set(LISTED.findall(doc))
    public = {p.stem for p in package.glob("*.py") if not p.stem.startswith("_")}
    assert listed == public, (
        f"probe/{package.name}/__init__.py: listed but missing {sorted(listed - public)}, "
        f"present but not listed {sorted(public - listed)}"
    )
