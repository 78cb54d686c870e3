"""What the supervisor keeps in the store besides results: its state for `probe status`, the
store's gauges for /metrics, and retention (uploaded or exported results past the limits)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from probe import __version__
from probe.daemon.logs import log
from probe.daemon.plan import JobPlan
from probe.daemon.store_calls import StoreCalls
from probe.errors import StoreError

if TYPE_CHECKING:
    from probe.daemon.metrics import Metrics

STATE_KEY = "daemon"
RETENTION_EVERY_S = 3600.0


@dataclass(frozen=True)
class DaemonState:
    """The `daemon` state `probe status` reads: who runs, since when, each job's next run."""

    config_path: Path
    started_at: datetime
    jobs: list[JobPlan]
    next_runs: dict[str, datetime | None]  # by job name; None: not scheduled
    disk_paused: bool
    unsaved: int  # results held in memory (disk full)
    stopped: bool = False

    def to_dict(self) -> dict[str, object]:
        jobs = []
        for job in self.jobs:
            next_run = self.next_runs.get(job.name)
            jobs.append({
                "name": job.name, "targets": job.targets, "every_s": job.every_s,
                "jitter_s": job.jitter_s,
                "next_run": None if self.stopped or next_run is None else next_run.isoformat(),
            })  # fmt: skip
        return {
            "pid": os.getpid(), "version": __version__, "config": str(self.config_path),
            "started_at": self.started_at.isoformat(),
            "stopped_at": datetime.now(UTC).isoformat() if self.stopped else None,
            "disk_paused": self.disk_paused, "unsaved": self.unsaved, "jobs": jobs,
        }  # fmt: skip


async def save_state(store: StoreCalls, state: DaemonState) -> None:
    with contextlib.suppress(StoreError):
        await store.set_state(STATE_KEY, state.to_dict())


async def update_gauges(store: StoreCalls, metrics: Metrics | None) -> None:
    if metrics is None:
        return
    with contextlib.suppress(StoreError):
        stats = await store.stats()
        metrics.backlog.set(stats.pending)
        metrics.store_bytes.set(stats.file_bytes)


class Retention:
    """Deletes shipped results past `[storage] retention_*` once an hour (limits: a reload)."""

    def __init__(
        self,
        store: StoreCalls,
        metrics: Metrics | None,
        max_age_s: float | None,
        max_bytes: int | None,
    ) -> None:
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self._store = store
        self._metrics = metrics

    async def run(self) -> None:
        while True:
            max_age_s, max_bytes = self.max_age_s, self.max_bytes
            if max_age_s is not None or max_bytes is not None:
                try:
                    deleted = await self._store.apply_retention(
                        max_age_s=max_age_s, max_bytes=max_bytes
                    )
                    if deleted:
                        log("retention", deleted=deleted)
                except StoreError as exc:
                    log("retention.failed", logging.WARNING, error=exc)
            await update_gauges(self._store, self._metrics)
            await asyncio.sleep(RETENTION_EVERY_S)
