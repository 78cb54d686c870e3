"""The daemon's pure parts: schedule start, plan, budget, logs, sd_notify, config and jobs."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from probe.config import load_settings
from probe.daemon import budget, logs, systemd
from probe.daemon.jobs import load_jobs
from probe.daemon.plan import DaemonPlan, JobPlan
from probe.daemon.service import first_run_at
from probe.errors import ConfigError
from probe.models.control import ControlRequest
from probe.models.observations import (
    DnsObservation,
    HttpRequestRecord,
    HttpResponseRecord,
    HttpTransaction,
    TcpObservation,
    TcpStatus,
    TlsObservation,
)
from probe.models.results import ControlSiteCheck, EndpointResult, TargetResult, TestKeys, Verdict
from probe.models.targets import TargetKind

from .harness import parse_logfmt

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# first_run_at


def test_first_run_without_history_is_now_plus_jitter() -> None:
    job = JobPlan(name="web", every_s=900, jitter_s=30, targets=1)
    starts = [first_run_at(job, None, NOW) for _ in range(200)]
    assert all(NOW <= s <= NOW + timedelta(seconds=30) for s in starts), starts
    assert len(set(starts)) > 1  # jittered
    exact = JobPlan(name="web", every_s=900, jitter_s=0, targets=1)
    assert first_run_at(exact, None, NOW) == NOW


def test_first_run_after_an_old_run_is_now() -> None:
    job = JobPlan(name="web", every_s=900, jitter_s=30, targets=1)
    last = NOW - timedelta(days=2)
    assert all(first_run_at(job, last, NOW) == NOW for _ in range(50))


def test_first_run_after_a_recent_run_waits_an_interval() -> None:
    job = JobPlan(name="web", every_s=900, jitter_s=30, targets=1)
    last = NOW - timedelta(seconds=100)
    starts = [first_run_at(job, last, NOW) for _ in range(200)]
    due = last + timedelta(seconds=900)
    assert all(due <= s <= due + timedelta(seconds=30) for s in starts), starts
    assert len(set(starts)) > 1  # jittered too
    exact = JobPlan(name="web", every_s=900, jitter_s=0, targets=1)
    assert first_run_at(exact, last, NOW) == due


def test_daemon_plan_json_round_trip() -> None:
    plan = DaemonPlan(
        config_text='[[schedule.jobs]]\nname = "web"\n', data_dir="/var/lib/probe",
        jobs=[JobPlan("web", 900.0, 30.0, 4), JobPlan("apps", 3600.0, 0.0, 1)],
        min_free_bytes=123, retention_max_age_s=86400.0, retention_max_bytes=1 << 30,
        metrics_listen="127.0.0.1:9780", stop_grace_s=2.5, log_format="json",
    )  # fmt: skip
    back = DaemonPlan.from_json(plan.to_json())
    assert back == plan
    assert all(isinstance(job, JobPlan) for job in back.jobs)
    assert DaemonPlan.from_json(DaemonPlan("", "/d").to_json()) == DaemonPlan("", "/d")


# budget.estimate_bytes


def _dns(engine: str = "udp") -> DnsObservation:
    return DnsObservation(
        hostname="a.test", query_type="A", engine=engine, resolver_address="1.1.1.1", t0=0, t=0.1
    )


def _transaction(body_length: int | None) -> HttpTransaction:
    response = (
        None if body_length is None else HttpResponseRecord(code=200, x_body_length=body_length)
    )
    return HttpTransaction(
        request=HttpRequestRecord(url="https://a.test/"), response=response, t0=0, t=0.1
    )


def _with_endpoint(result: TargetResult, body_length: int) -> TargetResult:
    keys = TestKeys(
        queries=[_dns(), _dns()],
        x_doh=[_dns("doh")],
        tcp_connect=[
            TcpObservation(ip="127.0.0.1", port=443, status=TcpStatus(success=True), t0=0, t=0.1)
        ],
        tls_handshakes=[TlsObservation(address="127.0.0.1:443", server_name="a.test", t0=0, t=0.1)],
        requests=[_transaction(body_length), _transaction(None)],
        x_control_request=ControlRequest(http_request="https://a.test/"),
    )
    endpoint = EndpointResult(
        endpoint=result.target.endpoints[0], verdict=Verdict.ACCESSIBLE, test_keys=keys
    )
    return TargetResult.model_validate({**dict(result), "endpoints": [endpoint]})


def test_estimate_bytes_of_an_empty_result(stored_result: TargetResult) -> None:
    assert stored_result.endpoints == [] and stored_result.controls == []
    assert budget.estimate_bytes(stored_result) == 0
    controls = [
        ControlSiteCheck(url="https://c.test/", phase=phase, success=True, elapsed_s=0.1)
        for phase in ("before", "after")
    ]
    with_controls = stored_result.model_copy(update={"controls": controls})
    assert budget.estimate_bytes(with_controls) == 2 * budget.CONTROL_SITE_BYTES


def test_estimate_bytes_formula_and_body_length(stored_result: TargetResult) -> None:
    fixed = (
        2 * budget.DNS_QUERY_BYTES + budget.DOH_QUERY_BYTES + budget.TCP_CONNECT_BYTES
        + budget.TLS_HANDSHAKE_BYTES + 2 * budget.HTTP_REQUEST_BYTES + budget.CONTROL_BYTES
    )  # fmt: skip
    assert budget.estimate_bytes(_with_endpoint(stored_result, 0)) == fixed
    assert budget.estimate_bytes(_with_endpoint(stored_result, 5_000)) == fixed + 5_000
    assert budget.estimate_bytes(_with_endpoint(stored_result, 3 << 20)) == fixed + (3 << 20)


# logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging() replaces the root logger's handlers: put things back afterwards."""
    root = logging.getLogger()
    names = ("apscheduler", "httpx")
    levels = {name: logging.getLogger(name).level for name in names}
    root_level = root.level
    before = list(root.handlers)
    yield
    for handler in list(root.handlers):
        if isinstance(handler.formatter, logs._Formatter):
            root.removeHandler(handler)
    for handler in before:  # ours were replaced; pytest's own come and go by phase
        if handler not in root.handlers and not type(handler).__module__.startswith("_pytest"):
            root.addHandler(handler)
    root.setLevel(root_level)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


TRICKY: dict[str, Any] = {
    "spaced": "a b",
    "quoted": 'say "hi"',
    "multiline": "one\ntwo",
    "equals": "k=v",
    "backslash": "c:\\dir",
    "tab": "a\tb",
    "empty": "",
    "plain": "word",
    "number": 42,
}


def test_logfmt_quotes_what_needs_quoting(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.setup_logging("logfmt", stream)
    logs.log("run.finish", logging.WARNING, **TRICKY)
    text = stream.getvalue()
    assert text.count("\n") == 1, text  # one line, whatever the values hold
    fields = parse_logfmt(text)
    assert fields["event"] == "run.finish" and fields["level"] == "warning"
    for key, value in TRICKY.items():
        assert fields[key] == str(value), (key, text)
    assert " plain=word " in text and " number=42" in text  # simple values stay bare
    assert 'spaced="a b"' in text and 'empty=""' in text


def test_logfmt_quotes_control_characters(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.setup_logging("logfmt", stream)
    logs.log("x", cr="a\rb", esc="\x1b[31mred", nul="a\x00b")
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text and "\x00" not in text, repr(text)
    fields = parse_logfmt(text)
    assert (fields["cr"], fields["esc"], fields["nul"]) == ("a\rb", "\x1b[31mred", "a\x00b")


def test_json_log_lines(restore_logging: None) -> None:
    stream = io.StringIO()
    logs.setup_logging("json", stream)
    logs.log("job.scheduled", job="web", every=900.0, path=Path("/x y"), **TRICKY)
    logging.getLogger("probe.other").error("hello %s", "world")
    logging.getLogger("apscheduler.scheduler").info("silenced below WARNING")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2, lines
    first, second = lines
    assert first["event"] == "job.scheduled" and first["level"] == "info"
    assert first["job"] == "web" and first["every"] == 900.0 and first["path"] == "/x y"
    assert {k: first[k] for k in TRICKY} == TRICKY
    assert datetime.strptime(first["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert second["logger"] == "probe.other" and second["message"] == "hello world"
    assert second["level"] == "error"
    logs.set_format("logfmt")
    logs.log("daemon.stop")
    assert parse_logfmt(stream.getvalue().splitlines()[-1])["event"] == "daemon.stop"


# systemd


def _notify_socket(path: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    return sock


def test_notify_path_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify.sock"
    if len(str(path)) >= 100:  # sun_path holds 108 bytes
        path = Path("/tmp") / f"probe-notify-{uuid.uuid4().hex}.sock"
    with _notify_socket(str(path)) as sock:
        try:
            monkeypatch.setenv("NOTIFY_SOCKET", str(path))
            assert systemd.notify("READY=1") is True
            assert sock.recv(4096) == b"READY=1"
            assert systemd.notify("STATUS=running 2 job(s)\nWATCHDOG=1") is True
            assert sock.recv(4096) == b"STATUS=running 2 job(s)\nWATCHDOG=1"
        finally:
            path.unlink(missing_ok=True)
    # The socket is gone: an error, not an exception.
    assert systemd.notify("READY=1") is False


def test_notify_never_blocks_on_a_full_receiver(monkeypatch: pytest.MonkeyPatch) -> None:
    """A receiver that reads nothing fills its queue (a few datagrams): later pings are lost,
    and the sender is never blocked. Found as a daemon whose schedule stopped after one run
    under load, its event loop stuck in a blocking send of WATCHDOG=1."""
    name = f"probe-test-{uuid.uuid4().hex}"
    with _notify_socket(b"\0" + name.encode()):
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        done = threading.Event()
        sent: list[bool] = []

        def ping() -> None:
            sent.extend(systemd.notify("WATCHDOG=1") for _ in range(5000))
            done.set()

        threading.Thread(target=ping, daemon=True).start()
        assert done.wait(10), "notify blocked on a receiver that reads nothing"
        assert sent[0] is True and sent[-1] is False, "the queue fills, then pings are dropped"


def test_notify_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"probe-test-{uuid.uuid4().hex}"
    with _notify_socket(b"\0" + name.encode()) as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.notify("READY=1") is True
        assert sock.recv(4096) == b"READY=1"


def test_notify_without_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", "")
    assert systemd.notify("READY=1") is False


def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert systemd.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    assert systemd.watchdog_interval() == 1.5
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert systemd.watchdog_interval() == 1.5
    other = subprocess.Popen(["true"])
    other.wait()
    monkeypatch.setenv("WATCHDOG_PID", str(other.pid))
    assert systemd.watchdog_interval() is None  # meant for another process
    monkeypatch.delenv("WATCHDOG_PID")
    monkeypatch.setenv("WATCHDOG_USEC", "20")
    assert systemd.watchdog_interval() == 0.05  # floored
    monkeypatch.setenv("WATCHDOG_USEC", "0")
    assert systemd.watchdog_interval() is None  # as sd_watchdog_enabled(3): disabled
    monkeypatch.setenv("WATCHDOG_USEC", "-5")
    assert systemd.watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_USEC", "soon")
    assert systemd.watchdog_interval() is None


# config validation


def _job(name: str = "web", every: str = "15m", extra: str = 'targets = ["twitter"]') -> str:
    return f'[[schedule.jobs]]\nname = "{name}"\nevery = "{every}"\n{extra}\n'


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("PROBE_"):
            monkeypatch.delenv(key)


CONFIG_ERRORS = {
    "name_with_space": (_job(name="we b"), "'schedule.jobs.0.name'"),
    "name_with_slash": (_job(name="../etc"), "'schedule.jobs.0.name'"),
    "name_too_long": (_job(name="a" * 65), "'schedule.jobs.0.name'"),
    "every_below_1s": (_job(every="500ms"), "at most once a second"),
    "every_not_a_duration": (_job(every="often"), "invalid duration"),
    "jitter_equal_to_every": (_job(extra='targets = ["x"]\njitter = "15m"'), "jitter must be"),
    "no_targets": (_job(extra=""), "neither targets nor input_file"),
    "duplicate_names": (_job() + _job(), "duplicate job name(s): web"),
    "unknown_job_key": (_job(extra='targets = ["x"]\nevry = "1m"'), "unknown key"),
    "metrics_no_port": ('[daemon]\nmetrics_listen = "localhost"\n', "is not HOST:PORT"),
    "metrics_port_0": ('[daemon]\nmetrics_listen = "127.0.0.1:0"\n', "is not HOST:PORT"),
    "metrics_port_high": ('[daemon]\nmetrics_listen = "[::1]:70000"\n', "is not HOST:PORT"),
    "log_format": ('[daemon]\nlog_format = "xml"\n', "'daemon.log_format'"),
    "negative_grace": ("[daemon]\nstop_grace_s = -1\n", "cannot be negative"),
    # `$` would match before a trailing newline: names must match in full.
    "name_trailing_newline": (
        '[[schedule.jobs]]\nname = "web\\n"\ntargets = ["x"]\nevery = "1m"\n',
        "a job name is",
    ),
    "metrics_trailing_newline": (
        '[daemon]\nmetrics_listen = "127.0.0.1:9780\\n"\n',
        "is not HOST:PORT",
    ),
    "resolver_trailing_newline": (
        '[resolver]\nservers = ["udp://1.2.3.4\\n"]\n',
        "unknown resolver",
    ),
}


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_config_errors(case: str, clean_env: None) -> None:
    text, expected = CONFIG_ERRORS[case]
    with pytest.raises(ConfigError) as info:
        load_settings(text=text)
    assert expected in str(info.value), (case, str(info.value))


def test_config_durations_and_good_jobs(clean_env: None) -> None:
    text = (
        _job(extra='targets = ["twitter"]\njitter = "30s"')
        + _job(name="apps.v2_x-1", every="24h", extra='targets = ["youtube"]')
        + '[storage]\nretention_max_age = "90d"\nretention_max_bytes = 1000\n'
        + '[daemon]\nmetrics_listen = "[::1]:9780"\nstop_grace_s = "1500ms"\n'
    )
    settings = load_settings(text=text)
    web, apps = settings.schedule.jobs
    assert (web.name, web.every, web.jitter) == ("web", 900.0, 30.0)
    assert (apps.name, apps.every, apps.jitter) == ("apps.v2_x-1", 86400.0, 0.0)
    assert settings.storage.retention_max_age == 90 * 86400.0
    assert settings.daemon.metrics_listen == "[::1]:9780"
    assert settings.daemon.stop_grace_s == 1.5
    assert load_settings(text=_job(every="1s")).schedule.jobs[0].every == 1.0


# load_jobs


def test_load_jobs_without_jobs(clean_env: None) -> None:
    with pytest.raises(ConfigError, match=r"no \[\[schedule.jobs\]\]"):
        load_jobs(load_settings(text=""))


def test_load_jobs_missing_input_file(tmp_path: Path, clean_env: None) -> None:
    missing = tmp_path / "nowhere.txt"
    text = _job() + _job(name="lists", extra=f'input_file = "{missing}"')
    with pytest.raises(ConfigError) as info:
        load_jobs(load_settings(text=text))
    assert "job 'lists'" in str(info.value) and str(missing) in str(info.value)


def test_load_jobs_bad_target(clean_env: None) -> None:
    text = _job() + _job(name="broken", extra='targets = ["twitter", "not a url!!"]')
    with pytest.raises(ConfigError) as info:
        load_jobs(load_settings(text=text))
    assert "job 'broken'" in str(info.value) and "not a url!!" in str(info.value)


def test_load_jobs_empty_input_file(tmp_path: Path, clean_env: None) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="job 'lists' has no targets"):
        load_jobs(load_settings(text=_job(name="lists", extra=f'input_file = "{empty}"')))


def test_load_jobs_parses_targets(tmp_path: Path, clean_env: None) -> None:
    listed = tmp_path / "list.txt"
    listed.write_text("# sites\nhttps://example.org/a\nexample.net\n", encoding="utf-8")
    text = _job(extra='targets = ["twitter", "https://example.com/page"]') + _job(
        name="lists", extra=f'targets = ["youtube"]\ninput_file = "{listed}"'
    )
    web, lists = load_jobs(load_settings(text=text))
    assert web.name == "web" and lists.name == "lists"
    twitter, page = web.targets
    assert twitter.kind is TargetKind.PLATFORM and twitter.platform == "twitter"
    assert any(e.host == "twitter.com" for e in twitter.endpoints)
    assert page.kind is TargetKind.URL and page.endpoints[0].url == "https://example.com/page"
    assert [t.input for t in lists.targets] == ["youtube", "https://example.org/a", "example.net"]
    assert lists.targets[0].platform == "youtube"
