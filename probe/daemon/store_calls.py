"""The supervisor's store calls, each run off the event loop (an fsync must not delay the watchdog).

One typed method per call the supervisor makes, so each part of it (the schedule, the disk
guard, the upload loop, the state and retention) is handed only this narrow view of the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from probe.models.status import RunStatus
from probe.store import ResultStore, StoreStats


class StoreCalls:
    """`ResultStore` calls the supervisor awaits; each runs in a thread (`asyncio.to_thread`)."""

    def __init__(self, store: ResultStore) -> None:
        self._store = store

    async def close_abandoned_runs(self) -> int:
        """Mark runs left `running` by a process that no longer exists as interrupted."""
        return await asyncio.to_thread(self._store.close_abandoned_runs)

    async def last_start(self, job: str) -> datetime | None:
        return await asyncio.to_thread(self._store.last_start, job)

    async def record_run(self, job: str, status: RunStatus, *, error: str | None = None) -> int:
        """Record a run that did not measure (skipped)."""
        return await asyncio.to_thread(self._store.record_run, job, status, error=error)

    async def get_state(self, key: str) -> object:
        return await asyncio.to_thread(self._store.get_state, key)

    async def set_state(self, key: str, value: object) -> None:
        await asyncio.to_thread(self._store.set_state, key, value)

    async def stats(self) -> StoreStats:
        return await asyncio.to_thread(self._store.stats)

    async def apply_retention(self, *, max_age_s: float | None, max_bytes: int | None) -> int:
        return await asyncio.to_thread(
            self._store.apply_retention, max_age_s=max_age_s, max_bytes=max_bytes
        )

    async def write_held(
        self, rows: list[dict[str, Any]], on_written: Callable[[dict[str, Any]], None]
    ) -> None:
        """Write rows a full disk refused, oldest first; StoreFullError while it still is full."""
        await asyncio.to_thread(self._store.write_held, rows, on_written)

    def close(self) -> None:
        self._store.close()
