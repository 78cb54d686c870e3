"""Disk full under data_dir (a small tmpfs): measuring pauses, loudly, and resumes when space
returns; nothing stored is damaged and no result is lost while the daemon lives."""

from __future__ import annotations

import asyncio
import errno
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from probe.config import Settings
from probe.daemon.runner import JobRunner
from probe.models.results import TargetResult
from probe.store import ResultStore

from .harness import DaemonProcess, ProbeHome


@pytest.fixture
def small_disk(tmpfs: Callable[[str], Path]) -> Path:
    return tmpfs("6m")


def _fill(mount: Path, leave: int) -> Path:
    """Write a filler file until fewer than `leave` bytes are free; return it."""
    filler = mount / "filler"
    chunk = b"\0" * 65536
    with filler.open("ab") as handle:
        while shutil.disk_usage(mount).free > leave:
            try:
                handle.write(chunk[: max(4096, min(len(chunk), shutil.disk_usage(mount).free))])
                handle.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    return filler


def _home(home: ProbeHome, mount: Path, ok_url: str, min_free: int) -> ProbeHome:
    home.data_dir = mount / "data"
    home.write_config(
        f'[[schedule.jobs]]\nname = "web"\ntargets = {json.dumps([ok_url])}\nevery = "1s"\n',
        storage=f"min_free_bytes = {min_free}",
    )
    home.init()
    return home


def _results(home: ProbeHome) -> int:
    with ResultStore.open(home.data_dir, create=False) as store:
        assert store.integrity_check() == "ok"
        return store.stats().results


def test_low_space_pauses_measuring_until_space_returns(
    home: ProbeHome, small_disk: Path, ok_url: str
) -> None:
    _home(home, small_disk, ok_url, min_free=2 << 20)
    filler = _fill(small_disk, leave=1 << 20)
    daemon = DaemonProcess(home)
    try:
        daemon.wait_event("disk.full")
        daemon.wait_event("run.skipped", count=2)
        assert not daemon.events("run.start"), "nothing is measured without space"
        assert daemon.proc.poll() is None, "no crash"
        filler.unlink()
        daemon.wait_event("disk.ok", timeout=20)
        daemon.wait_event("run.finish", timeout=20)
        assert daemon.stop() == 0
    finally:
        daemon.close()
    assert _results(home) >= 1


def test_write_failing_with_enospc_pauses_and_recovers(
    home: ProbeHome, small_disk: Path, ok_url: str
) -> None:
    _home(home, small_disk, ok_url, min_free=0)
    daemon = DaemonProcess(home)
    try:
        daemon.wait_event("run.finish")
        filler = _fill(small_disk, leave=0)
        (full,) = daemon.wait_event("disk.full", timeout=30)
        assert "disk full" in full["reason"], full
        daemon.wait_event("run.skipped", count=2, timeout=20)
        assert len(daemon.events("disk.full")) == 1, "logged once, not once per second"
        assert daemon.proc.poll() is None, "no crash"
        before = _results(home)
        filler.unlink()
        daemon.wait_event("disk.ok", timeout=20)
        finished = len(daemon.events("run.finish"))
        daemon.wait_event("run.finish", count=finished + 1, timeout=20)
        assert daemon.stop() == 0
    finally:
        daemon.close()
    held = len(daemon.events("store.recovered"))
    assert _results(home) >= before + held + 1
    text = daemon.log_text()
    assert "Traceback" not in text, text[text.find("Traceback") - 300 :]


def test_a_result_that_cannot_be_written_is_held_then_written(
    small_disk: Path, stored_result: TargetResult
) -> None:
    """The runner's own path, in process: ENOSPC → held in memory → written when space returns."""
    data_dir = small_disk / "data"
    settings = Settings(storage={"data_dir": str(data_dir), "min_free_bytes": 0})
    store = ResultStore.open(data_dir)
    runner = JobRunner(settings, store, data_dir)
    try:
        run_id = store.start_run("web", 1)
        assert runner._write(stored_result, "web", run_id) is not None
        filler = _fill(small_disk, leave=0)
        for _ in range(200):  # until the WAL must grow past the space it already has
            if runner._write(stored_result, "web", run_id) is None:
                break
        assert runner.unsaved and runner.disk_paused
        assert store.integrity_check() == "ok"
        assert not asyncio.run(runner.check_disk()), "still full"
        count = store.stats().results
        filler.unlink()
        assert asyncio.run(runner.check_disk())
        assert not runner.unsaved and not runner.disk_paused
        assert store.stats().results == count + 1
    finally:
        runner.close()
        store.close()
