"""Run `probe check` as `python -m probe` does, noting when each phase of the process ends.

Used by defaults_bench.py (issue 19: where one check's wall time goes). The bench starts this
script in the lab's client namespace with `BENCH_SPAWNED_AT` (its `time.monotonic()` just before
the spawn; CLOCK_MONOTONIC is the machine's, in every network namespace) and `BENCH_TIMELINE`
(a file). The probe runs unchanged: this script only wraps three functions the check calls
(settings, the run, the printing of a result) to note the time, then writes the marks, as
seconds since the spawn, to the file just before the interpreter exits.
"""

from __future__ import annotations

import time

MARKS: dict[str, float] = {"started": time.monotonic()}  # the first line run: interpreter up
WALL_OFFSET = time.time() - MARKS["started"]  # to place the record's wall-clock start

import atexit  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402


def _mark(name: str) -> None:
    MARKS.setdefault(name, time.monotonic())


def _wrap(module: Any, name: str, before: str | None, after: str | None) -> None:
    original: Callable[..., Any] = getattr(module, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if before:
            _mark(before)
        try:
            return original(*args, **kwargs)
        finally:
            if after:
                _mark(after)

    setattr(module, name, wrapper)


def _write() -> None:
    _mark("exiting")
    spawned = float(os.environ["BENCH_SPAWNED_AT"])
    marks: dict[str, Any] = {name: round(at - spawned, 4) for name, at in MARKS.items()}
    marks["wall_offset"] = WALL_OFFSET + spawned  # a wall-clock time minus this: since spawn
    with open(os.environ["BENCH_TIMELINE"], "w", encoding="utf-8") as out:
        json.dump(marks, out)


def _run_check() -> None:
    """Import what `probe check` imports before its first call, wrap, then run the CLI."""
    from probe.cli.app import main

    _mark("cli_imported")
    import probe.lean

    # main() does this first: before the imports below, as in the real run (not in a baseline
    # checkout that has no such function).
    getattr(probe.lean, "skip_trio", lambda: None)()
    # The check imports these in its body, so the run still pays for them; with the garbage
    # collector held off as the check holds it (not in a baseline that does not).
    getattr(probe.lean, "collect_later", lambda: None)()
    import probe.config
    import probe.runner

    getattr(probe.lean, "collect_from_here", lambda: None)()

    _wrap(probe.config, "load_settings", "check_imported", "settings_loaded")
    _wrap(probe.runner, "check_targets", "run_started", None)
    from probe.cli import render

    _wrap(render, "print_json_line", None, "result_printed")
    atexit.register(_write)  # registered after the CLI's imports' handlers: runs first
    main(sys.argv[1:])


if __name__ == "__main__":
    _run_check()
