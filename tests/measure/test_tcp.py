"""measure.tcp: connects recorded as OONI tcp_connect entries, against real loopback listeners."""

from __future__ import annotations

import asyncio
import socket

import pytest
from servers import Blackhole, HttpServer

from probe.measure._clock import Clock
from probe.measure.tcp import connect, endpoint_text
from probe.models.observations import TcpObservation


def _connect(ip: str, port: int, timeout_s: float = 2.0) -> TcpObservation:
    return asyncio.run(connect(ip, port, timeout_s=timeout_s, clock=Clock(), tags=["attempt=1"]))


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_connect_success(http_server: HttpServer) -> None:
    got = _connect("127.0.0.1", http_server.port)
    assert (got.ip, got.port) == ("127.0.0.1", http_server.port)
    assert (got.status.success, got.status.failure) == (True, None)
    assert got.tags == ["attempt=1"] and 0 <= got.t0 <= got.t


def test_connect_refused(closed_port: int) -> None:
    got = _connect("127.0.0.1", closed_port)
    assert (got.status.success, got.status.failure) == (False, "connection_refused")


def test_connect_timeout_is_bounded(blackhole: Blackhole) -> None:
    got = _connect("127.0.0.1", blackhole.port, timeout_s=0.3)
    assert (got.status.success, got.status.failure) == (False, "generic_timeout_error")
    assert 0.3 <= got.t - got.t0 < 1.3, got.t - got.t0


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this host has no IPv6 loopback (::1)")
@pytest.mark.parametrize("ip", ["::1", "[::1]"])
def test_connect_ipv6(ip: str) -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as listener:
        listener.bind(("::1", 0))
        listener.listen(1)
        got = _connect(ip, listener.getsockname()[1])
    assert (got.ip, got.status.success) == ("::1", True)


def test_connect_needs_an_ip() -> None:
    with pytest.raises(ValueError, match="IP address"):
        _connect("localhost", 80)


@pytest.mark.parametrize(
    ("ip", "port", "expected"),
    [
        ("192.0.2.1", 443, "192.0.2.1:443"),
        ("2001:db8::1", 80, "[2001:db8::1]:80"),
        ("[::1]", 53, "[::1]:53"),
    ],
)
def test_endpoint_text(ip: str, port: int, expected: str) -> None:
    assert endpoint_text(ip, port) == expected
