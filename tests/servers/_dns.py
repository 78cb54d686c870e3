"""A programmable DNS server on loopback: UDP, TCP and DoT, built on dnspython's messages.

The zone maps names to `DnsEntry` behaviours: answers, rcodes, delays, silence, malformed
replies, and injection (a forged reply at once, the genuine one later, same id).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from dataclasses import dataclass, field
from typing import Any

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from ._loop import ServerLoop
from ._tcp import StreamServer, format_address


@dataclass(frozen=True)
class DnsEntry:
    """How the server answers queries for one name.

    `inject`: A records of a forged reply sent at once; the genuine reply follows after
    `delay_s` (default 0.2 s when injecting). `wrong_id_first`: a reply with another id first.
    """

    a: tuple[str, ...] = ()
    aaaa: tuple[str, ...] = ()
    cname: str | None = None
    ttl: int = 300
    rcode: str = "NOERROR"
    delay_s: float = 0.0
    no_reply: bool = False
    malformed: bool = False
    inject: tuple[str, ...] = ()
    wrong_id_first: bool = False


INJECTED_ADDRESS = "10.10.34.35"  # what the injector of "injected.test" answers

# The default catalogue: every name a test of measure/, helper/ or plan/ may need.
DEFAULT_ZONE: dict[str, DnsEntry] = {
    "site.test": DnsEntry(a=("127.0.0.1",), aaaa=("::1",)),
    "www.site.test": DnsEntry(cname="site.test", ttl=60),
    "trusted.test": DnsEntry(a=("127.0.0.1",), aaaa=("::1",)),
    "untrusted.test": DnsEntry(a=("127.0.0.1",)),
    "expired.test": DnsEntry(a=("127.0.0.1",)),
    "wrong.test": DnsEntry(a=("127.0.0.1",)),
    "v4only.test": DnsEntry(a=("127.0.0.1",)),
    "alias.test": DnsEntry(cname="www.site.test", ttl=30),
    "nxdomain.test": DnsEntry(rcode="NXDOMAIN"),
    "servfail.test": DnsEntry(rcode="SERVFAIL"),
    "refused.test": DnsEntry(rcode="REFUSED"),
    "noanswer.test": DnsEntry(),
    "timeout.test": DnsEntry(no_reply=True),
    "slow.test": DnsEntry(a=("127.0.0.1",), delay_s=0.3),
    "malformed.test": DnsEntry(malformed=True),
    "injected.test": DnsEntry(a=("127.0.0.1",), inject=(INJECTED_ADDRESS,), delay_s=0.2),
    "wrongid.test": DnsEntry(a=("127.0.0.1",), wrong_id_first=True, delay_s=0.1),
}


def _normal(name: str) -> str:
    return name.lower().rstrip(".")


@dataclass
class Zone:
    """Names → behaviours; unknown names are NXDOMAIN. Safe to change while serving."""

    entries: dict[str, DnsEntry] = field(default_factory=lambda: dict(DEFAULT_ZONE))

    def set(self, name: str, entry: DnsEntry) -> None:
        """Add or replace the behaviour of one name."""
        self.entries[_normal(name)] = entry

    def get(self, name: str) -> DnsEntry | None:
        """Return the behaviour of `name`, or None."""
        return self.entries.get(_normal(name))

    def genuine(self, query: dns.message.Message) -> dns.message.Message:
        """Return the genuine reply to `query`, following CNAMEs within the zone."""
        response = dns.message.make_response(query)
        question = query.question[0]
        name, entry = question.name, self.get(question.name.to_text())
        if entry is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        response.set_rcode(dns.rcode.from_text(entry.rcode))
        for _ in range(8):
            if entry is None or entry.cname is None:
                break
            rrset = dns.rrset.from_text(name, entry.ttl, "IN", "CNAME", entry.cname + ".")
            response.answer.append(rrset)
            name, entry = rrset[0].target, self.get(entry.cname)
        if entry is not None:
            addresses = entry.a if question.rdtype == dns.rdatatype.A else entry.aaaa
            if question.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) and addresses:
                kind = dns.rdatatype.to_text(question.rdtype)
                response.answer.append(dns.rrset.from_text(name, entry.ttl, "IN", kind, *addresses))
        return response

    def replies(self, query: dns.message.Message) -> list[tuple[float, bytes]]:
        """Return what to send for `query`, as (delay in seconds, wire bytes), in order."""
        entry = self.get(query.question[0].name.to_text()) if query.question else None
        if entry is not None and entry.no_reply:
            return []
        if entry is not None and entry.malformed:
            # Our id and a plausible header, then a question cut short: unparseable.
            return [
                (
                    entry.delay_s,
                    query.id.to_bytes(2, "big")
                    + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07exam",
                )
            ]
        genuine = self.genuine(query).to_wire()
        if entry is None:
            return [(0.0, genuine)]
        sent: list[tuple[float, bytes]] = []
        if entry.inject:
            forged = dns.message.make_response(query)
            forged.answer.append(
                dns.rrset.from_text(query.question[0].name, 60, "IN", "A", *entry.inject)
            )
            sent.append((0.0, forged.to_wire()))
        if entry.wrong_id_first:
            sent.append((0.0, ((query.id + 1) % 65536).to_bytes(2, "big") + genuine[2:]))
        return [*sent, (entry.delay_s, genuine)]


def _parse(data: bytes) -> dns.message.Message | None:
    try:
        return dns.message.from_wire(data)
    except Exception:  # a test server ignores garbage, as a real one would
        return None


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: Any = None  # a DatagramTransport (the selector one does not subclass it)
        self.timers: set[asyncio.TimerHandle] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = _parse(data)
        if query is None or not query.question:
            return
        self.server.note(query, "udp")
        loop = asyncio.get_running_loop()
        for delay_s, wire in self.server.zone.replies(query):
            timer = loop.call_later(delay_s, self._send, wire, addr)
            self.timers.add(timer)

    def _send(self, wire: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(wire, addr)

    def close(self) -> None:
        for timer in self.timers:
            timer.cancel()
        if self.transport is not None:
            self.transport.close()


class _TcpDns(StreamServer):
    """DNS over TCP (or TLS: DoT): length-prefixed messages, the genuine reply only."""

    def __init__(self, server: DnsServer, ssl_context: ssl.SSLContext | None, port: int) -> None:
        super().__init__(server.server_loop, host=server.host, ssl_context=ssl_context)
        self.dns = server
        self.wanted_port = port

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.wanted_port, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            size = struct.unpack("!H", await reader.readexactly(2))[0]
            query = _parse(await reader.readexactly(size))
            if query is None or not query.question:
                return
            self.dns.note(query, "dot" if self.ssl_context else "tcp")
            replies = self.dns.zone.replies(query)
            if not replies:
                await reader.read()  # silence until the client gives up
                return
            delay_s, wire = replies[-1]
            await asyncio.sleep(delay_s)
            writer.write(len(wire).to_bytes(2, "big") + wire)
            await writer.drain()


class DnsServer:
    """UDP and TCP on one loopback port, and DoT on another when given a TLS context.

    `queries` lists (transport, name, type) of every query received, for assertions.
    """

    def __init__(
        self,
        loop: ServerLoop,
        zone: Zone | None = None,
        *,
        dot_context: ssl.SSLContext | None = None,
    ) -> None:
        self.server_loop = loop
        self.zone = zone or Zone()
        self.host = "127.0.0.1"
        self.port = 0
        self.queries: list[tuple[str, str, str]] = []
        self._dot_context = dot_context
        self._udp: _UdpProtocol | None = None
        self._tcp: _TcpDns | None = None
        self._dot: _TcpDns | None = None

    def note(self, query: dns.message.Message, transport: str) -> None:
        question = query.question[0]
        self.queries.append(
            (transport, _normal(question.name.to_text()), dns.rdatatype.to_text(question.rdtype))
        )

    @property
    def address(self) -> str:
        """Return "127.0.0.1:port" (UDP and TCP)."""
        return format_address(self.host, self.port)

    @property
    def dot_address(self) -> str:
        """Return "127.0.0.1:port" of the DoT listener."""
        assert self._dot is not None, "DnsServer was made without dot_context"
        return self._dot.address

    def start(self) -> DnsServer:
        """Bind UDP and TCP on one free port (and DoT); return self."""
        self.server_loop.run(self._start())
        return self

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(20):  # a free UDP port may be taken for TCP: try another
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.host, 0), family=socket.AF_INET
            )
            port = transport.get_extra_info("sockname")[1]
            tcp = _TcpDns(self, None, port)
            try:
                await tcp._listen()
            except OSError:
                protocol.close()
                continue
            self._udp, self._tcp, self.port = protocol, tcp, port
            break
        else:
            raise RuntimeError("no port free for both UDP and TCP")
        if self._dot_context is not None:
            self._dot = _TcpDns(self, self._dot_context, 0)
            await self._dot._listen()

    def close(self) -> None:
        """Stop every listener."""
        if self._udp is not None:
            self.server_loop.loop.call_soon_threadsafe(self._udp.close)
            self._udp = None
        for server in (self._tcp, self._dot):
            if server is not None:
                server.close()
        self._tcp = self._dot = None

    async def answer(self, wire: bytes) -> bytes | None:
        """Return the genuine reply to a wire query after its delay (for DoH).

        None: the name gets no reply. Raises ValueError when `wire` is not a DNS query.
        """
        query = _parse(wire)
        if query is None or not query.question:
            raise ValueError("not a DNS query")
        self.note(query, "doh")
        replies = self.zone.replies(query)
        if not replies:
            return None
        delay_s, reply = replies[-1]
        await asyncio.sleep(delay_s)
        return reply
