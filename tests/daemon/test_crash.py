"""SIGKILL at random moments, many times: the store always opens, holds only valid rows, and
its counts agree. Power loss is the same case for SQLite in WAL mode with synchronous=FULL."""

from __future__ import annotations

import json
import random
import sqlite3
import time

from probe.models.stored import RunStatus
from probe.store import STORE_FILE, ResultStore

from .harness import DaemonProcess, ProbeHome

KILLS = 12


def _wait_for_workers(home: ProbeHome, timeout: float = 15) -> None:
    """Workers of a killed daemon get SIGTERM from the kernel and record their run; wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ResultStore.open(home.data_dir, create=False) as store:
            if all(r.status is not RunStatus.RUNNING for r in store.runs(limit=10_000)):
                return
        time.sleep(0.2)


def test_sigkill_at_random_moments_never_damages_the_store(
    home: ProbeHome, ok_url: str, slow_url: str
) -> None:
    base = ok_url.removesuffix("/page")
    targets = [f"{base}/page", f"{base}/", f"{base}/gzip", slow_url]
    home.write_config(
        f'[[schedule.jobs]]\nname = "kill"\ntargets = {json.dumps(targets)}\nevery = "1s"\n',
        extra="[daemon]\nstop_grace_s = 0.5",
    )
    home.init()
    rng = random.Random(20261129)
    for _ in range(KILLS):
        daemon = DaemonProcess(home)
        try:
            daemon.wait_ready()
            time.sleep(rng.uniform(0.05, 3.0))
        finally:
            daemon.kill()
    final = DaemonProcess(home)  # a clean start closes what the last kill left open
    try:
        final.wait_ready()
        assert final.stop() == 0
    finally:
        final.close()
    _wait_for_workers(home)

    with ResultStore.open(home.data_dir, create=False) as store:
        assert store.integrity_check() == "ok"
        rows = list(store.results())
        assert all(not isinstance(r, Exception) for r in rows), rows
        runs = store.runs(limit=10_000)
        stats = store.stats()
    assert stats.results == len(rows) == len(home.stored())
    assert len({r.measurement_id for r in rows}) == len(rows)  # type: ignore[union-attr]
    assert len(rows) > 0, "results were stored between the kills"
    open_runs = [r for r in runs if r.status is RunStatus.RUNNING]
    assert not open_runs, f"every run is closed: {open_runs}"
    killed = [r for r in runs if r.status is RunStatus.INTERRUPTED]
    assert killed, f"some kills landed in the middle of a run: {[r.status for r in runs]}"

    with sqlite3.connect(home.data_dir / STORE_FILE) as db:
        per_run = dict(db.execute("SELECT run_id, COUNT(*) FROM results GROUP BY run_id"))
    assert sum(per_run.values()) == len(rows)
    for run in runs:
        count = per_run.get(run.run_id, 0)
        if run.status is RunStatus.OK:
            assert count == run.stored == run.targets == len(targets), run
        else:
            assert count <= run.targets, run
    assert set(per_run) <= {r.run_id for r in runs}, "every result belongs to a recorded run"
