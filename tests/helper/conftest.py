"""Fixtures for the helper: the shared loopback servers with the helper's additions (see
loopback.py), and helpers started on them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from servers import DnsServer, HttpServer, ServerLoop, TestPki

from probe.config import Settings

from .loopback import ROUTES, ZONE, Internet, RunningHelper, Trap

StartHelper = Callable[..., RunningHelper]


@pytest.fixture(scope="session")
def internet(
    server_loop: ServerLoop,
    pki: TestPki,
    dns_server: DnsServer,
    http_server: HttpServer,
    https_server: HttpServer,
) -> Iterator[Internet]:
    for name, entry in ZONE.items():
        dns_server.zone.set(name, entry)
    for path, handler in ROUTES.items():
        http_server.route(path, handler)
        https_server.route(path, handler)
    with Trap(server_loop, host="127.0.0.2") as trap:
        assert isinstance(trap, Trap)
        yield Internet(dns_server, http_server, https_server, trap, pki.ca_pem)


@pytest.fixture
def start_helper() -> Iterator[StartHelper]:
    """Return a function that starts a helper (closed at the end of the test)."""
    started: list[RunningHelper] = []

    def start(settings: Settings, *, allow_loopback: bool = True) -> RunningHelper:
        helper = RunningHelper(settings, allow_loopback=allow_loopback)
        started.append(helper)
        return helper

    yield start
    for helper in started:
        helper.close()


@pytest.fixture(scope="session")
def helper(internet: Internet) -> Iterator[RunningHelper]:
    """A helper with the default test settings, shared by the tests that need no others."""
    running = RunningHelper(internet.settings())
    yield running
    running.close()
