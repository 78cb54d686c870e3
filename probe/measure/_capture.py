"""Raw-socket capture of the packets that answer one probe (IPv4, Linux), and their dissection.

Design: one raw socket per IP protocol a probe needs (`SOCK_RAW` with IPPROTO_TCP, _UDP or
_ICMP). On Linux such a socket receives a copy of every packet of that protocol delivered to
this host, IP header included, before the protocol itself handles it: so the capture sees the
IP TTL, IP-ID and DF bit of each answer, needs no libpcap, BPF or interface choice, and works
inside a network namespace. It sees a packet before the probe's own socket learns of it, so
after the socket saw an outcome (a reset, an EOF) `Capture.drain()` reads what is pending and
the packet that caused it is never missed.

Every packet is read in the event loop's reader callback and pre-filtered with `struct` on the
raw bytes: a TCP/UDP packet goes to the `Flow` whose local port it is addressed to (and whose
remote address and port sent it); an ICMP time-exceeded or unreachable goes to the flow its
quoted IP header and first 8 transport bytes name (NAT on the path translates the quote back
through conntrack, so the quote carries our own ports). Nothing else is kept. Only packets of a
flow are dissected, by scapy (imported inside the functions, never when this module is
imported), and a packet scapy or dnspython cannot make sense of is skipped, never raised.

Bounds: a flow queues at most `_FLOW_QUEUE` packets (more are dropped), one wake of the reader
reads at most `_MAX_READS_PER_WAKE`, and the capture lives only inside its `with` block.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import dns.flags
import dns.message
import dns.rcode

from probe.measure._clock import Clock
from probe.measure._dns_udp import parse_reply
from probe.measure.dns import _answers
from probe.models.packets import DnsReplyPacket, PacketHeader, TcpPacket

# A packet as read (bytes) or as seen in place in the capture's buffer (memoryview).
Buffer = bytes | memoryview

TCP = socket.IPPROTO_TCP
UDP = socket.IPPROTO_UDP
ICMP = socket.IPPROTO_ICMP
ICMP_UNREACHABLE = 3
ICMP_TIME_EXCEEDED = 11
ICMP_PORT_UNREACHABLE = 3  # the code of a type-3 message from a host with no such port
MALFORMED = "malformed"

_MAX_PACKET = 65536  # an IPv4 datagram's largest size (loopback and GRO reach it)
_MAX_READS_PER_WAKE = 512  # so a flood of other traffic cannot starve the event loop
_FLOW_QUEUE = 64
_RECEIVE_BUFFER_BYTES = 1 << 20  # room for bursts between two wakes of the loop
_ICMP_ERRORS = frozenset({ICMP_UNREACHABLE, ICMP_TIME_EXCEEDED})


@dataclass(frozen=True)
class FlowKey:
    """Which packets a probe wants: to `local_port`, from `remote_address`:`remote_port`.

    None matches any address or port: a DNS injector spoofs the resolver's address, and a reply
    to a silent host comes from whoever forged it.
    """

    protocol: int  # TCP or UDP
    local_port: int
    remote_address: str | None
    remote_port: int | None


@dataclass(frozen=True)
class Captured:
    """One packet of a flow as read: the whole IPv4 datagram and when it was read."""

    t: float
    data: bytes
    is_icmp: bool  # an ICMP error quoting the flow, else a segment or datagram of the flow


class Flow:
    """The queue of one registered flow's packets (bounded: a flood is dropped, not queued)."""

    def __init__(self, key: FlowKey) -> None:
        self.key = key
        self.queue: asyncio.Queue[Captured] = asyncio.Queue(maxsize=_FLOW_QUEUE)
        self._remote = None if key.remote_address is None else socket.inet_aton(key.remote_address)

    def matches(self, protocol: int, remote: Buffer, remote_port: int, local_port: int) -> bool:
        """Return whether a packet with these addresses belongs to this flow."""
        key = self.key
        return (
            protocol == key.protocol
            and local_port == key.local_port
            and (self._remote is None or remote == self._remote)
            and (key.remote_port is None or remote_port == key.remote_port)
        )

    async def next(self, deadline: float) -> Captured | None:
        """Return the next packet, or None once the loop time `deadline` has passed."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        try:
            async with asyncio.timeout_at(deadline):
                return await self.queue.get()
        except TimeoutError:
            return None


def route(data: Buffer) -> tuple[int, Buffer, int, int, bool] | None:
    """Return (protocol, remote address, remote port, local port, is ICMP) of a packet.

    For an ICMP error, the fields are those of the quoted packet that we sent (its destination
    is the remote end). None for anything that cannot belong to a flow. Pure `struct`, no scapy.
    """
    if len(data) < 28 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    if ihl < 20:
        return None
    protocol = data[9]
    if protocol in (TCP, UDP) and len(data) >= ihl + 4:
        source_port, destination_port = struct.unpack_from("!HH", data, ihl)
        return protocol, data[12:16], source_port, destination_port, False
    if protocol != ICMP or len(data) < ihl + 8 or data[ihl] not in _ICMP_ERRORS:
        return None
    inner = ihl + 8
    if len(data) < inner + 20 or data[inner] >> 4 != 4:
        return None
    inner_ihl = (data[inner] & 0x0F) * 4
    if len(data) < inner + inner_ihl + 4:
        return None
    source_port, destination_port = struct.unpack_from("!HH", data, inner + inner_ihl)
    return data[inner + 9], data[inner + 16 : inner + 20], destination_port, source_port, True


class Capture:
    """Raw sockets for some IP protocols, read while the `with` block runs, feeding flows."""

    def __init__(self, clock: Clock, protocols: Iterable[int]) -> None:
        self._clock = clock
        self._protocols = tuple(protocols)
        self._sockets: list[socket.socket] = []
        self._flows: list[Flow] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buffer = bytearray(_MAX_PACKET)

    def __enter__(self) -> Capture:
        self._loop = asyncio.get_running_loop()
        try:
            for protocol in self._protocols:
                sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, protocol)
                self._sockets.append(sock)
                sock.setblocking(False)
                with contextlib.suppress(OSError):  # a smaller buffer only risks drops
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER_BYTES)
                self._loop.add_reader(sock.fileno(), self._read, sock)
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def _close(self) -> None:
        for sock in self._sockets:
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()
        self._flows.clear()

    @contextlib.contextmanager
    def watching(self, key: FlowKey) -> Iterator[Flow]:
        """Yield the flow of `key`, receiving its packets until the block ends."""
        flow = Flow(key)
        self._flows.append(flow)
        try:
            yield flow
        finally:
            with contextlib.suppress(ValueError):
                self._flows.remove(flow)

    def drain(self) -> None:
        """Read every packet already received, now (the probe's socket just saw an outcome)."""
        for sock in self._sockets:
            self._read(sock)

    def _read(self, sock: socket.socket) -> None:
        view = memoryview(self._buffer)
        for _ in range(_MAX_READS_PER_WAKE):
            try:
                size = sock.recv_into(self._buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. ENOBUFS after an overrun: the next wake reads on
            # Routed in place: only a packet of a flow is copied out of the buffer.
            found = route(view[:size]) if self._flows else None
            if found is None:
                continue
            protocol, remote, remote_port, local_port, is_icmp = found
            for flow in self._flows:
                if flow.matches(protocol, remote, remote_port, local_port):
                    packet = Captured(self._clock.now(), bytes(view[:size]), is_icmp)
                    with contextlib.suppress(asyncio.QueueFull):
                        flow.queue.put_nowait(packet)
                    break


# Dissection: scapy is imported inside each function (importing it costs ~0.15 s and ~24 MB).


def _ip(data: bytes) -> Any:
    from scapy.layers.inet import IP

    return IP(data)


def _transport_payload(data: bytes, ip: Any, header_bytes: int) -> bytes:
    """Return the payload after an IP header and `header_bytes` of transport header."""
    total = int(ip.len) if 0 < int(ip.len) <= len(data) else len(data)
    return data[int(ip.ihl) * 4 + header_bytes : total]


def _header_fields(item: Captured, ip: Any) -> dict[str, Any]:
    return {
        "t": item.t,
        "src": str(ip.src),
        "ip_ttl": int(ip.ttl),
        "ip_id": int(ip.id),
        "ip_df": bool(ip.flags.DF),
    }


def packet_header(item: Captured) -> PacketHeader | None:
    """Return the IP header fields of a captured packet (None if it cannot be dissected)."""
    try:
        return PacketHeader(**_header_fields(item, _ip(item.data)))
    except Exception:  # a hostile packet must not end the probe
        return None


def icmp_error(item: Captured) -> tuple[PacketHeader, int, int] | None:
    """Return (header, ICMP type, code) of a captured ICMP error, or None."""
    from scapy.layers.inet import ICMP as IcmpLayer

    try:
        ip = _ip(item.data)
        icmp = ip.getlayer(IcmpLayer)
        if icmp is None:
            return None
        return PacketHeader(**_header_fields(item, ip)), int(icmp.type), int(icmp.code)
    except Exception:
        return None


def tcp_packet(item: Captured) -> TcpPacket | None:
    """Return a captured TCP segment as a TcpPacket, or None if it cannot be dissected."""
    from scapy.layers.inet import TCP as TcpLayer

    try:
        ip = _ip(item.data)
        tcp = ip.getlayer(TcpLayer)
        if tcp is None:
            return None
        payload = _transport_payload(item.data, ip, int(tcp.dataofs) * 4)
        return TcpPacket(
            **_header_fields(item, ip),
            flags=str(tcp.flags),
            seq=int(tcp.seq),
            ack=int(tcp.ack),
            window=int(tcp.window),
            payload_bytes=len(payload),
            payload_sha256=hashlib.sha256(payload).hexdigest() if payload else None,
        )
    except Exception:
        return None


def dns_reply(item: Captured, query_id: int) -> DnsReplyPacket | None:
    """Return a captured UDP datagram as a DNS reply to `query_id`.

    None when it answers another query id (or cannot be dissected at all); rcode "malformed"
    when its payload is not a DNS message but could be ours (it carries our id or is too short
    to carry one).
    """
    from scapy.layers.inet import UDP as UdpLayer

    try:
        ip = _ip(item.data)
        if ip.getlayer(UdpLayer) is None:
            return None
        header = _header_fields(item, ip)
        payload = _transport_payload(item.data, ip, 8)
    except Exception:
        return None
    if len(payload) >= 2 and int.from_bytes(payload[:2], "big") != query_id:
        return None
    message = parse_reply(payload)
    if message is not None:
        with contextlib.suppress(Exception):  # odd rcodes or records: record it as malformed
            return DnsReplyPacket(
                **header,
                rcode=dns.rcode.to_text(message.rcode()),
                dns_flags=dns.flags.to_text(message.flags),
                answers=_answers(message),
            )
    return DnsReplyPacket(**header, rcode=MALFORMED)
