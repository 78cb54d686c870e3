"""probe.targets' surface: `__all__` is importable and the docstring names modules that exist."""

from __future__ import annotations

import re
from pathlib import Path

import probe.targets


def test_all_names_are_exported() -> None:
    for name in probe.targets.__all__:
        assert hasattr(probe.targets, name), name


def test_docstring_lists_every_module() -> None:
    doc = probe.targets.__doc__ or ""
    listed = set(re.findall(r"^    ([a-z_]+)  ", doc, flags=re.MULTILINE))
    package = Path(probe.targets.__file__).parent
    present = {p.stem for p in package.glob("*.py")} - {"__init__"}
    assert listed == present
