"""The daemon and a collector end to end: measure every second, upload every second through
a link that is first down, then up; every stored measurement ends at the collector once."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from collector.harness import RunningCollector
from servers import FaultRelay, ServerLoop, closed_port

from probe.config import CollectorSettings

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
