"""The daemon's worker: `python -m probe.daemon.worker validate|run`, one process per task.

The supervisor (service.py) stays small and never imports pydantic, httpx or the measurement
code; everything that does runs here, in a process that exits when its run is done, so the
memory a run needed goes back to the system and a crash in a run cannot take the schedule down.

Every command reads the config's TOML text on stdin (the supervisor's validated copy).
- `validate --config PATH`: check the config, the jobs, the key and the consent; print the
  `DaemonPlan` as JSON. Exit 2 with the reason on stderr when anything is wrong.
- `run --config PATH --job NAME`: run the job once (JobRunner), logging to stderr; print one
  JSON summary line on stdout. SIGTERM lets the run finish within `[daemon] stop_grace_s`, then
  cancels it, and it is recorded as interrupted.
- `upload --config PATH`: one pass over the outbox (seal, send, record the outcome and when the
  next pass is due in the store); print one JSON summary line. SIGTERM cancels it at once: an
  interrupted upload loses nothing (the bundle stays in the outbox).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from probe.config import Settings, load_settings, resolve_data_dir
from probe.daemon.jobs import load_jobs
from probe.daemon.logs import setup_logging
from probe.daemon.plan import DaemonPlan, JobPlan
from probe.daemon.runner import JobRunner, RunOutcome
from probe.errors import ProbeError
from probe.models.status import RunStatus
from probe.ship import load_identity, require_consent
from probe.store import ResultStore

_PR_SET_PDEATHSIG = 1
_P = ParamSpec("_P")
_T = TypeVar("_T")


class DetachedThreads(ThreadPoolExecutor):
    """The worker's default executor: each call on its own daemon thread; shutdown never waits.

    `loop.getaddrinfo` (httpx connecting to a named helper, collector or control site) runs in
    the default executor. On a network whose resolver never answers, a lookup blocks its thread
    for the resolver's whole timeout (`timeout × attempts × nameservers` in resolv.conf), and
    `asyncio.run` joins the default executor's threads before it returns: the worker would print
    its summary only after every stuck lookup gave up, past the supervisor's grace, and the run
    would be logged as a crash. A stuck lookup's result is no longer wanted once the run is
    over, so its thread is left to the interpreter's exit, which does not wait for daemon threads.
    (The lookups in flight are bounded by the run's own concurrency: each one is awaited.)
    """

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        future: Future[_T] = Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the awaiting coroutine, as the pool does
                future.set_exception(exc)
            else:
                future.set_result(result)

        threading.Thread(target=work, name="probe-detached", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to join: a call still running is abandoned, never waited for."""


def _run_detached(main: Coroutine[Any, Any, _T]) -> _T:
    """`asyncio.run(main)` with `DetachedThreads` as the default executor."""
    with asyncio.Runner() as runner:
        runner.get_loop().set_default_executor(DetachedThreads(max_workers=1))
        return runner.run(main)


def _die_with_parent() -> None:
    """Ask the kernel for SIGTERM if the supervisor dies (SIGKILL): the run is then recorded."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _validate(config: Path, text: str) -> DaemonPlan:
    settings = load_settings(config, text=text)
    jobs = load_jobs(settings)
    data_dir = resolve_data_dir(settings)
    load_identity(data_dir)
    require_consent(data_dir)
    storage, daemon = settings.storage, settings.daemon
    return DaemonPlan(
        config_text=text, data_dir=str(data_dir),
        jobs=[
            JobPlan(j.name, j.settings.every, j.settings.jitter, len(j.targets)) for j in jobs
        ],
        min_free_bytes=storage.min_free_bytes,
        retention_max_age_s=storage.retention_max_age,
        retention_max_bytes=storage.retention_max_bytes,
        metrics_listen=daemon.metrics_listen, stop_grace_s=daemon.stop_grace_s,
        log_format=daemon.log_format,
        upload_every_s=settings.upload.every if settings.upload.collectors else None,
    )  # fmt: skip


def summary(outcome: RunOutcome, unsaved: list[dict[str, object]]) -> dict[str, object]:
    """What the supervisor learns of a run: status, counts, metric labels, rows to keep."""
    return {
        "job": outcome.job, "run_id": outcome.run_id, "status": outcome.status.value,
        "stored": len(outcome.stored), "error": outcome.error,
        "estimated_bytes": outcome.estimated_bytes,
        "results": [
            [r.target.platform or "", r.verdict.value, r.blocking.value if r.blocking else ""]
            for r in outcome.stored
        ],
        "unsaved_rows": unsaved,
    }  # fmt: skip


async def _run(settings: Settings, job_name: str) -> dict[str, object]:
    jobs = {job.name: job for job in load_jobs(settings)}
    job = jobs[job_name]
    data_dir = resolve_data_dir(settings)
    store = ResultStore.open(data_dir)
    runner = JobRunner(settings, store, data_dir)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(runner.run(job))

    stopping: list[asyncio.TimerHandle] = []

    def stop() -> None:  # finish within the grace, else cancel (recorded as interrupted)
        if not stopping:  # a second signal does not cut the recording of the first short
            stopping.append(loop.call_later(settings.daemon.stop_grace_s, task.cancel))

    loop.add_signal_handler(signal.SIGTERM, stop)
    loop.add_signal_handler(signal.SIGINT, stop)
    try:
        outcome = await task
    except asyncio.CancelledError:  # cancelled outside the measurements (while recording)
        outcome = runner.current or RunOutcome(job.name, RunStatus.INTERRUPTED)
    finally:
        runner.close()
        store.close()
    return summary(outcome, runner.unsaved)


async def _upload(settings: Settings) -> dict[str, object]:
    from probe.ship.upload import upload_outbox

    data_dir = resolve_data_dir(settings)
    identity = load_identity(data_dir)
    store = ResultStore.open(data_dir)
    task = asyncio.create_task(upload_outbox(store, identity, settings.upload))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    loop.add_signal_handler(signal.SIGINT, task.cancel)
    try:
        report = await task
    except asyncio.CancelledError:
        return {"status": "interrupted", "ok": False, "error": "stopped during the upload"}
    finally:
        store.close()
    return {"status": "ok" if report.ok else "failed", **report.to_dict()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="probe.daemon.worker")
    parser.add_argument("command", choices=["validate", "run", "upload"])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--job")
    args = parser.parse_args(argv)
    text = sys.stdin.read()
    try:
        if args.command == "validate":
            sys.stdout.write(_validate(args.config, text).to_json() + "\n")
            return 0
        _die_with_parent()
        settings = load_settings(args.config, text=text)
        setup_logging(settings.daemon.log_format, sys.stderr)
        if args.command == "upload":
            result = _run_detached(_upload(settings))
        else:
            result = _run_detached(_run(settings, args.job))
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
        return 0
    except ProbeError as exc:
        sys.stderr.write(f"probe: error: {exc}\n")
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
