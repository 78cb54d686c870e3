"""`Daemon`: the schedule, signals, watchdog and the state `probe status` reads.

- A job never overlaps itself (`max_instances=1`); runs missed during a suspend coalesce into
  one (`coalesce=True`, no misfire limit).
- The first run after a start is due one interval after the job's last run in the store, so a
  restart (or a crash loop) neither re-measures at once nor forgets the schedule.
- SIGTERM: no new runs; runs in flight get `[daemon] stop_grace_s` to finish, then are cancelled
  and recorded as interrupted with the targets they did not measure.
- SIGHUP: the config is read again; an invalid one is logged and the old one kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import random
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from probe import __version__
from probe.config import Settings, load_settings, resolve_data_dir
from probe.daemon.jobs import Job, load_jobs
from probe.daemon.logs import log, set_format
from probe.daemon.metrics import Metrics
from probe.daemon.runner import JobRunner
from probe.daemon.systemd import notify, watchdog_interval
from probe.errors import ProbeError, StoreError
from probe.models.stored import RunStatus
from probe.store import ResultStore

LOCK_FILE = "daemon.lock"
DISK_POLL_S = 5.0
RETENTION_EVERY_S = 3600.0
STATE_KEY = "daemon"


def first_run_at(job: Job, last_start: datetime | None, now: datetime) -> datetime:
    """When `job` is next due: an interval after its last stored run, or soon after start."""
    jitter = random.uniform(0, job.settings.jitter) if job.settings.jitter else 0.0
    if last_start is None:
        return now + timedelta(seconds=jitter)
    due = last_start + timedelta(seconds=job.settings.every + jitter)
    return max(due, now)


class Daemon:
    def __init__(self, config_path: Path, settings: Settings, jobs: list[Job]) -> None:
        self.config_path = config_path
        self.settings = settings
        self.jobs = {job.name: job for job in jobs}
        self.data_dir = resolve_data_dir(settings)
        self.started_at = datetime.now(UTC)
        self._stop = asyncio.Event()
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._skipped_for_disk: set[str] = set()
        self._lock_handle: Any = None
        self._scheduler: Any = None
        self._runner: JobRunner | None = None
        self._metrics: Metrics | None = None

    # Start and stop

    def _take_lock(self) -> None:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = (self.data_dir / LOCK_FILE).open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            raise StoreError(
                f"another probe daemon is running on {self.data_dir} ({LOCK_FILE} is locked)"
            ) from exc
        self._lock_handle = handle

    async def serve(self) -> None:
        """Run until SIGTERM/SIGINT."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._take_lock()
        store = ResultStore.open(self.data_dir)
        if self.settings.daemon.metrics_listen:
            self._metrics = Metrics(self.settings.daemon.metrics_listen)
        self._runner = JobRunner(self.settings, store, self.data_dir, metrics=self._metrics)
        abandoned = await self._runner.call(store.close_abandoned_runs)
        if abandoned:
            log("runs.abandoned", logging.WARNING, count=abandoned,
                note="runs a previous process left unfinished are marked interrupted")  # fmt: skip
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._scheduler.start()
        await self._schedule_all()
        helpers = [
            asyncio.create_task(self._watchdog()),
            asyncio.create_task(self._disk_monitor()),
            asyncio.create_task(self._retention()),
        ]
        log(
            "daemon.start", version=__version__, pid=os.getpid(), config=self.config_path,
            data_dir=self.data_dir, jobs=",".join(self.jobs),
            metrics=self._metrics.port if self._metrics else "off",
        )  # fmt: skip
        notify(f"READY=1\nSTATUS=running {len(self.jobs)} job(s)")
        try:
            await self._stop.wait()
        finally:
            await self._shutdown(helpers)

    async def _shutdown(self, helpers: list[asyncio.Task[Any]]) -> None:
        notify("STOPPING=1")
        log("daemon.stopping", running=",".join(self._running) or "-")
        self._scheduler.pause()
        running = list(self._running.values())
        if running:
            _, late = await asyncio.wait(running, timeout=self.settings.daemon.stop_grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        self._scheduler.shutdown(wait=False)
        assert self._runner is not None
        await self._save_state(stopped=True)
        if self._runner.unsaved:
            log("store.lost", logging.ERROR, count=len(self._runner.unsaved),
                reason="disk still full at stop")  # fmt: skip
        self._runner.close()
        self._runner.store.close()
        if self._metrics is not None:
            self._metrics.close()
        log("daemon.stop")

    # The schedule

    async def _schedule_all(self) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        assert self._runner is not None
        now = datetime.now(UTC)
        for existing in self._scheduler.get_jobs():
            existing.remove()
        for job in self.jobs.values():
            last = await self._runner.call(self._runner.store.last_start, job.name)
            start = first_run_at(job, last, now)
            trigger = IntervalTrigger(
                seconds=job.settings.every,
                jitter=job.settings.jitter or None,
                start_date=start,
                timezone=UTC,
            )
            self._scheduler.add_job(
                self._scheduled, trigger, args=[job.name], id=job.name, name=job.name,
                next_run_time=start, max_instances=1, coalesce=True, misfire_grace_time=None,
            )  # fmt: skip
            log(
                "job.scheduled", job=job.name, targets=len(job.targets),
                every=job.settings.every, jitter=job.settings.jitter, next_run=start.isoformat(),
            )  # fmt: skip
        await self._save_state()

    async def _scheduled(self, name: str) -> None:
        """APScheduler's entry point: runs the job in a task the daemon can wait for."""
        job = self.jobs.get(name)
        if job is None or self._stop.is_set() or name in self._running:
            return
        assert self._runner is not None
        task = asyncio.create_task(self._runner.run(job))
        self._running[name] = task
        try:
            await asyncio.wait({task})  # does not raise when the task is cancelled at stop
        finally:
            self._running.pop(name, None)
        if not task.cancelled() and task.exception() is None:
            outcome = task.result()
            if outcome.status is RunStatus.SKIPPED_DISK:
                self._skipped_for_disk.add(name)
        await self._save_state()
        await self._update_gauges()

    async def _save_state(self, stopped: bool = False) -> None:
        """Store what `probe status` shows about the live schedule."""
        assert self._runner is not None
        jobs = []
        for job in self.jobs.values():
            scheduled = self._scheduler.get_job(job.name) if self._scheduler else None
            next_run = getattr(scheduled, "next_run_time", None)
            jobs.append({
                "name": job.name, "targets": len(job.targets), "every_s": job.settings.every,
                "jitter_s": job.settings.jitter,
                "next_run": None if stopped or next_run is None else next_run.isoformat(),
            })  # fmt: skip
        state = {
            "pid": os.getpid(), "version": __version__, "config": str(self.config_path),
            "started_at": self.started_at.isoformat(),
            "stopped_at": datetime.now(UTC).isoformat() if stopped else None,
            "disk_paused": self._runner.disk_paused, "unsaved": len(self._runner.unsaved),
            "jobs": jobs,
        }  # fmt: skip
        with contextlib.suppress(StoreError):
            await self._runner.call(self._runner.store.set_state, STATE_KEY, state)

    async def _update_gauges(self) -> None:
        if self._metrics is None or self._runner is None:
            return
        with contextlib.suppress(StoreError):
            stats = await self._runner.call(self._runner.store.stats)
            self._metrics.backlog.set(stats.pending)
            self._metrics.store_bytes.set(stats.file_bytes)

    # Reload

    async def reload(self) -> None:
        notify(
            "RELOADING=1\nMONOTONIC_USEC="
            + str(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
        )
        try:
            settings = load_settings(self.config_path)
            jobs = load_jobs(settings)
            if resolve_data_dir(settings) != self.data_dir:
                raise ProbeError("changing [storage] data_dir needs a restart")
        except ProbeError as exc:
            log("reload.failed", logging.ERROR, error=exc, action="keeping the previous config")
            notify("READY=1\nSTATUS=reload failed: keeping the previous config")
            return
        if settings.daemon.metrics_listen != self.settings.daemon.metrics_listen:
            log("reload.partial", logging.WARNING, note="metrics_listen changes need a restart")
        self.settings = settings
        self.jobs = {job.name: job for job in jobs}
        assert self._runner is not None
        self._runner.settings = settings
        set_format(settings.daemon.log_format)
        await self._schedule_all()
        log("reload.ok", jobs=",".join(self.jobs))
        notify(f"READY=1\nSTATUS=running {len(self.jobs)} job(s)")

    # Background duties

    async def _watchdog(self) -> None:
        interval = watchdog_interval()
        if interval is None:
            return
        while True:  # pinged from the event loop: a stuck loop stops the pings
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def _disk_monitor(self) -> None:
        """While paused for disk space, look again every few seconds; rerun skipped jobs."""
        assert self._runner is not None
        while True:
            await asyncio.sleep(DISK_POLL_S)
            if not (self._runner.disk_paused or self._runner.unsaved):
                continue
            if await self._runner.check_disk():
                for name in sorted(self._skipped_for_disk):
                    if self._scheduler.get_job(name) is not None:
                        self._scheduler.modify_job(name, next_run_time=datetime.now(UTC))
                self._skipped_for_disk.clear()

    async def _retention(self) -> None:
        runner = self._runner
        assert runner is not None
        while True:
            storage = self.settings.storage  # re-read: SIGHUP may have changed the limits
            if storage.retention_max_age is not None or storage.retention_max_bytes is not None:
                try:
                    deleted = await runner.call(
                        functools.partial(
                            runner.store.apply_retention,
                            max_age_s=storage.retention_max_age,
                            max_bytes=storage.retention_max_bytes,
                        )
                    )
                    if deleted:
                        log("retention", deleted=deleted)
                except StoreError as exc:
                    log("retention.failed", logging.WARNING, error=exc)
            await self._update_gauges()
            await asyncio.sleep(RETENTION_EVERY_S)


def run_daemon(config_path: Path) -> None:
    """Load the config and jobs, then serve until stopped (the `probe daemon` command)."""
    from probe.daemon.logs import setup_logging
    from probe.ship import load_identity, require_consent

    settings = load_settings(config_path)
    setup_logging(settings.daemon.log_format)
    jobs = load_jobs(settings)
    data_dir = resolve_data_dir(settings)
    load_identity(data_dir)  # `probe init` has run: the key and the consent exist
    require_consent(data_dir)
    asyncio.run(Daemon(config_path, settings, jobs).serve())
