"""Issue 18: slow clients cannot starve the helper, and it names the right client behind a proxy.

Replayed against the real helper on loopback. Slow clients are real sockets that send a head and
one byte of a 100-byte body, then nothing; the test waits until the helper counts them (no
sleeps), then asks as an honest client. Other client addresses are real loopback sources
(127.0.0.2, 127.0.0.3) bound by the client socket.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest
from helper import conftest as helper_fixtures
from helper.conftest import StartHelper
from helper.loopback import Internet, RunningHelper
from helper.reverse_proxy import ReverseProxy
from servers import ServerLoop

from probe.models.control import ControlResponse

# The helper's fixtures (tests/helper/conftest.py), used here as they are.
internet = helper_fixtures.internet
start_helper = helper_fixtures.start_helper


def _port(helper: RunningHelper) -> int:
    return int(helper.url.rsplit(":", 1)[1].strip("/"))


def _wait_open(helper: RunningHelper, client: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while helper.app.state.clients.open_requests(client) < count:
        assert time.monotonic() < deadline, f"the helper never counted {count} from {client}"
        time.sleep(0.01)


@contextmanager
def slow_clients(helper: RunningHelper, count: int, source: str = "127.0.0.1") -> Iterator[None]:
    """Hold `count` requests whose body never arrives, from `source`, until the block ends."""
    with ExitStack() as stack:
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection(
                ("127.0.0.1", _port(helper)), timeout=10, source_address=(source, 0)))  # fmt: skip
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        _wait_open(helper, source, count)
        yield


def ask(
    helper: RunningHelper, internet: Internet, *, source: str = "127.0.0.1",
    headers: dict[str, str] | None = None, url: str | None = None,
) -> httpx.Response:  # fmt: skip
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=30) as client:
        return client.post(
            url or helper.url, json={"http_request": internet.url()}, headers=headers or {}
        )


def test_slow_bodies_do_not_take_the_in_flight_slots(
    internet: Internet, start_helper: StartHelper
) -> None:
    """Before: 50 slow clients made the helper answer 503 to everyone."""
    helper = start_helper(internet.settings(helper={
        "max_in_flight_all": 2, "max_in_flight": 2, "max_per_client": 60, "body_timeout": 60,
    }))  # fmt: skip
    with slow_clients(helper, 50):
        assert helper.app.state.shedder.in_flight == 0
        honest = ask(helper, internet)
    assert honest.status_code == 200, honest.text


def test_one_client_address_holds_at_most_max_per_client(
    internet: Internet, start_helper: StartHelper
) -> None:
    helper = start_helper(internet.settings(helper={"max_per_client": 3, "body_timeout": 60}))
    with slow_clients(helper, 3):
        same = ask(helper, internet)
        other = ask(helper, internet, source="127.0.0.2")
    assert same.status_code == 429, same.text
    assert "error" in same.json()
    assert other.status_code == 200, "another client is still served"
    assert ask(helper, internet).status_code == 200, "served again once the slow ones left"


def test_a_body_past_the_deadline_is_408_and_frees_its_place(
    internet: Internet, start_helper: StartHelper
) -> None:
    helper = start_helper(internet.settings(helper={"max_per_client": 1, "body_timeout": 0.3}))
    with socket.create_connection(("127.0.0.1", _port(helper)), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        assert sock.recv(4096).startswith(b"HTTP/1.1 408")
    _wait_open(helper, "127.0.0.1", 0)
    assert ask(helper, internet).status_code == 200


# --- behind a reverse proxy ------------------------------------------------------------------


@pytest.fixture
def proxied(
    internet: Internet, start_helper: StartHelper, server_loop: ServerLoop
) -> Iterator[tuple[RunningHelper, ReverseProxy]]:
    helper = start_helper(internet.settings(helper={"trusted_proxies": ["127.0.0.1/32"]}))
    with ReverseProxy(server_loop, helper.url.split("//")[1].strip("/")) as proxy:
        assert isinstance(proxy, ReverseProxy)
        yield helper, proxy


def echoed(response: httpx.Response) -> str | None:
    assert response.status_code == 200, response.text
    return ControlResponse.model_validate_json(response.content).x_client_address


def test_behind_a_trusted_proxy_the_client_is_echoed_not_the_proxy(
    internet: Internet, proxied: tuple[RunningHelper, ReverseProxy]
) -> None:
    """Before: the helper echoed the proxy's address, so the probe learnt nothing."""
    helper, proxy = proxied
    via = f"http://{proxy.address}/"
    assert echoed(ask(helper, internet, source="127.0.0.3", url=via)) == "127.0.0.3"
    spoofed = {"X-Forwarded-For": "198.51.100.66"}  # a client writes anything at the left
    assert echoed(ask(helper, internet, source="127.0.0.3", url=via, headers=spoofed)) == (
        "127.0.0.3"
    )


def test_forwarding_headers_from_anyone_else_are_ignored(
    internet: Internet, proxied: tuple[RunningHelper, ReverseProxy]
) -> None:
    helper, _ = proxied
    for headers in (
        {"X-Forwarded-For": "198.51.100.66"},
        {"Forwarded": 'for="[2001:db8::66]:4711"'},
    ):
        assert echoed(ask(helper, internet, source="127.0.0.2", headers=headers)) == "127.0.0.2"


def test_without_trusted_proxies_the_headers_count_for_nothing(
    internet: Internet, start_helper: StartHelper
) -> None:
    helper = start_helper(internet.settings())
    headers = {"X-Forwarded-For": "198.51.100.66", "Forwarded": "for=198.51.100.67"}
    assert echoed(ask(helper, internet, headers=headers)) == "127.0.0.1"


def test_forwarded_is_read_as_rfc_7239_writes_it(
    internet: Internet, proxied: tuple[RunningHelper, ReverseProxy]
) -> None:
    """A trusted proxy that writes Forwarded (Caddy, HAProxy) rather than X-Forwarded-For."""
    helper, _ = proxied
    cases = {
        'for="[2001:db8::66]:4711";proto=https, for=127.0.0.1': "2001:db8::66",
        "for=198.51.100.66;by=127.0.0.1": "198.51.100.66",
        "for=_hidden": None,  # obfuscated: the client is unknown, never the proxy
    }
    for header, expected in cases.items():
        assert echoed(ask(helper, internet, headers={"Forwarded": header})) == expected, header
