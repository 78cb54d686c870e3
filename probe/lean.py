"""Keep a `probe` process from importing what it never uses, and from lingering once its work
is done (issue 19: a check starts and ends fast).

`import httpx` also imports `httpx._main`, its command-line client, which pulls in click, rich
and pygments: about 0.1 s of a check's start, for a module `probe` never calls (STYLE §7.7
names this very import as the example not to follow). `skip_httpx_cli()` makes that one import
fail, which httpx expects (it then defines a stub `main` that says the CLI is not installed).
Likewise httpcore imports trio whenever it is installed (selenium, a test dependency, brings
it), 0.05–0.13 s, to support trio's event loop, which probe never runs: the `probe` process
(`skip_trio()`, called by the CLI's `main()`, not on import: a test process may use trio)
makes that import fail too, which httpcore expects (`trio = None`).

Tearing the interpreter down after a check (freeing every module, pydantic's schemas and
validators, the objects of the run) costs 0.1–0.2 s of CPU for nothing: the memory goes back
to the system with the process. A command whose output is complete calls `may_end_at_once()`;
`exit_process()` (the CLI's last act) then flushes the standard streams, runs the `atexit`
handlers and ends the process with `os._exit`, unless another thread is still alive (it would
have been waited for) or a stream cannot be flushed (the ordinary exit reports that).

Importing what a check needs leaves ≈ 70,000 objects for the cyclic garbage collector to track
(pydantic's schemas and validators, the modules' functions and classes), none of them garbage,
and the collector walks them again and again as they accumulate: ≈ 30–45 ms of a check's
imports. `collect_later()` holds the collector off while a command imports its modules;
`collect_from_here()` moves everything allocated so far to the permanent generation
(`gc.freeze()`: later collections skip it) and lets the collector run again, for the run and
whatever it imports later. The pause lasts from one call to the other, nothing else: a long run
(a list of 1,000 URLs) collects as usual.
"""

from __future__ import annotations

import atexit
import gc
import importlib.abc
import os
import sys
import threading
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import NoReturn

_SKIPPED: set[str] = set()


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
    _skip("httpx._main")


def skip_trio() -> None:
    """Make `import trio` fail in this process (httpcore then supports asyncio alone): for the
    `probe` command's process, which runs asyncio only (idempotent)."""
    _skip("trio")


def _skip(module: str) -> None:
    _SKIPPED.add(module)
    if not any(isinstance(finder, _Skip) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Skip())


def collect_later() -> None:
    """Hold the cyclic garbage collector off until `collect_from_here()` (a command's imports)."""
    gc.disable()


def collect_from_here() -> None:
    """Freeze what is allocated so far (the imported modules: never garbage) and let the
    cyclic garbage collector run again (idempotent)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


_END_AT_ONCE = threading.Event()  # set by a command whose output is complete


def may_end_at_once() -> None:
    """Say that this process's work is done and written: `exit_process` may skip the teardown."""
    _END_AT_ONCE.set()


def exit_process(code: int) -> NoReturn:
    """Exit with `code`: at once when a command allowed it (`may_end_at_once`) and no other
    thread is alive, after flushing stdout and stderr and running the atexit handlers; else
    through `sys.exit` (the interpreter's ordinary teardown)."""
    if _END_AT_ONCE.is_set() and threading.active_count() == 1:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):  # a closed pipe or stream: the ordinary exit says so
            sys.exit(code)
        atexit._run_exitfuncs()
        os._exit(code)
    sys.exit(code)


__all__ = [
    "collect_from_here",
    "collect_later",
    "exit_process",
    "may_end_at_once",
    "skip_httpx_cli",
    "skip_trio",
]
