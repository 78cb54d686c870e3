"""`probe daemon` as a real process: the schedule, sd_notify, SIGTERM, SIGHUP and metrics."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta

from servers import closed_port

from probe.models.stored import RunStatus

from .harness import DaemonProcess, ProbeHome


def _job(name: str, targets: list[str], every: str = "1s", jitter: str = "0s") -> str:
    return (
        f'[[schedule.jobs]]\nname = "{name}"\ntargets = {json.dumps(targets)}\n'
        f'every = "{every}"\njitter = "{jitter}"\n'
    )


def _runs(home: ProbeHome, job: str | None = None) -> list[dict[str, object]]:
    from probe.store import ResultStore

    with ResultStore.open(home.data_dir, create=False) as store:
        return [r.model_dump(mode="json") for r in store.runs(job=job, limit=1000)]


def test_schedule_runs_repeatedly_and_sigterm_stops_cleanly(home: ProbeHome, ok_url: str) -> None:
    home.write_config(_job("web", [ok_url], every="1s"))
    home.init()
    daemon = DaemonProcess(home, watchdog_usec=400_000)
    try:
        daemon.wait_ready()
        daemon.wait_event("run.finish", count=3, timeout=60)
        assert any(m == "WATCHDOG=1" for m in daemon.received()), daemon.received()
        status = home.status()
        assert status["daemon"]["running"] is True  # type: ignore[index]
        job = status["jobs"][0]  # type: ignore[index]
        assert job["name"] == "web" and job["next_run"], job
        started = time.monotonic()
        assert daemon.stop() == 0, daemon.log_text()
        assert time.monotonic() - started < 8, "SIGTERM stops within a few seconds"
    finally:
        daemon.close()
    assert "STOPPING=1" in daemon.messages
    assert daemon.events("daemon.stop"), daemon.log_text()
    runs = _runs(home, "web")
    assert len(runs) >= 3
    assert {r["status"] for r in runs} <= {RunStatus.OK, RunStatus.INTERRUPTED}
    stored = home.stored()
    ok_runs = [r for r in runs if r["status"] == RunStatus.OK]
    assert len(stored) >= len(ok_runs)
    assert all(r.verdict.value == "accessible" for r in stored)
    assert home.status()["daemon"]["running"] is False  # type: ignore[index]


def test_sigterm_mid_run_records_the_unmeasured_targets(
    home: ProbeHome, ok_url: str, slow_url: str
) -> None:
    home.write_config(
        _job("slow", [ok_url, slow_url], every="1h"), extra="[daemon]\nstop_grace_s = 0.3"
    )
    home.init()
    daemon = DaemonProcess(home)
    try:
        daemon.wait_event("run.start")
        time.sleep(1.0)  # the fast target is stored, the slow one is still in its handshake
        started = time.monotonic()
        assert daemon.stop() == 0, daemon.log_text()
        assert time.monotonic() - started < 5
    finally:
        daemon.close()
    (run,) = _runs(home, "slow")
    assert run["status"] == RunStatus.INTERRUPTED, run
    assert run["unmeasured"] == [slow_url], run
    assert run["stored"] == 1
    assert [r.input for r in home.stored()] == [ok_url]


def test_restart_resumes_the_schedule_from_the_store(home: ProbeHome, ok_url: str) -> None:
    home.write_config(_job("web", [ok_url], every="1h"))
    home.init()
    daemon = DaemonProcess(home)
    try:
        daemon.wait_event("run.finish")
        assert daemon.stop() == 0
    finally:
        daemon.close()
    again = DaemonProcess(home)
    try:
        (scheduled,) = again.wait_event("job.scheduled")
        time.sleep(1.5)
        assert not again.events("run.start"), "a restart does not re-measure at once"
        assert again.stop() == 0
    finally:
        again.close()
    assert len(_runs(home, "web")) == 1
    last = datetime.fromisoformat(str(_runs(home, "web")[0]["started_at"]))
    due = datetime.fromisoformat(scheduled["next_run"])
    assert timedelta(minutes=59) < due - last <= timedelta(hours=1), (last, due)


def test_sighup_reloads_and_a_bad_config_keeps_the_old_one(home: ProbeHome, ok_url: str) -> None:
    home.write_config(_job("first", [ok_url], every="1h"))
    home.init()
    daemon = DaemonProcess(home)
    try:
        daemon.wait_ready()
        daemon.wait_event("run.finish")
        home.write_config(_job("second", [ok_url], every="1s"))
        daemon.signal(signal.SIGHUP)
        daemon.wait_event("reload.ok")
        daemon.wait_for(
            lambda: any(e.get("job") == "second" for e in daemon.events("run.finish")),
            what="a run of the reloaded job",
        )
        assert "RELOADING=1" in "\n".join(daemon.received())
        home.config.write_text(home.config.read_text() + "\n[nonsense]\nx = 1\n")
        daemon.signal(signal.SIGHUP)
        (failed,) = daemon.wait_event("reload.failed")
        assert "unknown key 'nonsense'" in failed["error"], failed
        seen = len([e for e in daemon.events("run.finish") if e.get("job") == "second"])
        daemon.wait_for(
            lambda: (
                len([e for e in daemon.events("run.finish") if e.get("job") == "second"]) > seen + 1
            ),
            what="the old config still running after a bad reload",
        )
        assert daemon.proc.poll() is None
        assert daemon.stop() == 0
    finally:
        daemon.close()
    assert {r["job"] for r in _runs(home)} == {"first", "second"}


def test_metrics_endpoint(home: ProbeHome, ok_url: str) -> None:
    port = closed_port()
    home.write_config(
        _job("web", [ok_url], every="1h"), extra=f'[daemon]\nmetrics_listen = "127.0.0.1:{port}"'
    )
    home.init()
    daemon = DaemonProcess(home)
    try:
        daemon.wait_event("run.finish")
        # The supervisor reads the run's summary after the worker logs run.finish, and sets the
        # store's gauges after it has counted the run: wait for both, however long a busy
        # machine takes (the gauges lagging the counter by a store call failed one CI run).
        text = ""

        def counted() -> bool:
            nonlocal text
            text = _scrape(f"http://127.0.0.1:{port}/metrics")
            return (
                'probe_runs_total{job="web",status="ok"} 1.0' in text
                and "probe_outbox_backlog 1.0" in text
            )

        daemon.wait_for(counted, what="the run counted in /metrics")
        assert daemon.stop() == 0
    finally:
        daemon.close()
    assert (
        'probe_measurements_total{blocking="",job="web",platform="",verdict="accessible"} 1.0'
        in text
    ), text
    assert 'probe_runs_total{job="web",status="ok"} 1.0' in text
    assert "probe_outbox_backlog 1.0" in text
    assert 'probe_last_success_timestamp_seconds{job="web"}' in text
    assert "process_resident_memory_bytes" in text


def test_second_daemon_on_the_same_store_is_refused(home: ProbeHome, ok_url: str) -> None:
    home.write_config(_job("web", [ok_url], every="1h"))
    home.init()
    daemon = DaemonProcess(home)
    try:
        daemon.wait_ready()
        proc = home.probe("daemon", timeout=30)
        assert proc.returncode == 1
        assert "another probe daemon is running" in proc.stderr, proc.stderr
        assert daemon.stop() == 0
    finally:
        daemon.close()


def test_the_supervisor_stays_light() -> None:
    """Between runs the daemon is only its supervisor: no pydantic, httpx or measurement code."""
    code = (
        "import sys, probe.daemon.service, probe.daemon.metrics, probe.cli.app, probe.cli.daemon;"
        "probe.cli.daemon.config_path(None) if False else None;"
        "heavy = sorted(m for m in ('pydantic', 'httpx', 'dns', 'cryptography', 'probe.runner',"
        " 'probe.measure', 'probe.config') if m in sys.modules); print(heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout


def test_runs_missed_while_suspended_coalesce_into_one(home: ProbeHome, ok_url: str) -> None:
    """SIGSTOP stands in for a suspended VPS: four due runs pass, one run follows."""
    home.write_config(_job("web", [ok_url], every="1s"))
    home.init()
    daemon = DaemonProcess(home)
    try:
        daemon.wait_event("run.finish")
        daemon.wait_for(lambda: not _running(home), what="no run in flight")
        daemon.signal(signal.SIGSTOP)
        time.sleep(4.5)
        before = len(daemon.events("run.start"))
        daemon.signal(signal.SIGCONT)
        daemon.wait_event("run.start", count=before + 1)
        time.sleep(0.8)  # less than the interval: only catch-up runs could start now
        assert len(daemon.events("run.start")) == before + 1, daemon.log_text()
        assert daemon.stop() == 0
    finally:
        daemon.close()


def _running(home: ProbeHome) -> bool:
    return any(r["status"] == RunStatus.RUNNING for r in _runs(home))


def test_retention_deletes_only_shipped_results(home: ProbeHome, ok_url: str) -> None:
    from probe.store import ResultStore

    home.write_config(_job("web", [ok_url], every="1h"), storage='retention_max_age = "1s"')
    home.init()
    assert home.probe("run").returncode == 0
    assert home.probe("run").returncode == 0
    with ResultStore.open(home.data_dir, create=False) as store:
        first = next(iter(store.results()))
        assert not isinstance(first, Exception)
        store.mark_uploaded([first.measurement_id])
    time.sleep(1.1)
    daemon = DaemonProcess(home)
    try:
        (retention,) = daemon.wait_event("retention")
        assert retention["deleted"] == "1"
        assert daemon.stop() == 0
    finally:
        daemon.close()
    left = home.stored()
    assert len(left) == 1 and left[0].measurement_id != first.measurement_id


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())
