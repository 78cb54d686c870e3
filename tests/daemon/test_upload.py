"""The daemon and a collector end to end: measure every second, upload every second through
a link that is first down, then up; every stored measurement ends at the collector once. A
reload that changes `[upload] every` moves the pass already scheduled (issue 21)."""

from __future__ import annotations

import json
import signal
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collector.harness import RunningCollector
from servers import FaultRelay, ServerLoop, closed_port

from probe.config import CollectorSettings
from probe.daemon.uploads import due_at

from .harness import DaemonProcess, ProbeHome


def _collected(collector: RunningCollector) -> list[str]:
    ids: list[str] = []
    cursor: int | None = 0
    while cursor is not None:
        page = collector.reader.get("/api/v1/measurements", params={"cursor": cursor}).json()
        ids += [m["measurement_id"] for m in page["measurements"]]
        cursor = page["next_cursor"]
    return ids


def test_daemon_uploads_through_an_outage(
    home: ProbeHome, ok_url: str, tmp_path: Path, server_loop: ServerLoop
) -> None:
    collector = RunningCollector(CollectorSettings(data_dir=tmp_path / "collector"))
    relay = FaultRelay(server_loop, ("127.0.0.1", collector.port), mode="refuse")
    relay.start()
    try:
        upload = (
            f'[upload]\ncollectors = ["http://127.0.0.1:{relay.port}"]\nevery = "1s"\n'
            'retry_initial = "500ms"\nretry_max = "1s"\nmax_bundle_records = 3\n'
        )
        port = closed_port()
        upload += f'[daemon]\nmetrics_listen = "127.0.0.1:{port}"\n'
        job = f'[[schedule.jobs]]\nname = "web"\ntargets = {json.dumps([ok_url])}\nevery = "1s"\n'
        home.write_config(job, extra=upload)
        home.init()
        daemon = DaemonProcess(home)
        try:
            daemon.wait_ready()
            failed = daemon.wait_event("upload.failed", count=2)
            assert "connection_reset" in failed[0]["error"], failed[0]
            outbox = home.status()["outbox"]
            assert isinstance(outbox, dict) and outbox["last_upload_error"], outbox
            relay.mode = "pass"  # the link comes back
            daemon.wait_event("upload.ok")
            daemon.wait_event("run.finish", count=4)
            url = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as response:
                metrics = response.read().decode()
            assert 'probe_uploads_total{outcome="failed"}' in metrics
            assert 'probe_uploads_total{outcome="ok"}' in metrics
            uploaded = [line for line in metrics.splitlines()
                        if line.startswith("probe_uploaded_measurements_total ")]  # fmt: skip
            assert uploaded and float(uploaded[0].split()[1]) >= 1, metrics
        finally:
            assert daemon.stop() == 0
        # Whatever the daemon measured after its last pass goes now.
        final = home.probe("upload")
        assert final.returncode == 0, final.stderr
    finally:
        relay.close()
    try:
        stored = sorted(str(r.measurement_id) for r in home.stored())
        collected = _collected(collector)
    finally:
        collector.close()
    assert len(stored) >= 4
    assert sorted(collected) == stored, "every stored measurement, exactly once"
    outbox = home.status()["outbox"]
    assert isinstance(outbox, dict)
    assert (outbox["backlog"], outbox["pending_bundles"], outbox["failures"]) == (0, 0, 0)


def test_due_at_follows_the_every_in_force_after_a_success_and_the_backoff_after_a_failure() -> (
    None
):
    last = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    recorded = (last + timedelta(hours=1)).isoformat()
    state = {"last_attempt_at": last.isoformat(), "next_attempt_at": recorded, "failures": 0}
    assert due_at(state, 60.0) == last + timedelta(minutes=1)  # `every` shortened by a reload
    assert due_at(state, 7200.0) == last + timedelta(hours=2)  # lengthened
    assert due_at(state, None) == last + timedelta(hours=1)
    backoff = {
        **state,
        "failures": 3,
        "next_attempt_at": (last + timedelta(seconds=240)).isoformat(),
    }
    assert due_at(backoff, 60.0) == last + timedelta(seconds=240)
    assert due_at(None, 60.0) is None
    assert due_at({"last_attempt_at": "garbage", "failures": 0}, 60.0) is None


def test_a_reload_that_shortens_upload_every_moves_the_pass_already_scheduled(
    home: ProbeHome, ok_url: str, tmp_path: Path
) -> None:
    collector = RunningCollector(CollectorSettings(data_dir=tmp_path / "collector"))
    job = f'[[schedule.jobs]]\nname = "web"\ntargets = {json.dumps([ok_url])}\nevery = "1h"\n'

    def upload(every: str) -> str:
        return f'[upload]\ncollectors = ["{collector.url}"]\nevery = "{every}"\n'

    def last_upload_at() -> object:
        outbox = home.status()["outbox"]
        assert isinstance(outbox, dict), outbox
        return outbox["last_upload_at"]

    home.write_config(job, extra=upload("1h"))
    home.init()
    daemon = DaemonProcess(home)
    try:
        daemon.wait_ready()
        daemon.wait_for(lambda: last_upload_at() is not None, what="the first upload pass")
        first = last_upload_at()
        home.write_config(job, extra=upload("1s"))  # the next pass was due in an hour
        daemon.signal(signal.SIGHUP)
        daemon.wait_event("reload.ok")
        daemon.wait_for(lambda: last_upload_at() != first, what="a pass one `every` (1 s) later")
    finally:
        assert daemon.stop() == 0
        collector.close()
