"""measure/plan.py: one attempt makes one connection (and one ClientHello) per address.

The connect (http://) or the recorded TLS handshake (https://) to the address the fetch uses
carries the first request, as in OONI's webconnectivitylte: a censor that counts ClientHellos
("block after N") sees one per attempt, and a volunteer's probe makes half the connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
from servers import (
    DnsEntry,
    DnsServer,
    HttpRequest,
    HttpServer,
    ServerLoop,
    TestPki,
    page,
    reset_after_request,
    respond,
)

from probe.config import Settings, load_settings
from probe.measure._clock import Clock
from probe.measure.plan import measure_endpoint, open_context
from probe.models.results import TestKeys
from probe.models.targets import Endpoint, EndpointKind

NAME = "one-connection.site.test"


class CountingServer(HttpServer):
    """An HttpServer that counts ClientHellos (by SNI) and the connections it served."""

    def __init__(self, loop: ServerLoop, *, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(loop, ssl_context=ssl_context)
        self.hellos: list[str | None] = []
        self.accepted = 0
        self.open = 0
        if ssl_context is not None:
            choose = ssl_context.sni_callback
            assert choose is not None

            def count(tls: Any, server_name: str | None, context: ssl.SSLContext) -> Any:
                self.hellos.append(server_name)
                return choose(tls, server_name, context)

            ssl_context.sni_callback = count

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        try:
            await super()._serve(reader, writer)
        finally:
            self.open -= 1

    def wait_all_closed(self, timeout_s: float = 3.0) -> bool:
        """Return whether every connection was closed (by the client) within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while self.open and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.open == 0


@pytest.fixture
def https(server_loop: ServerLoop, pki: TestPki) -> Iterator[CountingServer]:
    with CountingServer(server_loop, ssl_context=pki.server_context()) as server:
        assert isinstance(server, CountingServer)
        yield server


@pytest.fixture
def plain(server_loop: ServerLoop) -> Iterator[CountingServer]:
    with CountingServer(server_loop) as server:
        assert isinstance(server, CountingServer)
        yield server


def _settings(dns_server: DnsServer, pki: TestPki, **measure: Any) -> Settings:
    return load_settings(
        None,
        {
            "resolver": {"servers": [f"udp://{dns_server.address}"], "late_reply_window_s": 0.05},
            "control": {"helpers": [], "doh": [], "sites": []},
            "tls": {"ca_bundle": str(pki.ca_pem)},
            "network": {"routable": ["127.0.0.0/8"]},
            "timeouts": {"dns": 1, "connect": 1, "tls": 1, "http": 2},
            "measure": {"attempts": 1, "retry_backoff_s": 0.05, **measure},
        },
    )


def _measure(settings: Settings, url: str, *, within_s: float | None = None) -> TestKeys | None:
    port = int(url.split(":")[2].split("/")[0])
    endpoint = Endpoint(kind=EndpointKind.WEB, host=NAME, port=port, url=url)

    async def run() -> TestKeys | None:
        async with open_context(settings) as ctx:
            measuring = measure_endpoint(endpoint, ctx, Clock())
            if within_s is None:
                return await measuring
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(measuring, within_s)
            return None

    keys = asyncio.run(run())
    gc.collect()  # an unclosed socket would warn now (and warnings are errors)
    return keys


def test_an_https_attempt_sends_one_client_hello(
    dns_server: DnsServer, https: CountingServer, pki: TestPki
) -> None:
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.1",)))
    keys = _measure(_settings(dns_server, pki), https.url("/page", host=NAME))
    assert keys is not None and keys.attempts == 1
    (handshake,) = keys.tls_handshakes
    (transaction,) = keys.requests
    assert handshake.failure is None and transaction.failure is None
    assert transaction.response is not None and transaction.response.code == 200
    assert (https.hellos, https.accepted, len(https.requests)) == ([NAME], 1, 1), (
        "the page must come over the recorded handshake's connection"
    )
    assert transaction.address == handshake.address
    assert transaction.alpn == handshake.negotiated_protocol == "http/1.1"
    assert https.wait_all_closed()


def test_an_http_attempt_makes_one_connection(
    dns_server: DnsServer, plain: CountingServer, pki: TestPki
) -> None:
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.1",)))
    keys = _measure(_settings(dns_server, pki), plain.url("/page", host=NAME))
    assert keys is not None and keys.attempts == 1
    (connect,) = keys.tcp_connect
    (transaction,) = keys.requests
    assert connect.status.success and transaction.failure is None
    assert (plain.accepted, len(plain.requests)) == (1, 1), (
        "the page must come over the recorded connect's connection"
    )
    assert plain.wait_all_closed()


def test_every_attempt_has_its_own_single_connection(
    dns_server: DnsServer, https: CountingServer, pki: TestPki
) -> None:
    """Three failing attempts: three ClientHellos, not six (a "block after N" censor counts)."""
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.1",)))
    https.route("/one-connection/reset", reset_after_request)
    keys = _measure(
        _settings(dns_server, pki, attempts=3), https.url("/one-connection/reset", host=NAME)
    )
    assert keys is not None and keys.attempts == 3
    assert (len(https.hellos), https.accepted, len(https.requests)) == (3, 3, 3)
    assert all(h.failure is None for h in keys.tls_handshakes)
    for transaction in keys.requests:
        assert (transaction.failure, transaction.x_failed_operation) == ("connection_reset", "read")
        assert transaction.response is None


def test_a_redirect_hop_opens_a_connection_of_its_own(
    dns_server: DnsServer, https: CountingServer, pki: TestPki
) -> None:
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.1",)))
    keys = _measure(_settings(dns_server, pki), https.url("/redirect", host=NAME))
    assert keys is not None
    assert [r.response.code for r in keys.requests if r.response] == [200, 302]
    assert (len(https.hellos), https.accepted) == (2, 2), "depth 0 reused, depth 1 new"
    assert len(keys.tls_handshakes) == 1, "the hop's handshake is httpx's, as before"


@contextlib.contextmanager
def _stalling_listener(host: str, port: int) -> Iterator[None]:
    """Listen on host:port and never accept: connects succeed, TLS handshakes time out."""
    with socket.create_server((host, port)) as listener:
        listener.listen(8)
        yield


def test_the_other_addresses_handshakes_are_closed_and_the_first_usable_one_fetches(
    dns_server: DnsServer, https: CountingServer, pki: TestPki
) -> None:
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.2", "127.0.0.1")))
    with _stalling_listener("127.0.0.2", https.port):
        keys = _measure(_settings(dns_server, pki), https.url("/page", host=NAME))
    assert keys is not None
    failures = {h.address: h.failure for h in keys.tls_handshakes}
    assert failures == {
        f"127.0.0.1:{https.port}": None,
        f"127.0.0.2:{https.port}": "generic_timeout_error",
    }
    (transaction,) = keys.requests
    assert transaction.failure is None and transaction.address == f"127.0.0.1:{https.port}"
    assert (https.hellos, https.accepted) == ([NAME], 1), "held while the other handshake ran"
    assert https.wait_all_closed()


def test_a_cancelled_measurement_closes_the_connection_it_held(
    dns_server: DnsServer, https: CountingServer, pki: TestPki
) -> None:
    """Cancelled between the handshakes and the request: the kept connection is closed."""
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.2", "127.0.0.1")))
    with _stalling_listener("127.0.0.2", https.port):
        keys = _measure(_settings(dns_server, pki), https.url("/page", host=NAME), within_s=0.5)
    assert keys is None, "cancelled while the other handshake still ran"
    assert https.accepted == 1 and not https.requests
    assert https.wait_all_closed(), "the held connection must not outlive the attempt"


def test_an_attempt_cancelled_by_another_one_success_closes_its_connection(
    dns_server: DnsServer, https: CountingServer, pki: TestPki
) -> None:
    """The first success cancels the attempts still running: their lent connections close."""
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.1",)))
    seen_closed: list[bool] = []

    async def first_hangs(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        if len(https.requests) == 1:
            try:
                async with asyncio.timeout(5):
                    await writer.wait_closed()
                seen_closed.append(True)
            except TimeoutError:
                seen_closed.append(False)
            return
        await respond(page())(request, writer)

    https.route("/one-connection/first-hangs", first_hangs)
    settings = _settings(dns_server, pki, attempts=2)
    keys = _measure(settings, https.url("/one-connection/first-hangs", host=NAME))
    assert keys is not None and keys.attempts == 2
    assert keys.requests[0].failure is None, "the second attempt succeeded"
    assert (len(https.hellos), https.accepted, len(https.requests)) == (2, 2, 2)
    assert https.wait_all_closed()
    assert seen_closed == [True], "the first attempt's connection closed once it was cancelled"
