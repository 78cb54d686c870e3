"""One run of one job: check disk and budget, measure (controls included), store each result.

Used by the daemon's worker process (one per run) and by `probe run`. Results are written one
by one as they complete, on the store's own thread, so SIGKILL loses at most the targets still
in flight and an fsync never stalls a measurement's timing. A result that cannot be written
because the disk is full is kept (as a ready row: `unsaved`) and handed back to the caller,
which writes it when space returns.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from probe.config import JobSettings, Settings
from probe.daemon.budget import estimate_bytes
from probe.daemon.jobs import Job
from probe.daemon.logs import log, log_recovered
from probe.errors import StoreError
from probe.models.results import TargetResult, Verdict
from probe.models.stored import RunStatus, StoredResult
from probe.runner import check_targets
from probe.store import ResultStore, StoreFullError
from probe.store.sqlite import result_row

T = TypeVar("T")

# Results kept in memory while the disk is full; past this the oldest are dropped (and logged).
MAX_UNSAVED = 5_000


@dataclass
class RunOutcome:
    job: str
    status: RunStatus
    run_id: int | None = None
    stored: list[StoredResult] = field(default_factory=list)
    verdicts: dict[str, int] = field(default_factory=dict)
    estimated_bytes: int = 0
    error: str | None = None
    unmeasured: list[str] = field(default_factory=list)


class JobRunner:
    """Runs jobs against one store; shared by the daemon and `probe run`."""

    def __init__(
        self,
        settings: Settings,
        store: ResultStore,
        data_dir: Path,
        *,
        on_stored: Callable[[StoredResult], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.data_dir = data_dir
        self.on_stored = on_stored
        self.unsaved: list[dict[str, Any]] = []  # rows the full disk refused, oldest first
        self.disk_paused = False
        self.current: RunOutcome | None = None  # the run in progress (or the last one)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run a store call on the store's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    # Disk

    def free_bytes(self) -> int:
        try:
            return shutil.disk_usage(self.data_dir).free
        except OSError:
            return 0

    def space_ok(self) -> bool:
        return self.free_bytes() >= self.settings.storage.min_free_bytes

    def _set_paused(self, paused: bool, reason: str = "") -> None:
        if paused and not self.disk_paused:
            log(
                "store.full", logging.ERROR, data_dir=self.data_dir, free_bytes=self.free_bytes(),
                min_free_bytes=self.settings.storage.min_free_bytes, reason=reason,
                action="results are kept in memory until space returns",
            )  # fmt: skip
        elif not paused and self.disk_paused:
            log("store.ok", free_bytes=self.free_bytes())
        self.disk_paused = paused

    def _write(self, result: TargetResult, job: str, run_id: int) -> StoredResult | None:
        """Store one result (store thread); keep its row when the disk is full."""
        stored, row = result_row(result, job, run_id)
        try:
            self.store.insert_row(row)
        except StoreFullError as exc:
            self.unsaved.append(row)
            if len(self.unsaved) > MAX_UNSAVED:
                dropped = self.unsaved.pop(0)
                log("store.dropped", logging.ERROR, job=dropped["job"], input=dropped["input"])
            self._set_paused(True, str(exc))
            return None
        return stored

    def _write_held(self) -> bool:
        """Store thread: True once a write succeeds and every held row is written."""
        try:
            self.store.write_held(self.unsaved, on_written=log_recovered)
        except StoreFullError:
            return False
        return True

    async def check_disk(self) -> bool:
        """True when there is room to measure (held results written first)."""
        if not self.space_ok():
            self._set_paused(True, "free space below [storage] min_free_bytes")
            return False
        if (self.disk_paused or self.unsaved) and not await self.call(self._write_held):
            self._set_paused(True, "results held in memory cannot be written yet")
            return False
        self._set_paused(False)
        return True

    # Budget

    def _over_budget(self, job: Job) -> tuple[int, int] | None:
        """(used today, expected) when the run would exceed the daily budget (store thread)."""
        budget = self.settings.schedule.daily_budget_bytes
        if budget is None:
            return None
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        used = self.store.bytes_since(midnight)
        previous = [r for r in self.store.runs(job=job.name, limit=10) if r.status is RunStatus.OK]
        expected = previous[0].estimated_bytes if previous else 0
        return (used, expected) if used + expected > budget else None

    # The run

    async def run(self, job: Job) -> RunOutcome:
        """Run `job` once and return how it went; never raises.

        Cancelling it (SIGTERM) stops the measurements; the run is recorded as interrupted,
        with the targets it did not finish, and returned.
        """
        outcome = self.current = RunOutcome(job.name, RunStatus.RUNNING)
        try:
            if not await self.check_disk():
                outcome.status = RunStatus.SKIPPED_DISK
                outcome.error = f"less than {self.settings.storage.min_free_bytes} bytes free"
                await self._record_skip(job, outcome)
                return outcome
            over = await self.call(self._over_budget, job)
            if over is not None:
                outcome.status = RunStatus.SKIPPED_BUDGET
                outcome.error = (
                    f"daily budget {self.settings.schedule.daily_budget_bytes} B: {over[0]} B"
                    f" used today, the run needs about {over[1]} B"
                )
                await self._record_skip(job, outcome)
                return outcome
            starting = asyncio.ensure_future(
                self.call(self.store.start_run, job.name, len(job.targets))
            )
            try:
                run_id = await asyncio.shield(starting)
            except asyncio.CancelledError:  # the row is being written: let it land, close it
                outcome.run_id = await starting
                outcome.status = RunStatus.INTERRUPTED
                outcome.error = "stopped (SIGTERM) before measuring"
                outcome.unmeasured = [target.input for target in job.targets]
                await self._finish(job, outcome.run_id, [], outcome, time.monotonic())
                return outcome
        except StoreFullError as exc:
            self._set_paused(True, str(exc))
            outcome.status, outcome.error = RunStatus.SKIPPED_DISK, str(exc)
            await self._record_skip(job, outcome)
            return outcome
        except StoreError as exc:
            outcome.status, outcome.error = RunStatus.FAILED, str(exc)
            log("run.failed", logging.ERROR, job=job.name, error=exc)
            return outcome
        outcome.run_id = run_id
        await self._measure(job, run_id, outcome)
        return outcome

    async def _record_skip(self, job: Job, outcome: RunOutcome) -> None:
        log(
            "run.skipped",
            logging.WARNING,
            job=job.name,
            status=outcome.status,
            reason=outcome.error,
        )
        try:
            await self.call(
                functools.partial(self.store.record_run, error=outcome.error),
                job.name,
                outcome.status,
            )
        except StoreError:
            pass  # the disk is full: the log line above is the record

    def _settings_for(self, job: Job) -> Settings:
        return settings_for_job(self.settings, job.settings)

    async def _measure(self, job: Job, run_id: int, outcome: RunOutcome) -> None:
        started = time.monotonic()
        log("run.start", job=job.name, run_id=run_id, targets=len(job.targets))
        writes: list[asyncio.Future[StoredResult | None]] = []
        finished: list[str] = []

        def on_result(result: TargetResult) -> None:
            finished.append(result.input)
            outcome.estimated_bytes += estimate_bytes(result)
            outcome.verdicts[result.verdict] = outcome.verdicts.get(result.verdict, 0) + 1
            writes.append(asyncio.ensure_future(self.call(self._write, result, job.name, run_id)))

        try:
            await check_targets(list(job.targets), self._settings_for(job), on_result=on_result)
            outcome.status = RunStatus.OK
        except asyncio.CancelledError:
            outcome.status = RunStatus.INTERRUPTED
            remaining = list(finished)
            for target in job.targets:
                if target.input in remaining:
                    remaining.remove(target.input)
                else:
                    outcome.unmeasured.append(target.input)
            outcome.error = "stopped (SIGTERM) before every target was measured"
        except Exception as exc:  # a bug or a resource error outside the measurements
            outcome.status, outcome.error = RunStatus.FAILED, f"{type(exc).__name__}: {exc}"
            logging.getLogger("probe.daemon").exception("run failed", extra={"event": "run.error"})
        await self._finish(job, run_id, writes, outcome, started)

    async def _finish(
        self,
        job: Job,
        run_id: int,
        writes: list[asyncio.Future[StoredResult | None]],
        outcome: RunOutcome,
        started: float,
    ) -> None:
        # Shielded: an interrupted run still waits for the writes it has already begun.
        results = await asyncio.shield(asyncio.gather(*writes))
        outcome.stored = [r for r in results if r is not None]
        for stored in outcome.stored:
            if self.on_stored is not None:
                self.on_stored(stored)
        try:
            await asyncio.shield(
                self.call(
                    lambda: self.store.finish_run(
                        run_id, outcome.status, stored=len(outcome.stored),
                        estimated_bytes=outcome.estimated_bytes, error=outcome.error,
                        unmeasured=outcome.unmeasured,
                    )
                )
            )  # fmt: skip
        except StoreError as exc:
            log("run.unrecorded", logging.ERROR, job=job.name, run_id=run_id, error=exc)
        verdicts = ",".join(f"{Verdict(v).value}:{n}" for v, n in sorted(outcome.verdicts.items()))
        log(
            "run.finish",
            logging.INFO if outcome.status is RunStatus.OK else logging.WARNING,
            job=job.name, run_id=run_id, status=outcome.status, stored=len(outcome.stored),
            unsaved=len(self.unsaved), seconds=round(time.monotonic() - started, 2),
            verdicts=verdicts, estimated_bytes=outcome.estimated_bytes,
            **({"error": outcome.error} if outcome.error else {}),
        )  # fmt: skip


def settings_for_job(settings: Settings, job: JobSettings) -> Settings:
    """Return the settings one job runs with: its own choice of the throughput and packet
    tests, when it makes one."""
    update = {}
    for name in ("throughput", "packets"):
        enabled = getattr(job, name)
        section = getattr(settings, name)
        # A job that asks for the throughput test asks for its arbitrary URLs' pages too.
        choice = {"enabled": enabled, **({"pages": enabled} if name == "throughput" else {})}
        if enabled is not None and any(getattr(section, k) != v for k, v in choice.items()):
            update[name] = section.model_copy(update=choice)
    return settings.model_copy(update=update) if update else settings
