"""The disk guard: measuring pauses while the disk is full, and resumes when space returns.

A run is not started below `[storage] min_free_bytes`. A worker that could not store hands its
rows back; they are held here (oldest first), the pause is logged once, and every few seconds a
real write tries them. When it succeeds, the pause ends and the jobs skipped meanwhile run at
once (`on_space`). The upload loop never measures, so the guard does not stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.daemon.logs import log, log_recovered
from probe.daemon.store_calls import StoreCalls
from probe.errors import StoreError
from probe.models.status import RunStatus
from probe.store import StoreFullError

if TYPE_CHECKING:
    from probe.daemon.metrics import Metrics

DISK_POLL_S = 5.0


class DiskGuard:
    def __init__(
        self, data_dir: Path, min_free_bytes: int, store: StoreCalls, metrics: Metrics | None
    ) -> None:
        self.data_dir = data_dir
        self.min_free_bytes = min_free_bytes  # a reload may change it
        self.paused = False
        self.held_rows: list[dict[str, Any]] = []  # results a full disk refused, oldest first
        self._skipped: set[str] = set()  # jobs to run as soon as space returns
        self._store = store
        self._metrics = metrics

    def free_bytes(self) -> int:
        try:
            return shutil.disk_usage(self.data_dir).free
        except OSError:
            return 0

    def may_run(self) -> bool:
        """True when a run may start: not paused, and free space above the minimum."""
        return not self.paused and self.free_bytes() >= self.min_free_bytes

    async def skip(self, job: str) -> None:
        """`job` is due but may not run: pause, record the run as skipped, run it on recovery."""
        reason = "disk full" if self.paused else "free space below [storage] min_free_bytes"
        self._set_paused(True, reason)
        self._skipped.add(job)
        log("run.skipped", logging.WARNING, job=job, status=RunStatus.SKIPPED_DISK, reason=reason)
        if self._metrics is not None:
            self._metrics.observe_run(job, RunStatus.SKIPPED_DISK, time.time())
        with contextlib.suppress(StoreError):
            await self._store.record_run(job, RunStatus.SKIPPED_DISK, error=reason)

    def hold(self, job: str, rows: list[dict[str, Any]], reason: str) -> None:
        """A run of `job` found the disk full: keep the `rows` it could not write, pause."""
        if rows and self._metrics is not None:
            self._metrics.store_errors.labels(kind="disk_full").inc(len(rows))
        self.held_rows.extend(rows)
        self._skipped.add(job)
        self._set_paused(True, reason)

    def _set_paused(self, paused: bool, reason: str = "") -> None:
        if paused and not self.paused:
            log(
                "disk.full", logging.ERROR, data_dir=self.data_dir, free_bytes=self.free_bytes(),
                min_free_bytes=self.min_free_bytes, reason=reason,
                action="measuring paused until space returns",
            )  # fmt: skip
        elif not paused and self.paused:
            log("disk.ok", free_bytes=self.free_bytes(), action="measuring resumes")
        self.paused = paused
        if self._metrics is not None:
            self._metrics.disk_paused.set(1 if paused else 0)

    async def _space_back(self) -> bool:
        """True once a write succeeds and every held row is written."""
        try:
            await self._store.write_held(self.held_rows, on_written=log_recovered)
        except StoreFullError:
            return False
        return True

    async def watch(self, on_space: Callable[[list[str]], None]) -> None:
        """While paused, look again every few seconds; when space is back, end the pause and
        hand the skipped jobs (sorted) to `on_space`."""
        while True:
            await asyncio.sleep(DISK_POLL_S)
            if not self.paused:
                continue
            if self.free_bytes() < self.min_free_bytes:
                continue
            if not await self._space_back():
                continue
            self._set_paused(False)
            on_space(sorted(self._skipped))
            self._skipped.clear()
