"""`Daemon`: the supervisor. It holds the schedule and starts one worker process per run.

It imports neither pydantic nor the measurement code (tests/daemon checks this), so between
runs the daemon costs ~30 MB of memory and no CPU; each run's worker (worker.py) exits when done.

- A job never overlaps itself (`max_instances=1`); runs missed during a suspend coalesce into
  one (`coalesce=True`, no misfire limit).
- The first run after a start is due one interval after the job's last run in the store, so a
  restart (or a crash loop) neither re-measures at once nor forgets the schedule.
- SIGTERM: no new runs; workers get SIGTERM, finish within `[daemon] stop_grace_s` or record
  their run as interrupted with the targets they did not measure.
- SIGHUP: the config is validated again (by a worker); an invalid one is logged, the old kept.
- Disk full: a worker that could not store hands its rows back; the supervisor stops starting
  runs, logs it once, writes the rows when space returns, then runs the skipped jobs.
- Uploads (uploads.py): when `[upload] collectors` is set, a worker uploads the outbox whenever
  the store says the next pass is due (every `[upload] every`, or the backoff after a failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import logging
import os
import random
import shutil
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from probe import __version__
from probe.daemon.geoip import refresh_loop
from probe.daemon.logs import log, log_recovered, set_format, setup_logging
from probe.daemon.plan import DaemonPlan, JobPlan
from probe.daemon.systemd import notify, watchdog_interval
from probe.daemon.uploads import UploadLoop
from probe.errors import ConfigError, ProbeError, StoreError
from probe.models.status import RunStatus
from probe.paths import private_directory, private_file
from probe.store import ResultStore, StoreFullError

LOCK_FILE = "daemon.lock"
DISK_POLL_S = 5.0
RETENTION_EVERY_S = 3600.0
STATE_KEY = "daemon"
WORKER = [sys.executable, "-m", "probe.daemon.worker"]
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


class Daemon:
    def __init__(self, config_path: Path, plan: DaemonPlan) -> None:
        self.config_path = config_path
        self.plan = plan
        self.data_dir = Path(plan.data_dir)
        self.started_at = datetime.now(UTC)
        self.disk_paused = False
        self.held_rows: list[dict[str, Any]] = []  # results a full disk refused, oldest first
        self._stop = asyncio.Event()
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._workers: dict[str, asyncio.subprocess.Process] = {}
        self._skipped_for_disk: set[str] = set()
        self._lock_handle: Any = None
        self._scheduler: Any = None
        self._store: ResultStore | None = None
        self._metrics: Any = None
        self._uploads = UploadLoop(self)

    @property
    def store(self) -> ResultStore:
        assert self._store is not None
        return self._store

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Store calls run off the event loop (fsync must not delay the watchdog)."""
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    # Start and stop

    def _take_lock(self) -> None:
        private_directory(self.data_dir)
        handle = private_file(self.data_dir / LOCK_FILE).open("a")
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
        self._store = ResultStore.open(self.data_dir)
        if self.plan.metrics_listen:
            from probe.daemon.metrics import Metrics

            self._metrics = Metrics(self.plan.metrics_listen)
        abandoned = await self._call(self.store.close_abandoned_runs)
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
        duties = [
            asyncio.create_task(self._watchdog()),
            asyncio.create_task(self._disk_monitor()),
            asyncio.create_task(self._retention()),
            asyncio.create_task(self._uploads.run()),
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

    async def _shutdown(self, duties: list[asyncio.Task[Any]]) -> None:
        notify("STOPPING=1")
        log("daemon.stopping", running=",".join(self._running) or "-")
        self._scheduler.pause()
        for worker in self._workers.values():
            with contextlib.suppress(ProcessLookupError):
                worker.send_signal(signal.SIGTERM)
        running = list(self._running.values())
        if running:
            timeout = self.plan.stop_grace_s + WORKER_EXIT_MARGIN_S
            _, late = await asyncio.wait(running, timeout=timeout)
            if late:
                for worker in self._workers.values():
                    with contextlib.suppress(ProcessLookupError):
                        worker.kill()
                await asyncio.wait(late, timeout=5)
                with contextlib.suppress(StoreError):
                    await self._call(self.store.close_abandoned_runs)
        for task in duties:
            task.cancel()
        await asyncio.gather(*duties, return_exceptions=True)
        self._scheduler.shutdown(wait=False)
        await self._save_state(stopped=True)
        if self.held_rows:
            log("store.lost", logging.ERROR, count=len(self.held_rows),
                reason="the disk was still full when the daemon stopped")  # fmt: skip
        self.store.close()
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
            last = await self._call(self.store.last_start, job.name)
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
        """APScheduler's entry point: the run and its bookkeeping happen in a task of ours,
        which shutdown waits for; APScheduler's own shutdown may cancel only this wrapper."""
        if self._stop.is_set() or name in self._running:
            return
        task = asyncio.create_task(self._run_and_record(name))
        self._running[name] = task
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            return  # stopping: `task` is ours to finish, not APScheduler's
        finally:
            if task.done():
                self._running.pop(name, None)
        if not task.cancelled() and (error := task.exception()) is not None:
            log("run.error", logging.ERROR, job=name, error=repr(error))  # a bug: say so once

    async def _run_and_record(self, name: str) -> None:
        try:
            await self._run_job(name)
        finally:
            await self._save_state()
            await self._update_gauges()

    async def _run_job(self, name: str) -> None:
        if self.disk_paused or self._free_bytes() < self.plan.min_free_bytes:
            await self._skip_for_disk(name)
            return
        exit_status, result = await self.worker(name, "run", "--job", name)
        # Whatever happened to the worker, a run it left `running` is closed now, not at the
        # next start (a worker killed before it could record its run, for one).
        with contextlib.suppress(StoreError):
            await self._call(self.store.close_abandoned_runs)
        if result is None and self._stop.is_set() and exit_status == -signal.SIGTERM:
            # Our SIGTERM reached the worker before it could handle it (it was still starting):
            # a stop, not a crash; nothing was measured yet.
            log("run.stopped", job=name, note="stopped while its worker was starting")
            return
        if result is None:
            log("run.crashed", logging.ERROR, job=name, exit_status=exit_status,
                note="the worker gave no summary; its run is closed as interrupted")  # fmt: skip
            if self._metrics is not None:
                self._metrics.observe_run(name, RunStatus.FAILED, time.time())
            return
        self._take_summary(name, result)

    async def worker(self, key: str, *args: str) -> tuple[int | None, dict[str, Any] | None]:
        """Run `worker ARGS` with the validated config on stdin (SIGTERMed on shutdown under
        `key`); return its exit status and its JSON summary (None when it gave none)."""
        proc = await asyncio.create_subprocess_exec(
            *WORKER, *args, "--config", str(self.config_path),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._workers[key] = proc
        try:
            out, _ = await proc.communicate(self.plan.config_text.encode())
        finally:
            self._workers.pop(key, None)
        lines = out.decode(errors="replace").strip().splitlines()
        try:
            summary = json.loads(lines[-1]) if lines else None
        except ValueError:
            summary = None
        return proc.returncode, summary if isinstance(summary, dict) else None

    def _take_summary(self, name: str, result: dict[str, Any]) -> None:
        status = RunStatus(result["status"])
        if self._metrics is not None:
            for platform, verdict, blocking in result["results"]:
                self._metrics.observe_result(name, platform, verdict, blocking)
            self._metrics.observe_run(name, status, time.time())
        rows = result.get("unsaved_rows") or []
        if rows and self._metrics is not None:
            self._metrics.store_errors.labels(kind="disk_full").inc(len(rows))
        if rows or status is RunStatus.SKIPPED_DISK:
            self.held_rows.extend(rows)
            self._skipped_for_disk.add(name)
            self._set_paused(True, result.get("error") or "results could not be written")

    async def _skip_for_disk(self, name: str) -> None:
        reason = "disk full" if self.disk_paused else "free space below [storage] min_free_bytes"
        self._set_paused(True, reason)
        self._skipped_for_disk.add(name)
        log("run.skipped", logging.WARNING, job=name, status=RunStatus.SKIPPED_DISK, reason=reason)
        if self._metrics is not None:
            self._metrics.observe_run(name, RunStatus.SKIPPED_DISK, time.time())
        with contextlib.suppress(StoreError):
            await self._call(self.store.record_run, name, RunStatus.SKIPPED_DISK, error=reason)

    # Disk

    def _free_bytes(self) -> int:
        try:
            return shutil.disk_usage(self.data_dir).free
        except OSError:
            return 0

    def _set_paused(self, paused: bool, reason: str = "") -> None:
        if paused and not self.disk_paused:
            log(
                "disk.full", logging.ERROR, data_dir=self.data_dir, free_bytes=self._free_bytes(),
                min_free_bytes=self.plan.min_free_bytes, reason=reason,
                action="measuring paused until space returns",
            )  # fmt: skip
        elif not paused and self.disk_paused:
            log("disk.ok", free_bytes=self._free_bytes(), action="measuring resumes")
        self.disk_paused = paused
        if self._metrics is not None:
            self._metrics.disk_paused.set(1 if paused else 0)

    def _try_space(self) -> bool:
        """Store thread: True once a write succeeds and every held row is written."""
        try:
            self.store.write_held(self.held_rows, on_written=log_recovered)
        except StoreFullError:
            return False
        return True

    async def _disk_monitor(self) -> None:
        """While paused for disk space, look again every few seconds; rerun skipped jobs."""
        while True:
            await asyncio.sleep(DISK_POLL_S)
            if not self.disk_paused:
                continue
            if self._free_bytes() < self.plan.min_free_bytes:
                continue
            if not await self._call(self._try_space):
                continue
            self._set_paused(False)
            for name in sorted(self._skipped_for_disk):
                if self._scheduler.get_job(name) is not None:
                    self._scheduler.modify_job(name, next_run_time=datetime.now(UTC))
            self._skipped_for_disk.clear()

    # State for `probe status`, metrics, retention

    async def _save_state(self, stopped: bool = False) -> None:
        jobs = []
        for job in self.plan.jobs:
            scheduled = self._scheduler.get_job(job.name) if self._scheduler else None
            next_run = getattr(scheduled, "next_run_time", None)
            jobs.append({
                "name": job.name, "targets": job.targets, "every_s": job.every_s,
                "jitter_s": job.jitter_s,
                "next_run": None if stopped or next_run is None else next_run.isoformat(),
            })  # fmt: skip
        state = {
            "pid": os.getpid(), "version": __version__, "config": str(self.config_path),
            "started_at": self.started_at.isoformat(),
            "stopped_at": datetime.now(UTC).isoformat() if stopped else None,
            "disk_paused": self.disk_paused, "unsaved": len(self.held_rows), "jobs": jobs,
        }  # fmt: skip
        with contextlib.suppress(StoreError):
            await self._call(self.store.set_state, STATE_KEY, state)

    async def _update_gauges(self) -> None:
        if self._metrics is None:
            return
        with contextlib.suppress(StoreError):
            stats = await self._call(self.store.stats)
            self._metrics.backlog.set(stats.pending)
            self._metrics.store_bytes.set(stats.file_bytes)

    async def _retention(self) -> None:
        while True:
            plan = self.plan  # re-read each time: SIGHUP may change the limits
            if plan.retention_max_age_s is not None or plan.retention_max_bytes is not None:
                try:
                    deleted = await self._call(
                        self.store.apply_retention,
                        max_age_s=plan.retention_max_age_s,
                        max_bytes=plan.retention_max_bytes,
                    )
                    if deleted:
                        log("retention", deleted=deleted)
                except StoreError as exc:
                    log("retention.failed", logging.WARNING, error=exc)
            await self._update_gauges()
            await asyncio.sleep(RETENTION_EVERY_S)

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
        self.plan = plan
        set_format(plan.log_format)
        await self._schedule_all()
        self._uploads.wake()
        log("reload.ok", jobs=",".join(j.name for j in plan.jobs))
        notify(f"READY=1\nSTATUS=running {len(plan.jobs)} job(s)")

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
        await Daemon(config_path, plan).serve()

    asyncio.run(main())
