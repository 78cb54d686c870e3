"""JobRunner in process: a run cancelled at any point leaves no run `running`."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from probe.config import JobSettings, Settings
from probe.daemon.jobs import Job
from probe.daemon.runner import JobRunner
from probe.models.results import TargetResult
from probe.models.status import RunStatus
from probe.store import ResultStore


def test_cancel_while_the_run_is_being_recorded_still_closes_it(
    tmp_path: Path, stored_result: TargetResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(storage={"data_dir": str(tmp_path), "min_free_bytes": 0})
    store = ResultStore.open(tmp_path)
    runner = JobRunner(settings, store, tmp_path)
    job = Job(JobSettings(name="web", targets=["x"], every=60), (stored_result.target,))
    entered = threading.Event()
    original = store.start_run

    def slow_start_run(*args: object) -> int:
        entered.set()
        time.sleep(0.3)  # SIGTERM's cancel lands while the row is being written
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "start_run", slow_start_run)

    async def main() -> None:
        task = asyncio.create_task(runner.run(job))
        assert await asyncio.to_thread(entered.wait, 5)
        task.cancel()
        outcome = await task
        assert outcome.status is RunStatus.INTERRUPTED
        assert outcome.unmeasured == [stored_result.target.input]

    try:
        asyncio.run(main())
        (run,) = store.runs()
        assert run.status is RunStatus.INTERRUPTED, run
        assert run.unmeasured == [stored_result.target.input]
    finally:
        runner.close()
        store.close()
