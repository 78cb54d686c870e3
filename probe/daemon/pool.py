"""The supervisor's worker processes: one `python -m probe.daemon.worker` per task, by key.

A key (a job's name, or the upload loop's) has at most one task at a time. A task is the pool's,
not its caller's: cancelling the caller (APScheduler's shutdown, the upload loop's) leaves the
task running, and `stop()` waits for it. Once the pool is closed (SIGTERM), no task starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

WORKER = [sys.executable, "-m", "probe.daemon.worker"]
# A worker killed after the grace gets this long to be reaped.
KILLED_WAIT_S = 5.0

T = TypeVar("T")
JsonObject = dict[str, Any]  # a worker's summary line, as JSON gives it (not validated)


@dataclass(frozen=True)
class WorkerExit:
    """How a worker ended: its exit status and its JSON summary (None when it gave none)."""

    status: int | None
    summary: JsonObject | None


def summary_line(out: bytes) -> JsonObject | None:
    """The last line of a worker's stdout as a JSON object, or None."""
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        summary = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    return summary if isinstance(summary, dict) else None


class WorkerPool:
    def __init__(self, config_path: Path, config_text: str) -> None:
        self.config_path = config_path
        self.config_text = config_text  # the validated config, on each worker's stdin (reload)
        self._tasks: dict[str, asyncio.Task[object]] = {}
        self._workers: dict[str, asyncio.subprocess.Process] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once stopping: no task starts any more."""
        return self._closed

    @property
    def running(self) -> list[str]:
        """The keys whose task is in flight."""
        return list(self._tasks)

    def close(self) -> None:
        self._closed = True

    async def supervise(
        self, key: str, work: Callable[[], Coroutine[Any, Any, T]]
    ) -> asyncio.Task[T] | None:
        """Run `work()` as the pool's task under `key` and return it once done; None when the
        pool is closed or `key` already runs. Cancelling the caller never cancels the task."""
        if self._closed or key in self._tasks:
            return None
        task = asyncio.create_task(work())
        self._tasks[key] = task
        try:
            await asyncio.wait({task})
        finally:
            if task.done():
                self._tasks.pop(key, None)
        return task

    async def run(self, key: str, *args: str) -> WorkerExit:
        """Run `worker ARGS` with the validated config on stdin (SIGTERMed by `stop()` under
        `key`); return its exit status and its JSON summary."""
        proc = await asyncio.create_subprocess_exec(
            *WORKER, *args, "--config", str(self.config_path),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._workers[key] = proc
        try:
            out, _ = await proc.communicate(self.config_text.encode())
        finally:
            self._workers.pop(key, None)
        return WorkerExit(proc.returncode, summary_line(out))

    async def stop(self, timeout_s: float) -> bool:
        """Close the pool, SIGTERM every worker and wait up to `timeout_s` for the tasks; kill
        the workers still alive then. Return whether any task was late (its worker killed)."""
        self._closed = True
        self._signal_all(signal.SIGTERM)
        running = list(self._tasks.values())
        if not running:
            return False
        _, late = await asyncio.wait(running, timeout=timeout_s)
        if not late:
            return False
        self._signal_all(signal.SIGKILL)
        await asyncio.wait(late, timeout=KILLED_WAIT_S)
        return True

    def _signal_all(self, signum: signal.Signals) -> None:
        for worker in self._workers.values():
            with contextlib.suppress(ProcessLookupError):
                worker.send_signal(signum)
