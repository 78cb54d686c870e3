"""Keep a `probe` process from importing what it never uses (issue 19: a check starts fast).

`import httpx` also imports `httpx._main`, its command-line client, which pulls in click, rich
and pygments: about 0.1 s of a check's start, for a module `probe` never calls (STYLE §7.7
names this very import as the example not to follow). `skip_httpx_cli()` makes that one import
fail, which httpx expects (it then defines a stub `main` that says the CLI is not installed).
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

_SKIPPED = frozenset({"httpx._main"})


class _Skip(importlib.abc.MetaPathFinder):
    """Refuse the modules in `_SKIPPED`; leave every other import alone."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname in _SKIPPED:
            raise ModuleNotFoundError(f"{fullname} is not used by probe", name=fullname)
        return None


def skip_httpx_cli() -> None:
    """Make `import httpx` skip httpx's own command-line client (idempotent)."""
    if not any(isinstance(finder, _Skip) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Skip())


__all__ = ["skip_httpx_cli"]
