"""The loopback world the daemon measures: an ISP resolver, a public resolver, a real helper
and the shared HTTPS server. Jobs measure `daemon-*.site.test` names on 127.0.0.1 (the test
certificate covers *.site.test)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helper.loopback import RunningHelper, loopback_helper_settings, loopback_probe_toml
from servers import DnsEntry, DnsServer, HttpServer, ServerLoop, SilentServer, TestPki

from probe.models.results import TargetResult, Verdict
from probe.models.targets import Endpoint, EndpointKind, Target, TargetKind

from .harness import ProbeHome

OK = "daemon-ok.site.test"
CONTROL = "daemon-control.site.test"
NAMES = (OK, CONTROL)


@pytest.fixture(scope="module")
def public_dns(server_loop: ServerLoop) -> Iterator[DnsServer]:
    server = DnsServer(server_loop)
    server.start()
    for name in NAMES:
        server.zone.set(name, DnsEntry(a=("127.0.0.1",)))
    yield server
    server.close()


@pytest.fixture(scope="module")
def daemon_helper(public_dns: DnsServer, pki: TestPki) -> Iterator[RunningHelper]:
    running = RunningHelper(loopback_helper_settings(public_dns.address, pki.ca_pem))
    yield running
    running.close()


@pytest.fixture(scope="module")
def base_config(
    dns_server: DnsServer, pki: TestPki, daemon_helper: RunningHelper, https_server: HttpServer
) -> str:
    for name in NAMES:
        dns_server.zone.set(name, DnsEntry(a=("127.0.0.1",)))
    sites = [https_server.url("/page", host=CONTROL)]
    return loopback_probe_toml(
        dns_server.address, pki.ca_pem, [daemon_helper.url], sites, late_window="20ms"
    )


@pytest.fixture
def home(tmp_path: Path, base_config: str) -> ProbeHome:
    return ProbeHome(tmp_path, base_config)


@pytest.fixture
def ok_url(https_server: HttpServer) -> str:
    return https_server.url("/page", host=OK)


@pytest.fixture
def slow_url(silent_server: SilentServer) -> str:
    """A target whose TLS handshake never completes: each attempt waits for its timeout."""
    return f"https://{OK}:{silent_server.port}/"


@pytest.fixture
def stored_result() -> TargetResult:
    """A small valid result, for store tests that need no network."""
    url = "https://daemon-ok.site.test/"
    endpoint = Endpoint(kind=EndpointKind.WEB, host="daemon-ok.site.test", port=443, url=url)
    target = Target(
        input=url, kind=TargetKind.URL, name="daemon-ok.site.test", endpoints=[endpoint]
    )
    return TargetResult(
        input=url, verdict=Verdict.ACCESSIBLE, reasons=["it loaded"], target=target,
        measurement_start_time=datetime.now(UTC), test_runtime=0.1, software_version="test",
    )  # fmt: skip
