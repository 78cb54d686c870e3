"""DNS over UDP with our own socket: the first matching reply, then every late one.

`dns.asyncquery.udp` returns the first answer only, but an on-path injector answers first and
the genuine resolver answers later, so we keep listening for a while and record what follows.
Replies whose id or question do not match ours are ignored and counted: if only such replies
arrive, the failure is `dns_reply_with_wrong_query_id` instead of a timeout. A reply that cannot
be parsed but carries our id counts as the (malformed) answer: `dns_server_misbehaving`.
Malformed late replies are skipped (there is nothing to record but their existence).

A datagram's time is its arrival in the kernel (`SO_TIMESTAMPNS`, Linux; else when it is read),
and the late-reply window runs from the first reply's arrival: CPU work of the rest of the
check (TLS contexts, handshakes, controls) between the query and the read of its reply then
overlaps the window instead of delaying it (issue 19). A reply that arrived within the window
counts even if the event loop reads it after the window's end.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.message

from probe.measure._clock import Clock
from probe.measure.failures import SOCKET_ERRORS, failure_string
from probe.models.addresses import is_ipv6
from probe.models.failures import Failure

_MAX_DATAGRAM = 65535
_MAX_QUEUED = 256  # datagrams waiting to be parsed; a flood past this is dropped
_MAX_LATE = 16  # late replies recorded per query
# Python 3.11 lacks socket.IP_RECVTTL; 12 is Linux's value.
_IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12 if sys.platform == "linux" else None)
_IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", None)
# Kernel receive timestamps (struct timespec, CLOCK_REALTIME); Python names no constant.
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else None)
_TIMESPEC = struct.Struct("@qq")
_CMSG_SPACE = socket.CMSG_SPACE(4) + socket.CMSG_SPACE(_TIMESPEC.size)


@dataclass(frozen=True)
class _Datagram:
    data: bytes
    ip_ttl: int | None
    t: float


@dataclass(frozen=True)
class LateReply:
    """A further reply to the same query, with its arrival time and IP TTL."""

    message: dns.message.Message
    t: float
    ip_ttl: int | None


@dataclass
class UdpExchange:
    """What came back: the first reply (or a failure), later replies and how many mismatched."""

    reply: dns.message.Message | None = None
    failure: str | None = None
    late: list[LateReply] = field(default_factory=list)
    mismatched: int = 0
    t: float | None = None  # when the first reply (or malformed answer) arrived


def parse_reply(data: bytes) -> dns.message.Message | None:
    """Return the parsed message, or None when the bytes are not a DNS message."""
    try:
        return dns.message.from_wire(data, ignore_trailing=True)
    except Exception:  # hostile bytes: dnspython may raise more than DNSException; never crash
        return None


class _Receiver:
    """Reads every datagram as it arrives (with its IP TTL) into a bounded queue."""

    def __init__(self, sock: socket.socket, clock: Clock) -> None:
        self.sock = sock
        self.clock = clock
        self.queue: asyncio.Queue[_Datagram | OSError] = asyncio.Queue(maxsize=_MAX_QUEUED)

    def _put(self, item: _Datagram | OSError) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(item)

    def on_readable(self) -> None:
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(_MAX_DATAGRAM, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ECONNREFUSED from an ICMP port unreachable
                self._put(exc)
                return
            self._put(_Datagram(data, _ttl(ancillary), self._arrival(ancillary)))

    def _arrival(self, ancillary: list[tuple[int, int, bytes]]) -> float:
        """Return when the datagram reached the kernel, on the clock (now if unknown)."""
        now = self.clock.now()
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
                seconds, nanoseconds = _TIMESPEC.unpack(data[: _TIMESPEC.size])
                waited = time.time() - (int(seconds) + int(nanoseconds) / 1e9)
                return round(max(0.0, now - max(0.0, waited)), 6)
        return now


def _ttl(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancillary:
        is_v4 = level == socket.IPPROTO_IP and kind == socket.IP_TTL
        is_v6 = level == socket.IPPROTO_IPV6 and kind == getattr(socket, "IPV6_HOPLIMIT", -1)
        if (is_v4 or is_v6) and len(data) >= 4:
            return int(struct.unpack("i", data[:4])[0])
    return None


def _ask_for_ttl(sock: socket.socket, family: int) -> None:
    """Ask the kernel for each datagram's IP TTL and arrival time (best effort: evidence, not
    a requirement)."""
    if _SO_TIMESTAMPNS is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
    with contextlib.suppress(OSError):
        if family == socket.AF_INET and _IP_RECVTTL is not None:
            sock.setsockopt(socket.IPPROTO_IP, _IP_RECVTTL, 1)
        elif family == socket.AF_INET6 and _IPV6_RECVHOPLIMIT is not None:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVHOPLIMIT, 1)


_MALFORMED = object()


def _match(query: dns.message.Message, data: bytes) -> dns.message.Message | object | None:
    """Return the reply if it answers `query`, _MALFORMED if unparseable with our id, else None."""
    message = parse_reply(data)
    if message is None:
        return _MALFORMED if data[:2] == query.id.to_bytes(2, "big") else None
    return message if query.is_response(message) else None


async def _first(receiver: _Receiver, query: dns.message.Message, result: UdpExchange) -> float:
    """Wait for the first reply (or a failure); return its arrival time (clock seconds)."""
    while True:
        item = await receiver.queue.get()
        if isinstance(item, OSError):
            result.failure = failure_string(item)
            return receiver.clock.now()
        matched = _match(query, item.data)
        if isinstance(matched, dns.message.Message):
            result.reply = matched
            return item.t
        if matched is _MALFORMED:
            result.failure = Failure.DNS_SERVER_MISBEHAVING
            return item.t
        result.mismatched += 1


def _record_late(item: _Datagram, query: dns.message.Message, result: UdpExchange) -> None:
    matched = _match(query, item.data)
    if isinstance(matched, dns.message.Message):
        if len(result.late) < _MAX_LATE:
            result.late.append(LateReply(matched, item.t, item.ip_ttl))
    elif matched is None:
        result.mismatched += 1


async def _late(receiver: _Receiver, query: dns.message.Message, result: UdpExchange) -> None:
    while True:
        item = await receiver.queue.get()
        if not isinstance(item, OSError):
            _record_late(item, query, result)


def _late_arrivals(
    receiver: _Receiver, query: dns.message.Message, result: UdpExchange, window_end: float
) -> None:
    """Record the replies that arrived by `window_end` but were not read before it."""
    receiver.on_readable()
    while not receiver.queue.empty():
        item = receiver.queue.get_nowait()
        if not isinstance(item, OSError) and item.t <= window_end:
            _record_late(item, query, result)


async def _converse(
    sock: socket.socket,
    query: dns.message.Message,
    receiver: _Receiver,
    result: UdpExchange,
    timeout_s: float,
    late_reply_window_s: float,
    on_first: Callable[[UdpExchange], None] | None,
) -> None:
    await asyncio.get_running_loop().sock_sendall(sock, query.to_wire())
    try:
        async with asyncio.timeout(timeout_s):
            arrived = await _first(receiver, query, result)
    except TimeoutError:
        result.failure = (
            Failure.DNS_REPLY_WITH_WRONG_QUERY_ID
            if result.mismatched
            else Failure.GENERIC_TIMEOUT_ERROR
        )
        return
    if result.reply is None and result.failure != Failure.DNS_SERVER_MISBEHAVING:
        return  # a socket error: nothing more will come
    result.t = arrived
    if on_first is not None:
        on_first(result)  # the caller may go on while we listen for late replies
    window_end = arrived + late_reply_window_s  # from the first reply's arrival
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, window_end - receiver.clock.now())):
            await _late(receiver, query, result)
    _late_arrivals(receiver, query, result, window_end)


async def exchange(
    query: dns.message.Message,
    host: str,
    port: int,
    *,
    timeout_s: float,
    late_reply_window_s: float,
    clock: Clock,
    on_first: Callable[[UdpExchange], None] | None = None,
) -> UdpExchange:
    """Return what came back for `query` sent to host:port over UDP (never raises OSError).

    `on_first` is called with the exchange as soon as the first reply is in, before the
    late-reply window, so a caller can use the answer without waiting for the window.
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if is_ipv6(host) else socket.AF_INET
    result = UdpExchange()
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        _ask_for_ttl(sock, family)
        # A connected socket: the kernel drops datagrams from other sources (an injector
        # spoofs the resolver's address, so its replies still arrive).
        sock.connect((host, port))
        receiver = _Receiver(sock, clock)
        loop.add_reader(sock.fileno(), receiver.on_readable)
        try:
            await _converse(sock, query, receiver, result, timeout_s, late_reply_window_s, on_first)
        finally:
            loop.remove_reader(sock.fileno())
    except SOCKET_ERRORS as exc:
        result.failure = failure_string(exc)
    finally:
        sock.close()
    return result
