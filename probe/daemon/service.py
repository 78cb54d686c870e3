"""`Daemon`: the supervisor. It owns the schedule and the signals; its parts do the rest.

It imports neither pydantic nor the measurement code (tests/daemon checks this), so between
runs the daemon costs ~30 MB of memory and no CPU; each run's worker (worker.py) exits when done.

- A job never overlaps itself (`max_instances=1`); runs missed during a suspend coalesce into
  one (`coalesce=True`, no misfire limit).
- The first run after a start is due one interval after the job's last run in the store, so a
  restart (or a crash loop) neither re-measures at once nor forgets the schedule.
- SIGTERM: no new runs; workers get SIGTERM, finish within `[daemon] stop_grace_s` or record
  their run as interrupted with the targets they did not measure.
- SIGHUP: the config is validated again (by a worker); an invalid one is logged, the old kept.

The parts (none imports this module):
    pool.WorkerPool     worker processes, one task per key; stop() waits, then kills
    runs.JobRuns        a due job: disk check, its worker, its summary (metrics, held rows)
    disk.DiskGuard      disk-full pause, held rows, skipped jobs rerun when space returns
    uploads.UploadLoop  an upload worker whenever the store says a pass is due
    state               the state `probe status` reads, gauges, Retention
    store_calls         StoreCalls: the store's calls, each off the event loop
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import random
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from probe import __version__
from probe.daemon.disk import DiskGuard
from probe.daemon.geoip import refresh_loop
from probe.daemon.logs import log, set_format, setup_logging
from probe.daemon.plan import DaemonPlan, JobPlan
from probe.daemon.pool import WORKER, WorkerPool
from probe.daemon.runs import JobRuns
from probe.daemon.state import DaemonState, Retention, save_state, update_gauges
from probe.daemon.store_calls import StoreCalls
from probe.daemon.systemd import notify, watchdog_interval
from probe.daemon.uploads import UploadLoop
from probe.errors import ConfigError, ProbeError, StoreError
from probe.paths import private_directory, private_file
from probe.store import ResultStore

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from probe.daemon.metrics import Metrics

LOCK_FILE = "daemon.lock"
# After the grace, a worker still alive gets this long to record its interrupted run.
WORKER_EXIT_MARGIN_S = 5.0


def first_run_at(job: JobPlan, last_start: datetime | None, now: datetime) -> datetime:
    """When `job` is next due: an interval after its last stored run, or soon after start."""
    jitter = random.uniform(0, job.jitter_s) if job.jitter_s else 0.0
    if last_start is None:
        return now + timedelta(seconds=jitter)
    return max(last_start + timedelta(seconds=job.every_s + jitter), now)


async def validate(config_path: Path) -> DaemonPlan:
    """Read and validate the config in a worker; ConfigError (exit 2) says what is wrong."""
    try:
        text = await asyncio.to_thread(config_path.read_text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot read config: {exc.strerror or exc}") from exc
    proc = await asyncio.create_subprocess_exec(
        *WORKER, "validate", "--config", str(config_path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate(text.encode())
    if proc.returncode != 0:
        message = err.decode(errors="replace").strip().removeprefix("probe: error: ")
        raise ConfigError(message or f"config validation failed ({proc.returncode})")
    return DaemonPlan.from_json(out.decode())


def take_lock(data_dir: Path) -> TextIO:
    """Lock `data_dir` for this process (released when it exits); StoreError if another has it."""
    private_directory(data_dir)
    handle = private_file(data_dir / LOCK_FILE).open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise StoreError(
            f"another probe daemon is running on {data_dir} ({LOCK_FILE} is locked)"
        ) from exc
    return handle


class Daemon:
    def __init__(
        self,
        config_path: Path,
        plan: DaemonPlan,
        *,
        lock: TextIO,
        store: StoreCalls,
        metrics: Metrics | None,
    ) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.config_path = config_path
        self.plan = plan
        self.data_dir = Path(plan.data_dir)
        self.started_at = datetime.now(UTC)
        self._lock = lock  # held while the daemon lives
        self._store = store
        self._metrics = metrics
        self._stop = asyncio.Event()
        self._scheduler: AsyncIOScheduler = AsyncIOScheduler(timezone=UTC)
        self.pool = WorkerPool(config_path, plan.config_text)
        self.disk = DiskGuard(self.data_dir, plan.min_free_bytes, store, metrics)
        self.runs = JobRuns(self.pool, self.disk, store, metrics)
        self.retention = Retention(
            store, metrics, plan.retention_max_age_s, plan.retention_max_bytes
        )
        self.uploads = UploadLoop(self.pool, store, metrics, plan.upload_every_s)

    @classmethod
    def open(cls, config_path: Path, plan: DaemonPlan) -> Daemon:
        """Lock the data directory, open the store and the metrics endpoint."""
        data_dir = Path(plan.data_dir)
        lock = take_lock(data_dir)
        store = StoreCalls(ResultStore.open(data_dir))
        metrics = None
        if plan.metrics_listen:
            from probe.daemon.metrics import Metrics

            metrics = Metrics(plan.metrics_listen)
        return cls(config_path, plan, lock=lock, store=store, metrics=metrics)

    # Start and stop

    async def serve(self) -> None:
        """Run until SIGTERM/SIGINT."""
        abandoned = await self._store.close_abandoned_runs()
        if abandoned:
            log("runs.abandoned", logging.WARNING, count=abandoned,
                note="runs a previous process left unfinished are marked interrupted")  # fmt: skip
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        self._scheduler.start()
        await self._schedule_all()
        duties = [
            asyncio.create_task(self._watchdog()),
            asyncio.create_task(self.disk.watch(self._run_now)),
            asyncio.create_task(self.retention.run()),
            asyncio.create_task(self.uploads.run()),
            asyncio.create_task(refresh_loop(self.config_path, self._stop)),  # ASN db, monthly
        ]
        log(
            "daemon.start", version=__version__, pid=os.getpid(), config=self.config_path,
            data_dir=self.data_dir, jobs=",".join(j.name for j in self.plan.jobs),
            metrics=self._metrics.port if self._metrics else "off",
            upload_every=self.plan.upload_every_s or "off",
        )  # fmt: skip
        notify(f"READY=1\nSTATUS=running {len(self.plan.jobs)} job(s)")
        try:
            await self._stop.wait()
        finally:
            await self._shutdown(duties)

    def _request_stop(self) -> None:
        """SIGTERM/SIGINT: no task starts from now on; serve() then shuts down."""
        self.pool.close()
        self._stop.set()

    async def _shutdown(self, duties: list[asyncio.Task[None]]) -> None:
        notify("STOPPING=1")
        log("daemon.stopping", running=",".join(self.pool.running) or "-")
        self._scheduler.pause()
        if await self.pool.stop(self.plan.stop_grace_s + WORKER_EXIT_MARGIN_S):
            with contextlib.suppress(StoreError):  # killed workers could not close their runs
                await self._store.close_abandoned_runs()
        for task in duties:
            task.cancel()
        await asyncio.gather(*duties, return_exceptions=True)
        self._scheduler.shutdown(wait=False)
        await self._save_state(stopped=True)
        if self.disk.held_rows:
            log("store.lost", logging.ERROR, count=len(self.disk.held_rows),
                reason="the disk was still full when the daemon stopped")  # fmt: skip
        self._store.close()
        if self._metrics is not None:
            self._metrics.close()
        log("daemon.stop")

    # The schedule

    async def _schedule_all(self) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        now = datetime.now(UTC)
        for existing in self._scheduler.get_jobs():
            existing.remove()
        for job in self.plan.jobs:
            last = await self._store.last_start(job.name)
            start = first_run_at(job, last, now)
            trigger = IntervalTrigger(
                seconds=job.every_s, jitter=job.jitter_s or None, start_date=start, timezone=UTC
            )
            self._scheduler.add_job(
                self._scheduled, trigger, args=[job.name], id=job.name, name=job.name,
                next_run_time=start, max_instances=1, coalesce=True, misfire_grace_time=None,
            )  # fmt: skip
            log(
                "job.scheduled", job=job.name, targets=job.targets, every=job.every_s,
                jitter=job.jitter_s, next_run=start.isoformat(),
            )  # fmt: skip
        await self._save_state()

    async def _scheduled(self, name: str) -> None:
        """APScheduler's entry point: the run and its bookkeeping happen in a task of the pool,
        which shutdown waits for; APScheduler's own shutdown may cancel only this wrapper."""
        try:
            task = await self.pool.supervise(name, lambda: self._run_and_record(name))
        except asyncio.CancelledError:
            return  # stopping: the task is the pool's to finish, not APScheduler's
        if task is not None and not task.cancelled() and (error := task.exception()) is not None:
            log("run.error", logging.ERROR, job=name, error=repr(error))  # a bug: say so once

    async def _run_and_record(self, name: str) -> None:
        try:
            await self.runs.run(name)
        finally:
            await self._save_state()
            await update_gauges(self._store, self._metrics)

    def _run_now(self, names: list[str]) -> None:
        """Start these jobs' next runs now (the disk guard's jobs skipped for space)."""
        for name in names:
            if self._scheduler.get_job(name) is not None:
                self._scheduler.modify_job(name, next_run_time=datetime.now(UTC))

    async def _save_state(self, stopped: bool = False) -> None:
        next_runs: dict[str, datetime | None] = {}
        for job in self.plan.jobs:
            scheduled = self._scheduler.get_job(job.name)
            next_runs[job.name] = getattr(scheduled, "next_run_time", None)
        state = DaemonState(
            self.config_path, self.started_at, self.plan.jobs, next_runs,
            disk_paused=self.disk.paused, unsaved=len(self.disk.held_rows), stopped=stopped,
        )  # fmt: skip
        await save_state(self._store, state)

    # Reload, watchdog

    async def reload(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        notify(f"RELOADING=1\nMONOTONIC_USEC={usec}")
        try:
            plan = await validate(self.config_path)
            if Path(plan.data_dir) != self.data_dir:
                raise ConfigError("changing [storage] data_dir needs a restart")
        except ProbeError as exc:
            log("reload.failed", logging.ERROR, error=exc, action="keeping the previous config")
            notify("READY=1\nSTATUS=reload failed: keeping the previous config")
            return
        if plan.metrics_listen != self.plan.metrics_listen:
            log("reload.partial", logging.WARNING, note="metrics_listen changes need a restart")
        self._configure(plan)
        set_format(plan.log_format)
        await self._schedule_all()
        self.uploads.wake()
        log("reload.ok", jobs=",".join(j.name for j in plan.jobs))
        notify(f"READY=1\nSTATUS=running {len(plan.jobs)} job(s)")

    def _configure(self, plan: DaemonPlan) -> None:
        """Hand a reloaded config to the parts (what a reload changes, in one place)."""
        self.plan = plan
        self.pool.config_text = plan.config_text
        self.disk.min_free_bytes = plan.min_free_bytes
        self.retention.max_age_s = plan.retention_max_age_s
        self.retention.max_bytes = plan.retention_max_bytes
        self.uploads.every_s = plan.upload_every_s

    async def _watchdog(self) -> None:
        interval = watchdog_interval()
        if interval is None:
            return
        while True:  # pinged from the event loop: a stuck loop stops the pings
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)


def run_daemon(config_path: Path) -> None:
    """Validate the config, then serve until stopped (the `probe daemon` command)."""

    async def main() -> None:
        plan = await validate(config_path)
        setup_logging(plan.log_format)
        await Daemon.open(config_path, plan).serve()

    asyncio.run(main())
