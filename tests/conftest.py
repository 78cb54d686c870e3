"""Loopback servers for every test package (see tests/servers/__init__.py for what they do).

All fixtures here are session-scoped and shared: a test that needs special behaviour adds a route
with a path of its own (`https_server.route("/my-case", respond(...))`) or a zone entry with a
name of its own (`dns_server.zone.set("my-case.test", DnsEntry(...))`) rather than changing a
default. Servers listen on 127.0.0.1, port 0; tests call async code with `asyncio.run`.

Fixtures:
    server_loop    the background event loop every server runs on
    pki            TestPki: `pki.ca_pem` (trusted CA, usable as `[tls] ca_bundle`),
                   `pki.rogue_ca_pem`, leaf certificates
    dns_server     DnsServer with DEFAULT_ZONE: `.address` (UDP and TCP), `.dot_address` (DoT)
    http_server    HttpServer (plain HTTP) with default_routes()
    https_server   HttpServer over TLS, certificate chosen by SNI, plus "/dns-query" (DoH)
    silent_server  accepts TCP and never answers (TLS/HTTP timeouts)
    reset_server   accepts TCP, reads the first bytes, answers with a RST
    blackhole      a port whose SYNs are dropped (connect timeouts)
    closed_port    a port nothing listens on (connect refused)
    trust_store    probe's TrustStore trusting Mozilla's roots plus `pki.ca_pem`
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from servers import (
    Blackhole,
    DnsServer,
    HttpServer,
    ResetServer,
    ServerLoop,
    SilentServer,
    TestPki,
    doh,
)
from servers import (
    closed_port as free_port,
)

# Property tests draw the same examples on every run (a CI run must not find by chance what the
# last one missed: tests are deterministic); PROBE_HYPOTHESIS=explore draws new ones, to search.
hypothesis_settings.register_profile("deterministic", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("PROBE_HYPOTHESIS", "deterministic"))


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount small tmpfs file systems ("2m", "6m") for a full disk; unmounted after the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounts: list[Path] = []

    def mount(size: str) -> Path:
        path = tmp_path / f"disk{len(mounts)}"
        path.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True
        )
        mounts.append(path)
        return path

    try:
        yield mount
    finally:
        for path in mounts:
            subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture(scope="session")
def server_loop() -> Iterator[ServerLoop]:
    with ServerLoop() as loop:
        yield loop


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    return TestPki(Path(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="session")
def dns_server(server_loop: ServerLoop, pki: TestPki) -> Iterator[DnsServer]:
    server = DnsServer(server_loop, dot_context=pki.leaf_context("trusted", alpn=("dot",)))
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def http_server(server_loop: ServerLoop) -> Iterator[HttpServer]:
    with HttpServer(server_loop) as server:
        yield server


@pytest.fixture(scope="session")
def https_server(
    server_loop: ServerLoop, pki: TestPki, dns_server: DnsServer
) -> Iterator[HttpServer]:
    with HttpServer(server_loop, ssl_context=pki.server_context()) as server:
        server.route("/dns-query", doh(dns_server))
        yield server


@pytest.fixture(scope="session")
def silent_server(server_loop: ServerLoop) -> Iterator[SilentServer]:
    with SilentServer(server_loop) as server:
        yield server


@pytest.fixture(scope="session")
def reset_server(server_loop: ServerLoop) -> Iterator[ResetServer]:
    with ResetServer(server_loop) as server:
        yield server


@pytest.fixture(scope="session")
def blackhole() -> Iterator[Blackhole]:
    hole = Blackhole()
    yield hole
    hole.close()


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def trust_store(pki: TestPki) -> Any:
    from probe.measure.tls import TrustStore  # imported here: collection stays light

    return TrustStore(pki.ca_pem)
