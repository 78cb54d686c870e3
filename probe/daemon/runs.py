"""What the supervisor does when a job is due: ask the disk guard, run the job's worker, read
its summary (metrics; rows a full disk refused go to the guard)."""

from __future__ import annotations

import contextlib
import logging
import signal
import time
from typing import TYPE_CHECKING

from probe.daemon.disk import DiskGuard
from probe.daemon.logs import log
from probe.daemon.pool import JsonObject, WorkerPool
from probe.daemon.store_calls import StoreCalls
from probe.errors import StoreError
from probe.models.status import RunStatus

if TYPE_CHECKING:
    from probe.daemon.metrics import Metrics


class JobRuns:
    def __init__(
        self, pool: WorkerPool, disk: DiskGuard, store: StoreCalls, metrics: Metrics | None
    ) -> None:
        self._pool = pool
        self._disk = disk
        self._store = store
        self._metrics = metrics

    async def run(self, job: str) -> None:
        """Run `job` once in a worker (or skip it for disk space) and take its summary."""
        if not self._disk.may_run():
            await self._disk.skip(job)
            return
        ended = await self._pool.run(job, "run", "--job", job)
        # Whatever happened to the worker, a run it left `running` is closed now, not at the
        # next start (a worker killed before it could record its run, for one).
        with contextlib.suppress(StoreError):
            await self._store.close_abandoned_runs()
        if ended.summary is None and self._pool.closed and ended.status == -signal.SIGTERM:
            # Our SIGTERM reached the worker before it could handle it (it was still starting):
            # a stop, not a crash; nothing was measured yet.
            log("run.stopped", job=job, note="stopped while its worker was starting")
            return
        if ended.summary is None:
            log("run.crashed", logging.ERROR, job=job, exit_status=ended.status,
                note="the worker gave no summary; its run is closed as interrupted")  # fmt: skip
            if self._metrics is not None:
                self._metrics.observe_run(job, RunStatus.FAILED, time.time())
            return
        self._take_summary(job, ended.summary)

    def _take_summary(self, job: str, summary: JsonObject) -> None:
        status = RunStatus(summary["status"])
        if self._metrics is not None:
            for platform, verdict, blocking in summary["results"]:
                self._metrics.observe_result(job, platform, verdict, blocking)
            self._metrics.observe_run(job, status, time.time())
        rows = summary.get("unsaved_rows") or []
        if rows or status is RunStatus.SKIPPED_DISK:
            self._disk.hold(job, rows, summary.get("error") or "results could not be written")
