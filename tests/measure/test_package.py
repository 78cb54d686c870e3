"""probe.measure's surface: the docstring names real modules and `__all__` lists the public ones."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import probe.measure

PACKAGE = Path(probe.measure.__file__).parent


def test_every_module_in_the_docstring_exists() -> None:
    doc = probe.measure.__doc__ or ""
    listed = re.findall(r"^    (\w+)  ", doc, flags=re.MULTILINE)
    assert listed, "the docstring lists the modules"
    for name in listed:
        assert (PACKAGE / f"{name}.py").exists(), f"docstring names a missing module: {name}"


def test_all_lists_every_public_module() -> None:
    public = sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))
    assert sorted(probe.measure.__all__) == public
    for name in public:
        importlib.import_module(f"probe.measure.{name}")
