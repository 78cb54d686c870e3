"""The supervisor's upload loop: one `worker upload` pass whenever the store says it is due.

The worker records each pass's outcome and when the next is due (`[upload] every` after a
success, the backoff after a failure) in the store's `upload` state, so the schedule survives
restarts: after a crash loop the backoff still holds, and after a long stop the first pass
comes at once. The loop never measures, so it runs while measuring is paused for disk space.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from probe.daemon.logs import log
from probe.daemon.pool import JsonObject, WorkerPool
from probe.daemon.store_calls import StoreCalls
from probe.errors import StoreError

if TYPE_CHECKING:
    from probe.daemon.metrics import Metrics

UPLOAD_KEY = ":upload"  # a job name cannot start with ':'
STATE_KEY = "upload"
# Never two passes closer than this, whatever the state says (a worker that crashed before
# recording its pass must not make the loop spin).
MIN_GAP_S = 1.0


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def due_at(state: object, every_s: float | None) -> datetime | None:
    """When the next pass is due by the store's `upload` state; None: at once.

    After a success, one `[upload] every` of the config in force after the last pass, not the
    `next_attempt_at` the pass recorded with the `every` of its day: a reload that shortens
    (or lengthens) `every` moves the pass already scheduled. After a failure, the backoff the
    pass recorded holds.
    """
    if not isinstance(state, dict):
        return None
    last = _moment(state.get("last_attempt_at"))
    if every_s is not None and last is not None and not state.get("failures"):
        return last + timedelta(seconds=every_s)
    return _moment(state.get("next_attempt_at"))


class UploadLoop:
    """Upload passes in the worker pool under `UPLOAD_KEY`, as long as the pool is open."""

    def __init__(
        self, pool: WorkerPool, store: StoreCalls, metrics: Metrics | None, every_s: float | None
    ) -> None:
        self.every_s = every_s  # `[upload] every`; None: no collector (a reload may change it)
        self._pool = pool
        self._store = store
        self._metrics = metrics
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Recompute the next pass (the config was reloaded)."""
        self._wake.set()

    async def _due_in(self) -> float:
        state = None
        with contextlib.suppress(StoreError):
            state = await self._store.get_state(STATE_KEY)
        moment = due_at(state, self.every_s)
        if moment is None:
            return 0.0
        return max(0.0, (moment - datetime.now(UTC)).total_seconds())

    async def run(self) -> None:
        gap: float | None = 0.0
        while True:
            every = self.every_s
            if every is None:
                delay: float | None = None  # uploads off: sleep until a reload
            else:
                delay = max(await self._due_in(), gap if gap is not None else every)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
                continue  # woken by a reload: look again
            # Stopping cancels us, never the pass (it is the pool's, which waits for it).
            task = await self._pool.supervise(UPLOAD_KEY, self._pass)
            if task is None:  # the pool is closed: stopping
                return
            recorded = not task.cancelled() and task.exception() is None and task.result()
            gap = MIN_GAP_S if recorded else every

    async def _pass(self) -> bool:
        """Run one upload worker; return whether it reported back."""
        ended = await self._pool.run(UPLOAD_KEY, "upload")
        if ended.summary is None:
            log("upload.crashed", logging.ERROR, exit_status=ended.status,
                note="the upload worker gave no summary; nothing is lost")  # fmt: skip
            self._count("crashed")
            return False
        self._report(ended.summary)
        return True

    def _count(self, outcome: str, summary: JsonObject | None = None) -> None:
        metrics = self._metrics
        if metrics is None:
            return
        metrics.uploads.labels(outcome=outcome).inc()
        if summary:
            metrics.uploaded.inc(int(summary.get("measurements") or 0))
            metrics.outbox_bundles.set(int(summary.get("pending") or 0))

    def _report(self, summary: JsonObject) -> None:
        status = str(summary.get("status"))
        for rejected in summary.get("rejected") or []:
            log("upload.rejected", logging.ERROR, bundle=rejected,
                note="set aside; `probe upload --retry-rejected` sends it again")  # fmt: skip
        if status == "ok":
            if summary.get("uploaded") or summary.get("sealed"):
                log(
                    "upload.ok", bundles=summary.get("uploaded"),
                    measurements=summary.get("measurements"),
                    duplicates=summary.get("duplicates"), pending=summary.get("pending"),
                    collector=summary.get("collector") or "-",
                )  # fmt: skip
        elif status == "failed":
            log(
                "upload.failed", logging.WARNING, error=summary.get("error"),
                failures=summary.get("failures"), retry_in=summary.get("retry_in_s"),
                pending=summary.get("pending"),
            )  # fmt: skip
        else:
            log("upload.interrupted", note="the bundle in flight stays in the outbox")
        self._count(status, summary)
