"""Packet evidence: every packet that answered a probe, with the IP header of its sender.

`measure_packets(plan, …)` runs a `PacketPlan`: the DNS probes one at a time, then the TCP
probes beside the traces (one trace at a time). Each probe opens raw sockets for the protocols
it needs (`_capture`), registers its flow (our local port, the remote end), sends through an
ordinary kernel socket, and records what the capture saw: every DNS reply to one query (an
injector answers first, the resolver later), the SYN-ACK and every later segment of one
connection (an injected RST carries another IP TTL and IP-ID than the SYN-ACK), and the
TTL-limited traces (`_trace`).

Raw sockets need root or CAP_NET_RAW: without them, or without scapy, the evidence is
`skipped` with the reason. Scapy is imported only when a packet is dissected, never when this
module is imported. Network failures are data (`failure` strings), never exceptions.

DNS probe failures: a RESOLVER that sent nothing is `generic_timeout_error`; a SILENT_HOST that
sent nothing keeps `failure` None (silence is what a host with no DNS server should send). For
either role an ICMP unreachable quoting the query becomes `connection_refused` (port
unreachable: nothing listens there) or `host_unreachable`/`network_unreachable`, even when
(forged) replies arrived as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

import dns.exception
import dns.message

from probe.config import PacketSettings
from probe.measure import _dns_udp
from probe.measure._capture import (
    ICMP,
    ICMP_PORT_UNREACHABLE,
    ICMP_UNREACHABLE,
    TCP,
    UDP,
    Capture,
    Flow,
    FlowKey,
    dns_reply,
    icmp_error,
    tcp_packet,
)
from probe.measure._clock import Clock
from probe.measure._trace import (
    GRACE_S,
    TRIGGER_ERRORS,
    local_port,
    probe_socket,
    trace,
    trigger_bytes,
)
from probe.measure.failures import SOCKET_ERRORS, failure_string
from probe.models.failures import Failure
from probe.models.packets import (
    DnsPacketProbe,
    DnsProbeRole,
    DnsProbeSpec,
    DnsReplyPacket,
    PacketEvidence,
    PacketPlan,
    Reaction,
    TcpPacket,
    TcpPacketProbe,
    TcpProbeSpec,
    Trace,
    TraceSpec,
    Trigger,
)

NO_RAW_SOCKETS = (
    "packet tests need raw sockets: run as root or grant CAP_NET_RAW (the systemd unit does)"
)
NO_SCAPY = "packet tests need scapy (pip install scapy)"
TURNED_OFF = "packet tests are turned off (packets.enabled = false)"

_CONTROL_QUERIES = 2  # the fastest of these is the resolver's RTT
_MAX_REPLIES = 32
_MAX_SEGMENTS = 32
_MAX_DRAIN_BYTES = 1 << 20  # read from a probe's socket to learn how it ended
_ICMP_NETWORK_UNREACHABLE = 0


def privilege_problem() -> str | None:
    """Return None when raw sockets open and scapy imports; else a one-line reason."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP).close()
    except PermissionError:
        return NO_RAW_SOCKETS
    except OSError as exc:
        return f"packet tests cannot open a raw socket: {exc}"
    try:
        import scapy.layers.inet  # noqa: F401  (the one scapy module the capture uses)
    except ImportError:
        return NO_SCAPY
    except Exception as exc:  # scapy can fail at import on an odd system (routes, config)
        return f"packet tests need a working scapy: {type(exc).__name__}: {exc}"
    return None


ControlTraces = dict[tuple[str, int, Trigger, str], Trace]
Status = Callable[[str], None]


async def measure_packets(
    plan: PacketPlan,
    settings: PacketSettings,
    clock: Clock,
    connect_timeout_s: float,
    *,
    control_traces: ControlTraces | None = None,
    on_status: Status | None = None,
) -> PacketEvidence:
    """Return the packet evidence of `plan` (never raises for I/O).

    A control trace already in `control_traces` (the run's, keyed by address, port, trigger and
    name) is not run again; a trace after its control stops at the control's destination TTL.
    `on_status` hears what is being waited for.
    """
    reason = TURNED_OFF if not settings.enabled else privilege_problem()
    if reason is not None:
        return PacketEvidence(skipped=reason)
    status = on_status or (lambda _: None)
    t0 = clock.now()
    dns_probes = []
    for dns_spec in plan.dns:
        status(f"capturing DNS replies from {dns_spec.resolver_address}")
        dns_probes.append(await _dns_probe(dns_spec, settings, clock))
    # The TCP probes run beside the traces: a probe of a dropped SYN waits out the connect
    # timeout, which the trace's hops need not wait for (issue 19).
    tcp_task = asyncio.ensure_future(
        asyncio.gather(*(_tcp_probe(t, settings, clock, connect_timeout_s) for t in plan.tcp))
    )
    try:
        traces = await _traces(
            plan.traces, settings, clock, connect_timeout_s, control_traces, status
        )
        tcp_probes = list(await tcp_task)
    finally:
        tcp_task.cancel()
    return PacketEvidence(
        dns=dns_probes,
        tcp=tcp_probes,
        traces=traces,
        elapsed_s=round(clock.now() - t0, 6),
    )


async def _traces(
    specs: tuple[TraceSpec, ...],
    settings: PacketSettings,
    clock: Clock,
    connect_timeout_s: float,
    controls: ControlTraces | None,
    status: Status,
) -> list[Trace]:
    """Return the traces of `specs` in order, each control once per run (`controls`)."""
    controls = {} if controls is None else controls
    traces: list[Trace] = []
    for spec in specs:
        key = (spec.address, spec.port, spec.trigger, spec.name)
        if spec.control and key in controls:
            traces.append(controls[key])
            continue
        control = controls.get((*key[:3], settings.control_name)) if not spec.control else None
        hops = control.hops if control is not None else []
        reacted = next((h.ttl for h in hops if h.reaction is not Reaction.NONE), None)
        what = "the control path" if spec.control else "the path"

        def hop(ttl: int, what: str = what, address: str = spec.address) -> None:
            status(f"tracing {what} to {address}: hop {ttl}")

        done = await trace(
            spec, settings, clock, connect_timeout_s,
            destination_ttl=reacted, on_hop=hop,
        )  # fmt: skip
        if spec.control:
            controls[key] = done
        traces.append(done)
    return traces


async def _control_rtt(spec: DnsProbeSpec, name: str, timeout_s: float) -> float | None:
    """Return the fastest of a few answers to the innocuous `name`, or None if none came."""
    rtts = [await _rtt(spec, name, timeout_s) for _ in range(_CONTROL_QUERIES)]
    answered = [rtt for rtt in rtts if rtt is not None]
    return min(answered) if answered else None


async def _rtt(spec: DnsProbeSpec, name: str, timeout_s: float) -> float | None:
    clock = Clock()  # zero just before the query leaves
    answered: list[float] = []
    await _dns_udp.exchange(
        dns.message.make_query(name, "A"),
        spec.resolver_address,
        spec.port,
        timeout_s=timeout_s,
        late_reply_window_s=0.0,
        clock=clock,
        on_first=lambda _: answered.append(clock.now()),
    )
    return answered[0] if answered else None


async def _dns_probe(spec: DnsProbeSpec, settings: PacketSettings, clock: Clock) -> DnsPacketProbe:
    is_resolver = spec.role is DnsProbeRole.RESOLVER
    control_rtt_s = None
    with contextlib.suppress(dns.exception.DNSException):  # a bad control name: no RTT
        if is_resolver:
            control_rtt_s = await _control_rtt(spec, settings.control_name, settings.dns_listen_s)
        else:  # a "silent" host that answers the innocuous name runs a DNS server after all
            control_rtt_s = await _rtt(spec, settings.control_name, min(settings.dns_listen_s, 1))
    sent_t = clock.now()
    replies: list[DnsReplyPacket] = []
    failure: str | None = None
    try:
        query = dns.message.make_query(spec.hostname, "A")
        with Capture(clock, (UDP, ICMP)) as capture, probe_socket(socket.SOCK_DGRAM) as sock:
            key = FlowKey(UDP, local_port(sock), None, None)  # replies from any source
            with capture.watching(key) as flow:
                sent_t = clock.now()
                sock.sendto(query.to_wire(), (spec.resolver_address, spec.port))
                failure = await _listen(flow, query.id, settings.dns_listen_s, replies)
    except SOCKET_ERRORS as exc:
        failure = failure_string(exc)
    if failure is None and not replies and is_resolver:
        failure = Failure.GENERIC_TIMEOUT_ERROR
    return DnsPacketProbe(
        role=spec.role,
        hostname=spec.hostname,
        resolver_address=spec.resolver_address,
        sent_t=sent_t,
        replies=replies,
        listen_s=settings.dns_listen_s,
        control_hostname=settings.control_name,
        control_rtt_s=control_rtt_s,
        failure=failure,
    )


async def _listen(
    flow: Flow, query_id: int, listen_s: float, replies: list[DnsReplyPacket]
) -> str | None:
    """Collect every reply for `listen_s`; return the failure an ICMP unreachable says."""
    deadline = asyncio.get_running_loop().time() + listen_s
    failure: str | None = None
    while (item := await flow.next(deadline)) is not None:
        if item.is_icmp:
            error = icmp_error(item)
            if error is not None and error[1] == ICMP_UNREACHABLE and failure is None:
                failure = _unreachable_failure(error[2])
        elif len(replies) < _MAX_REPLIES and (reply := dns_reply(item, query_id)) is not None:
            replies.append(reply)
    return failure


def _unreachable_failure(code: int) -> str:
    if code == ICMP_PORT_UNREACHABLE:
        return Failure.CONNECTION_REFUSED
    return (
        Failure.NETWORK_UNREACHABLE
        if code == _ICMP_NETWORK_UNREACHABLE
        else Failure.HOST_UNREACHABLE
    )


async def _tcp_probe(
    spec: TcpProbeSpec, settings: PacketSettings, clock: Clock, connect_timeout_s: float
) -> TcpPacketProbe:
    t0 = clock.now()
    segments: list[TcpPacket] = []
    failure: str | None = None
    try:
        payload = trigger_bytes(spec.trigger, spec.name)
        with Capture(clock, (TCP,)) as capture, probe_socket(socket.SOCK_STREAM) as sock:
            key = FlowKey(TCP, local_port(sock), spec.address, spec.port)
            with capture.watching(key) as flow:
                failure = await _converse(
                    capture, flow, sock, spec, payload, settings, connect_timeout_s, segments
                )
    except TRIGGER_ERRORS as exc:
        failure = failure_string(exc)
    syn_ack = next((p for p in segments if "S" in p.flags and "A" in p.flags), None)
    return TcpPacketProbe(
        address=spec.address,
        port=spec.port,
        trigger=spec.trigger,
        name=spec.name,
        syn_ack=syn_ack,
        packets=[p for p in segments if p is not syn_ack],
        failure=failure,
        t0=t0,
        t=clock.now(),
    )


async def _converse(
    capture: Capture,
    flow: Flow,
    sock: socket.socket,
    spec: TcpProbeSpec,
    payload: bytes,
    settings: PacketSettings,
    connect_timeout_s: float,
    segments: list[TcpPacket],
) -> str | None:
    """Connect, send the trigger, capture into `segments`; return what the socket saw."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(connect_timeout_s):
            await loop.sock_connect(sock, (spec.address, spec.port))
        if spec.trigger is not Trigger.SYN:
            await loop.sock_sendall(sock, payload)
    except SOCKET_ERRORS as exc:
        # The RST that refused or reset us was captured before the socket learnt of it; a
        # genuine SYN-ACK racing an injected RST may still follow.
        capture.drain()
        await _follow(flow, GRACE_S, segments)
        return failure_string(exc)
    if spec.trigger is Trigger.SYN:
        capture.drain()  # likewise the SYN-ACK: then stop, the handshake was the trigger
        await _follow(flow, 0.0, segments)
        return None
    await _follow(flow, settings.hop_timeout_s, segments)
    return _outcome(sock, got_data=any(p.payload_bytes for p in segments))


async def _follow(flow: Flow, timeout_s: float, segments: list[TcpPacket]) -> None:
    """Append the flow's segments for `timeout_s`, or until a RST or FIN and a short grace."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while len(segments) < _MAX_SEGMENTS and (item := await flow.next(deadline)) is not None:
        packet = None if item.is_icmp else tcp_packet(item)
        if packet is None:
            continue
        segments.append(packet)
        if "R" in packet.flags or "F" in packet.flags:
            # Injectors often send several RSTs (with different TTLs): catch the followers.
            deadline = min(deadline, loop.time() + GRACE_S)


def _outcome(sock: socket.socket, *, got_data: bool) -> str | None:
    """Return what the probe's socket saw (a reset, an EOF before data, a timeout), or None."""
    received = 0
    try:
        while received < _MAX_DRAIN_BYTES:
            chunk = sock.recv(1 << 16)
            if not chunk:
                return None if received or got_data else Failure.EOF_ERROR
            received += len(chunk)
    except BlockingIOError:  # still open: fine if it answered, else the wait ran out
        return None if received or got_data else Failure.GENERIC_TIMEOUT_ERROR
    except OSError as exc:
        return failure_string(exc)
    return None
