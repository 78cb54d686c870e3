"""TTL-limited triggers toward one address (CenTrace-style), and what every packet probe sends.

A trace sends the trigger with IP TTL 1, 2, 3… and records per TTL which router said ICMP
time-exceeded and what came back from the target's address (a RST, data, a FIN, a SYN-ACK or a
DNS reply). Every TTL is a new flow: for a ClientHello or an HTTP request, a kernel connection
made at full TTL whose trigger alone is sent with the low TTL (so the handshake itself is not
what the censor sees); for a SYN, a connect whose SYN carries the low TTL; for a DNS query, a
UDP datagram. A reaction and an ICMP at the same TTL are both kept: a device that answers while
the packet also expires further on sits beside the path (on-path), not in it. The trace ends at
the first reaction, after `max_silent_hops` silent TTLs, at `max_ttl`, at the TTL where the
control run toward the same address got its reaction (the first decisive hop: past it there is
nothing left to learn), or when a connection cannot be set up at all.

The kernel retransmits a lost trigger with the same low TTL; that only repeats the ICMP, and
the first of each is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
import struct
from collections.abc import Callable, Iterator
from typing import Any

import dns.exception
import dns.message

from probe.config import PacketSettings
from probe.measure._capture import (
    ICMP,
    ICMP_TIME_EXCEEDED,
    TCP,
    UDP,
    Capture,
    Captured,
    Flow,
    FlowKey,
    dns_reply,
    icmp_error,
    tcp_packet,
)
from probe.measure._clock import Clock
from probe.measure.failures import SOCKET_ERRORS, failure_string
from probe.measure.http import user_agent
from probe.models.packets import (
    DnsReplyPacket,
    Reaction,
    TcpPacket,
    Trace,
    TraceHop,
    TraceSpec,
    TraceStop,
    Trigger,
)

# Once a hop's ICMP (or reaction) is in, how long to wait for the other one: an on-path
# device answers about as fast as the router that drops the packet.
GRACE_S = 0.25
# Linux takes IP_TTL -1 as "the system's default again" (net.ipv4.ip_default_ttl).
DEFAULT_TTL = -1
_ALPN = ["h2", "http/1.1"]
# What setting up a probe may raise besides network errors: ValueError for a name that no
# trigger can carry (the ssl module's IDNA encoding, an unencodable Host).
TRIGGER_ERRORS: tuple[type[BaseException], ...] = (*SOCKET_ERRORS, ValueError)

Classify = Callable[[Captured], tuple[Reaction, TcpPacket | DnsReplyPacket] | None]


def client_hello(name: str) -> bytes:
    """Return a real ClientHello naming `name` (SNI, ALPN h2 and http/1.1) that never completes.

    Raises ValueError (UnicodeError) for a name the ssl module cannot encode.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # never verified: the handshake stops after this message
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(_ALPN)
    outgoing = ssl.MemoryBIO()
    tls = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname=name or None)
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def http_request(name: str) -> bytes:
    """Return an HTTP/1.1 GET of / with `name` as the Host (IDNA-encoded when not ASCII)."""
    host = name if name.isascii() else name.encode("idna").decode("ascii")
    request = (
        f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {user_agent()}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    )
    return request.encode()


def trigger_bytes(trigger: Trigger, name: str) -> bytes:
    """Return what a connection sends after the handshake for `trigger` (b"" for a SYN)."""
    if trigger is Trigger.TLS_CLIENT_HELLO:
        return client_hello(name)
    if trigger is Trigger.HTTP_REQUEST:
        return http_request(name)
    return b""


@contextlib.contextmanager
def probe_socket(kind: socket.SocketKind) -> Iterator[socket.socket]:
    """Yield a non-blocking IPv4 socket bound to a port of its own; close it abortively."""
    sock = socket.socket(socket.AF_INET, kind)
    try:
        sock.setblocking(False)
        # Bound before connecting: the capture must know our port before the SYN leaves.
        sock.bind(("0.0.0.0", 0))
        yield sock
    finally:
        with contextlib.suppress(OSError):
            # The default TTL so our RST reaches the server; linger 0 so no state lingers.
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, DEFAULT_TTL)
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


def local_port(sock: socket.socket) -> int:
    """Return the port a bound socket was given."""
    return int(sock.getsockname()[1])


async def trace(
    spec: TraceSpec,
    settings: PacketSettings,
    clock: Clock,
    connect_timeout_s: float,
    *,
    destination_ttl: int | None = None,
    on_hop: Callable[[int], None] | None = None,
) -> Trace:
    """Return the trace of `spec`: one hop per TTL until a reaction, silence or max_ttl, or,
    given the TTL at which a control run toward the same address got its reaction
    (`destination_ttl`), until that TTL passed without one (nothing further can answer).

    The probes leave `probe_interval_s` apart (a rate limit; at least GRACE_S after a hop still
    in flight), the next one while a silent hop is still waited for: a silent hop costs the
    interval, not `hop_timeout_s` on top of it. A
    reaction arrives long before the next probe would leave, so a trace that meets one stops
    there as before. `on_hop` hears each TTL as its probe leaves.
    """
    t0 = clock.now()
    hops: list[TraceHop] = []
    stopped, failure = TraceStop.MAX_TTL, None
    running: list[asyncio.Task[TraceHop]] = []
    try:
        payload = trigger_bytes(spec.trigger, spec.name)
        transport = UDP if spec.trigger is Trigger.DNS_QUERY else TCP
        with Capture(clock, (transport, ICMP)) as capture:
            heard: dict[asyncio.Task[TraceHop], asyncio.Event] = {}

            def send(ttl: int) -> None:
                if on_hop is not None:
                    on_hop(ttl)
                event = asyncio.Event()
                hop = _hop(capture, spec, ttl, payload, settings, connect_timeout_s, event)
                task = asyncio.create_task(hop)
                heard[task] = event
                running.append(task)

            stopped = await _pace(send, running, heard, hops, settings, destination_ttl)
    except TRIGGER_ERRORS as exc:
        stopped, failure = TraceStop.FAILURE, failure_string(exc)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    return Trace(
        trigger=spec.trigger,
        address=spec.address,
        port=spec.port,
        name=spec.name,
        control=spec.control,
        hops=hops,
        stopped=stopped,
        failure=failure,
        t0=t0,
        t=clock.now(),
    )


async def _pace(
    send: Callable[[int], None],
    running: list[asyncio.Task[TraceHop]],
    heard: dict[asyncio.Task[TraceHop], asyncio.Event],
    hops: list[TraceHop],
    settings: PacketSettings,
    destination_ttl: int | None,
) -> TraceStop:
    """Send the TTLs `probe_interval_s` apart, the next one only while the hops in flight have
    heard nothing (and no more of them than `max_silent_hops`), append the hops in TTL order,
    and return why the trace ended. Raises what a hop raised (its flow could not be set up)."""
    loop = asyncio.get_running_loop()
    next_ttl, sent_at, silent = 1, float("-inf"), 0
    while True:
        while running and running[0].done():
            hop = running.pop(0).result()
            hops.append(hop)
            if hop.reaction is not Reaction.NONE:
                return TraceStop.REACTION
            if destination_ttl is not None and hop.ttl >= destination_ttl:
                return TraceStop.DESTINATION
            silent = 0 if hop.icmp is not None else silent + 1
            if silent >= settings.max_silent_hops:
                return TraceStop.SILENCE
        if next_ttl > settings.max_ttl and not running:
            return TraceStop.MAX_TTL
        # A hop in flight goes on being waited for: the next TTL leaves beside it only once it
        # has heard nothing for GRACE_S (answers come in milliseconds; it is likely silent).
        due = sent_at + max(settings.probe_interval_s, GRACE_S if running else 0.0)
        # A hop in flight that heard something is about to end, maybe with the reaction that
        # ends the trace: no probe leaves past it until it has.
        quiet = not any(heard[t].is_set() for t in running)
        last_ttl = min(settings.max_ttl, destination_ttl or settings.max_ttl)  # none past it
        may_send = next_ttl <= last_ttl and quiet and len(running) < settings.max_silent_hops
        if may_send and loop.time() >= due:
            send(next_ttl)
            next_ttl, sent_at = next_ttl + 1, loop.time()
            continue
        waits: list[asyncio.Future[Any]] = list(running[:1])
        waits += [asyncio.ensure_future(heard[t].wait()) for t in running if quiet]
        timeout = max(0.0, due - loop.time()) if may_send else None
        try:
            if waits:
                await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            elif timeout is not None:
                await asyncio.sleep(timeout)
        finally:
            for waiter in waits[1:]:
                waiter.cancel()


async def _hop(
    capture: Capture,
    spec: TraceSpec,
    ttl: int,
    payload: bytes,
    settings: PacketSettings,
    connect_timeout_s: float,
    heard: asyncio.Event,
) -> TraceHop:
    """Return one TTL's hop (`heard` is set once anything answered it); raises OSError when
    the flow cannot be set up."""
    if spec.trigger is Trigger.DNS_QUERY:
        return await _dns_hop(capture, spec, ttl, settings.hop_timeout_s, heard)
    if spec.trigger is Trigger.SYN:
        return await _syn_hop(capture, spec, ttl, settings.hop_timeout_s, heard)
    loop = asyncio.get_running_loop()
    with probe_socket(socket.SOCK_STREAM) as sock:
        key = FlowKey(TCP, local_port(sock), spec.address, spec.port)
        with capture.watching(key) as flow:
            async with asyncio.timeout(connect_timeout_s):
                await loop.sock_connect(sock, (spec.address, spec.port))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            await loop.sock_sendall(sock, payload)
            return await _watch(flow, ttl, settings.hop_timeout_s, _stream_reaction, heard)


async def _syn_hop(
    capture: Capture, spec: TraceSpec, ttl: int, timeout_s: float, heard: asyncio.Event
) -> TraceHop:
    with probe_socket(socket.SOCK_STREAM) as sock:
        key = FlowKey(TCP, local_port(sock), spec.address, spec.port)
        with capture.watching(key) as flow:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            # The capture, not the socket, says what came back: a refusal is a RESET reaction.
            code = sock.connect_ex((spec.address, spec.port))
            if code not in (0, errno.EINPROGRESS, errno.ECONNREFUSED):
                raise OSError(code, errno.errorcode.get(code, str(code)))
            return await _watch(flow, ttl, timeout_s, _syn_reaction, heard)


async def _dns_hop(
    capture: Capture, spec: TraceSpec, ttl: int, timeout_s: float, heard: asyncio.Event
) -> TraceHop:
    try:
        query = dns.message.make_query(spec.name, "A")
    except dns.exception.DNSException as exc:
        raise ValueError(f"no DNS query can carry {spec.name!r}") from exc
    with probe_socket(socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        # Any source: an injector answers with the resolver's address, or its own.
        key = FlowKey(UDP, local_port(sock), None, None)
        with capture.watching(key) as flow:
            await asyncio.get_running_loop().sock_sendto(
                sock, query.to_wire(), (spec.address, spec.port)
            )

            def reaction(item: Captured) -> tuple[Reaction, DnsReplyPacket] | None:
                reply = dns_reply(item, query.id)
                return None if reply is None else (Reaction.DNS_REPLY, reply)

            return await _watch(flow, ttl, timeout_s, reaction, heard)


def _stream_reaction(item: Captured) -> tuple[Reaction, TcpPacket] | None:
    """Return what a segment after the trigger means; None for a bare ACK or a stray SYN."""
    packet = tcp_packet(item)
    if packet is None or "S" in packet.flags:
        return None
    if "R" in packet.flags:
        return Reaction.RESET, packet
    if packet.payload_bytes:
        return Reaction.DATA, packet
    if "F" in packet.flags:
        return Reaction.FIN, packet
    return None


def _syn_reaction(item: Captured) -> tuple[Reaction, TcpPacket] | None:
    packet = tcp_packet(item)
    if packet is None:
        return None
    if "R" in packet.flags:
        return Reaction.RESET, packet
    if "S" in packet.flags and "A" in packet.flags:
        return Reaction.SYN_ACK, packet
    return None


async def _watch(
    flow: Flow, ttl: int, timeout_s: float, classify: Classify, heard: asyncio.Event
) -> TraceHop:
    """Return the hop: the first ICMP time-exceeded and the first reaction within the wait."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    icmp = None
    found: tuple[Reaction, TcpPacket | DnsReplyPacket] | None = None
    while icmp is None or found is None:
        item = await flow.next(deadline)
        if item is None:
            break
        if item.is_icmp:
            error = icmp_error(item) if icmp is None else None
            if error is None or error[1] != ICMP_TIME_EXCEEDED:
                continue
            icmp = error[0]
        elif found is None:
            found = classify(item)
            if found is None:
                continue
        else:
            continue
        heard.set()
        deadline = min(deadline, loop.time() + GRACE_S)  # wait briefly for the other one
    reaction, packet = found if found is not None else (Reaction.NONE, None)
    return TraceHop(
        ttl=ttl,
        icmp_from=icmp.src if icmp is not None else None,
        icmp=icmp,
        reaction=reaction,
        reaction_packet=packet,
    )
