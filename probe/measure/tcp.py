"""TCP connects to one address, recorded as OONI's `tcp_connect` entries (df-005)."""

from __future__ import annotations

import asyncio
import socket

from probe.measure._clock import Clock
from probe.measure.failures import SOCKET_ERRORS, failure_string
from probe.models.addresses import is_ip_address, is_ipv6
from probe.models.observations import TcpObservation, TcpStatus


def endpoint_text(ip: str, port: int) -> str:
    """Return "ip:port", with brackets around an IPv6 address ("[::1]:443")."""
    bare = ip.strip("[]")
    return f"[{bare}]:{port}" if is_ipv6(bare) else f"{bare}:{port}"


async def dial(ip: str, port: int) -> socket.socket:
    """Return a connected non-blocking socket to ip:port; the caller closes it.

    Raises OSError (or TimeoutError when cancelled by the caller's deadline). `ip` must be an IP
    literal: a name here would be resolved by the OS behind the measurement's back.
    """
    bare = ip.strip("[]")
    if not is_ip_address(bare):
        raise ValueError(f"dial() needs an IP address, not {ip!r}")
    family = socket.AF_INET6 if is_ipv6(bare) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (bare, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def open_socket(
    ip: str, port: int, *, timeout_s: float, clock: Clock, tags: list[str]
) -> tuple[TcpObservation, socket.socket | None]:
    """Return the connect's observation and the connected socket (None when it failed)."""
    t0 = clock.now()
    sock: socket.socket | None = None
    failure: str | None = None
    try:
        async with asyncio.timeout(timeout_s):
            sock = await dial(ip, port)
    except SOCKET_ERRORS as exc:
        failure = failure_string(exc)
    observation = TcpObservation(
        ip=ip.strip("[]"),
        port=port,
        status=TcpStatus(success=failure is None, failure=failure),
        t0=t0,
        t=clock.now(),
        tags=list(tags),
    )
    return observation, sock


async def connect(
    ip: str, port: int, *, timeout_s: float, clock: Clock, tags: list[str]
) -> TcpObservation:
    """Return the observation of one TCP connect to ip:port (the socket is closed afterwards)."""
    observation, sock = await open_socket(ip, port, timeout_s=timeout_s, clock=clock, tags=tags)
    if sock is not None:
        sock.close()
    return observation
