"""Loopback proxies (HTTP CONNECT/absolute-form, SOCKS5) and a fault-injecting TCP relay.

They let upload tests go through a real proxy and lose a request or its answer at a chosen
point. Every target is checked before any connect: only loopback (127.0.0.0/8, ::1,
"localhost") is reached, anything else is refused, so a test can never touch another host.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Self, get_args
from urllib.parse import urlsplit

from ._http import head
from ._loop import ServerLoop
from ._tcp import PEER_GONE, StreamServer, format_address, reset

_CHUNK = 1 << 16
_CONNECT_TIMEOUT_S = 5.0
_LINGER_S = 2.0
_ACCEPT_TURNS = 4  # loop turns for an accepted socket to get its transport (1 on 3.11)
_HOP_BY_HOP = frozenset({"connection", "proxy-connection", "keep-alive", "proxy-authorization"})


def is_loopback(host: str) -> bool:
    """Return whether `host` ("localhost" or an IP literal) is a loopback address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def open_loopback(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to a loopback `host` (callers check `is_loopback` first); "localhost" is never
    looked up: 127.0.0.1 is tried, then ::1."""
    if not is_loopback(host):
        raise PermissionError(f"{host}: not a loopback address")
    candidates = ["127.0.0.1", "::1"] if host.lower() == "localhost" else [host]
    error: OSError = ConnectionRefusedError(f"{host}:{port}: no address")
    for address in candidates:
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                return await asyncio.open_connection(address, port)
        except (OSError, TimeoutError) as exc:
            error = exc if isinstance(exc, OSError) else ConnectionError(str(exc))
    raise error


@dataclass
class _Counts:
    """Bytes forwarded so far on one relayed connection."""

    up: int = 0  # client → upstream
    down: int = 0  # upstream → client


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    limit: int | None = None,
    first_head: bool = False,
    tally: Callable[[int], None] | None = None,
) -> int:
    """Copy `reader` to `writer` until EOF (passed on as a half-close) or `limit` bytes.

    With `first_head`, the first HTTP head read is rewritten to carry `Connection: close`.
    `tally` is told each count of bytes read as it is forwarded; return the total.
    """
    copied = 0
    if first_head:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
            writer.write(_force_close(raw))
        except asyncio.IncompleteReadError as exc:
            raw = exc.partial
            writer.write(raw)
        except asyncio.LimitOverrunError:
            raw = b""
        copied += len(raw)
        if tally is not None:
            tally(len(raw))
    while limit is None or copied < limit:
        data = await reader.read(_CHUNK if limit is None else min(_CHUNK, limit - copied))
        if not data:
            if writer.can_write_eof() and not writer.transport.is_closing():
                writer.write_eof()
            break
        writer.write(data)
        copied += len(data)
        if tally is not None:
            tally(len(data))
        await writer.drain()
    await writer.drain()
    return copied


async def relay(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    *,
    rewrite_response_head: bool = False,
    counts: _Counts | None = None,
) -> None:
    """Copy bytes both ways until both sides have closed (half-closes are passed on).

    A reset or error on either side resets both. `counts` tallies the bytes as they go.
    """
    tally = counts if counts is not None else _Counts()

    def add_up(n: int) -> None:
        tally.up += n

    def add_down(n: int) -> None:
        tally.down += n

    async def one_way(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        add: Callable[[int], None],
        rewrite: bool,
    ) -> None:
        try:
            await _pump(reader, writer, first_head=rewrite, tally=add)
        except PEER_GONE:
            reset(client[1])  # pass a reset on as a reset
            reset(upstream[1])

    await asyncio.gather(
        one_way(client[0], upstream[1], add_up, False),
        one_way(upstream[0], client[1], add_down, rewrite_response_head),
    )


def _force_close(raw_head: bytes) -> bytes:
    """Return an HTTP head without hop-by-hop fields, with `Connection: close` added."""
    lines = raw_head[:-4].decode("latin-1").split("\r\n")
    kept = [ln for ln in lines[1:] if ln.partition(":")[0].strip().lower() not in _HOP_BY_HOP]
    return "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")


async def _close_gracefully(*writers: asyncio.StreamWriter) -> None:
    """Flush and close each writer (FIN), waiting a little for it to finish."""
    for writer in writers:
        if not writer.transport.is_closing():
            writer.close()
        with contextlib.suppress(*PEER_GONE, TimeoutError):
            async with asyncio.timeout(_LINGER_S):
                await writer.wait_closed()


async def _answer_and_close(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: bytes
) -> None:
    """Send `response`, half-close, discard what the client still sends, then close.

    Reading to the client's EOF keeps unread bytes (a request body) from turning the close
    into a RST that would destroy the response.
    """
    writer.write(response)
    await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_LINGER_S):
            while await reader.read(_CHUNK):
                pass
    await _close_gracefully(writer)


def _error(status: int, reason: str, text: str) -> bytes:
    body = f"{text}\n".encode()
    fields = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    return head(status, fields, reason) + body


class _ClosingServer(StreamServer):
    """A StreamServer whose close() also ends connections accepted but not yet handled.

    On Python 3.11 a connection asyncio has accepted, but whose transport is not built yet
    when `Server.close()` runs, is dropped by an assertion: its socket stays open, never
    handled (the client hangs), until the garbage collector warns about it. So close() first
    stops accepting, lets the accepted connections reach `_serve` (which aborts them), and
    only then closes the server.
    """

    _closing = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing:
            writer.transport.abort()
            return
        await super()._serve(reader, writer)

    def __enter__(self) -> Self:
        super().__enter__()
        return self

    async def _close(self) -> None:
        assert self._server is not None
        self._closing = True
        loop = asyncio.get_running_loop()
        for sock in self._server.sockets:
            loop.remove_reader(sock.fileno())  # stop accepting; the kernel queue gets RSTs
        for _ in range(_ACCEPT_TURNS):  # accepted sockets get their transport, then _serve
            await asyncio.sleep(0)
        await super()._close()


class HttpProxy(_ClosingServer):
    """An HTTP/1.1 forward proxy on `host`, port 0, one request per client connection.

    `CONNECT host:port` opens a tunnel (https:// targets). An absolute-form request
    (`POST http://127.0.0.1:PORT/path HTTP/1.1`, what httpx sends for http:// targets) goes to
    the origin with its request line in origin-form and `Connection: close` forced on the
    request and the response head; then bytes flow both ways untouched, so Content-Length
    and chunked bodies pass as they are. Targets other than loopback get 403 before any
    connect; an unreachable one 502.

    Records `connections` (count), `methods` and `targets` ("host:port") of every request,
    and `refused` (the targets answered with 403).
    """

    def __init__(self, loop: ServerLoop, *, host: str = "127.0.0.1") -> None:
        super().__init__(loop, host=host)
        self.connections = 0
        self.methods: list[str] = []
        self.targets: list[str] = []
        self.refused: list[str] = []

    def url(self) -> str:
        """Return the proxy URL for httpx's `proxy=` ("http://127.0.0.1:PORT")."""
        if not self.port:
            raise RuntimeError("start the proxy first: its port is not known yet")
        return f"http://{self.address}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return
        except asyncio.LimitOverrunError:
            await _answer_and_close(reader, writer, _error(431, "Too Large", "head too large"))
            return
        lines = raw[:-4].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            await _answer_and_close(reader, writer, _error(400, "Bad Request", "request line"))
            return
        method, target, version = parts
        self.methods.append(method)
        if method == "CONNECT":
            host, _, port_text = target.rpartition(":")
            host = host.removeprefix("[").removesuffix("]")
            path = ""
        else:
            url = urlsplit(target)
            if url.scheme != "http" or not url.hostname:
                text = "only CONNECT and absolute-form http:// requests are proxied"
                await _answer_and_close(reader, writer, _error(400, "Bad Request", text))
                return
            host, port_text = url.hostname, str(url.port or 80)
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        if not port_text.isdigit() or not host:
            await _answer_and_close(reader, writer, _error(400, "Bad Request", "bad target"))
            return
        port = int(port_text)
        address = format_address(host, port)
        self.targets.append(address)
        if not is_loopback(host):
            self.refused.append(address)
            text = f"{address}: this test proxy only reaches loopback"
            await _answer_and_close(reader, writer, _error(403, "Forbidden", text))
            return
        try:
            upstream = await open_loopback(host, port)
        except OSError as exc:
            await _answer_and_close(reader, writer, _error(502, "Bad Gateway", str(exc)))
            return
        try:
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await relay((reader, writer), upstream)
            else:
                request_line = f"{method} {path} {version}"
                headers = lines[1:]
                if not any(ln.lower().startswith("host:") for ln in headers):
                    headers.append(f"Host: {address}")
                request_head = "\r\n".join([request_line, *headers, "", ""]).encode("latin-1")
                upstream[1].write(_force_close(request_head))
                await relay((reader, writer), upstream, rewrite_response_head=True)
            await _close_gracefully(writer, upstream[1])
        finally:
            upstream[1].transport.abort()


# SOCKS5 (RFC 1928) constants.
_SOCKS_VERSION = 5
_NO_AUTH = 0x00
_NO_ACCEPTABLE_METHOD = 0xFF
_CMD_CONNECT = 0x01
_ATYP_IPV4, _ATYP_DOMAIN, _ATYP_IPV6 = 0x01, 0x03, 0x04
_REP_OK = 0x00
_REP_FAILURE = 0x01
_REP_NOT_ALLOWED = 0x02
_REP_REFUSED = 0x05
_REP_COMMAND_UNSUPPORTED = 0x07
_REP_ADDRESS_UNSUPPORTED = 0x08
_ADDRESS_TYPES = {_ATYP_IPV4: "ipv4", _ATYP_DOMAIN: "domain", _ATYP_IPV6: "ipv6"}


def _socks_reply(code: int, bound: tuple[str, int] = ("0.0.0.0", 0)) -> bytes:
    address = ipaddress.ip_address(bound[0])
    atyp = _ATYP_IPV4 if address.version == 4 else _ATYP_IPV6
    return bytes([_SOCKS_VERSION, code, 0, atyp]) + address.packed + struct.pack("!H", bound[1])


class Socks5Proxy(_ClosingServer):
    """A SOCKS5 proxy (RFC 1928): no authentication, CONNECT only, on `host`, port 0.

    Address types IPv4, IPv6 and domain name; a name is never looked up: "localhost" (any
    case) goes to 127.0.0.1 (then ::1), a loopback literal to itself, anything else gets
    reply 0x02 "connection not allowed by ruleset" before any connect.

    Records `connections` (count), `targets` ("host:port" as received, so a name sent by the
    client shows as "localhost:1234"), `address_types` ("ipv4", "domain", "ipv6", one per
    request) and `refused` (targets answered with 0x02).

    httpx sends the URL's host as it is for both socks5:// and socks5h:// (it never resolves
    locally), so the address type follows the URL: a name → "domain", an IP → "ipv4"/"ipv6".
    """

    def __init__(self, loop: ServerLoop, *, host: str = "127.0.0.1") -> None:
        super().__init__(loop, host=host)
        self.connections = 0
        self.targets: list[str] = []
        self.address_types: list[str] = []
        self.refused: list[str] = []

    def url(self, scheme: Literal["socks5", "socks5h"] = "socks5") -> str:
        """Return the proxy URL for httpx's `proxy=` ("socks5://127.0.0.1:PORT")."""
        if not self.port:
            raise RuntimeError("start the proxy first: its port is not known yet")
        return f"{scheme}://{self.address}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != _SOCKS_VERSION or _NO_AUTH not in methods:
            await _answer_and_close(reader, writer, bytes([_SOCKS_VERSION, _NO_ACCEPTABLE_METHOD]))
            return
        writer.write(bytes([_SOCKS_VERSION, _NO_AUTH]))
        _, command, _, atyp = await reader.readexactly(4)
        if atyp == _ATYP_IPV4:
            host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
        elif atyp == _ATYP_IPV6:
            host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
        elif atyp == _ATYP_DOMAIN:
            length = (await reader.readexactly(1))[0]
            host = (await reader.readexactly(length)).decode("ascii", "replace")
        else:
            await _answer_and_close(reader, writer, _socks_reply(_REP_ADDRESS_UNSUPPORTED))
            return
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        address = format_address(host, port)
        self.targets.append(address)
        self.address_types.append(_ADDRESS_TYPES[atyp])
        if command != _CMD_CONNECT:
            await _answer_and_close(reader, writer, _socks_reply(_REP_COMMAND_UNSUPPORTED))
            return
        if not is_loopback(host):
            self.refused.append(address)
            await _answer_and_close(reader, writer, _socks_reply(_REP_NOT_ALLOWED))
            return
        try:
            upstream = await open_loopback(host, port)
        except OSError as exc:
            code = _REP_REFUSED if isinstance(exc, ConnectionRefusedError) else _REP_FAILURE
            await _answer_and_close(reader, writer, _socks_reply(code))
            return
        try:
            bound = upstream[1].get_extra_info("sockname")
            writer.write(_socks_reply(_REP_OK, (bound[0], bound[1])))
            await relay((reader, writer), upstream)
            await _close_gracefully(writer, upstream[1])
        finally:
            upstream[1].transport.abort()


Mode = Literal["pass", "reset_mid_request", "drop_response", "hang", "refuse"]
MODES: tuple[Mode, ...] = get_args(Mode)


@dataclass(frozen=True)
class RelayEvent:
    """One step of one relayed connection (`connection` counts from 1).

    `what` is one of:
      "accepted"           every connection, first
      "cut"                reset_mid_request: `up` == cut_after bytes were forwarded
      "response withheld"  the upstream started answering (first byte read, not forwarded)
      "upstream closed"    the upstream closed without answering (before the cut)
      "upstream unreachable"  no connection upstream (the client is reset)
      "client reset"       a RST is being sent to the client (logged just before it)
      "ended"              the connection is over (last; may come after the client's error)
    `up`/`down`: bytes forwarded client → upstream / upstream → client (hang: bytes read).
    """

    connection: int
    mode: Mode
    what: str
    up: int = 0
    down: int = 0


class FaultRelay(_ClosingServer):
    """A byte-level TCP relay on `host`, port 0, in front of `upstream`, failing on command.

    `mode` (read once per accepted connection, so change it between connections):
      "pass"               relay both ways, half-closes passed on
      "reset_mid_request"  forward the first `cut_after` client bytes, then RST the client
                           and close the upstream (the server never gets the whole request)
      "drop_response"      forward the request; at the upstream's first response byte (the
                           server has processed it), RST the client without forwarding it
                           ("ack lost": stored by the server, unknown to the client)
      "hang"               read and discard, never connect upstream nor answer (timeout)
      "refuse"             accept, then RST at once

    A request shorter than `cut_after` in reset_mid_request ends like drop_response (the
    client is reset when the upstream answers): keep the request longer than the cut.

    Records `connections_by_mode` (Counter) and `events` (RelayEvent, in order).
    """

    def __init__(
        self,
        loop: ServerLoop,
        upstream: tuple[str, int],
        *,
        mode: Mode = "pass",
        cut_after: int = 1024,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(loop, host=host)
        if not is_loopback(upstream[0]):
            raise ValueError(f"{upstream[0]}: a FaultRelay only fronts loopback servers")
        self.upstream = upstream
        self.mode = mode
        self.cut_after = cut_after
        self.connections_by_mode: Counter[Mode] = Counter()
        self.events: list[RelayEvent] = []
        self._numbers = itertools.count(1)

    @property
    def mode(self) -> Mode:
        """What the next accepted connection suffers (see the class docstring)."""
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        if mode not in MODES:
            raise ValueError(f"{mode!r}: a FaultRelay mode is one of {MODES}")
        self._mode = mode

    @property
    def connections(self) -> int:
        """Return the number of connections accepted, all modes together."""
        return sum(self.connections_by_mode.values())

    def events_of(self, connection: int) -> list[str]:
        """Return what happened to connection number `connection`, in order."""
        return [event.what for event in self.events if event.connection == connection]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode, cut_after, number = self.mode, self.cut_after, next(self._numbers)
        self.connections_by_mode[mode] += 1
        counts = _Counts()

        def log(what: str) -> None:
            self.events.append(RelayEvent(number, mode, what, counts.up, counts.down))

        log("accepted")
        try:
            if mode == "refuse":
                log("client reset")
                reset(writer)
            elif mode == "hang":
                while data := await reader.read(_CHUNK):
                    counts.up += len(data)
            else:
                await self._forward(reader, writer, mode, cut_after, counts, log)
        finally:
            log("ended")

    async def _forward(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        mode: Mode,
        cut_after: int,
        counts: _Counts,
        log: Callable[[str], None],
    ) -> None:
        try:
            upstream = await open_loopback(*self.upstream)
        except OSError:
            log("upstream unreachable")
            log("client reset")
            reset(writer)
            return
        up_writer = upstream[1]
        try:
            if mode == "pass":
                await relay((reader, writer), upstream, counts=counts)
                await _close_gracefully(writer, up_writer)
            else:
                limit = cut_after if mode == "reset_mid_request" else None
                if await self._until_fault(reader, upstream, limit, counts, log):
                    log("client reset")
                    reset(writer)
        finally:
            up_writer.transport.abort()

    @staticmethod
    async def _until_fault(
        reader: asyncio.StreamReader,
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        limit: int | None,
        counts: _Counts,
        log: Callable[[str], None],
    ) -> bool:
        """Forward the client's bytes (up to `limit`) until the cut or the upstream's first
        response byte; log which came. Return False if a side went away first."""

        def tally(n: int) -> None:
            counts.up += n

        pump = asyncio.create_task(_pump(reader, upstream[1], limit=limit, tally=tally))
        answer = asyncio.create_task(upstream[0].read(1))
        try:
            done, _ = await asyncio.wait({pump, answer}, return_when=asyncio.FIRST_COMPLETED)
            if answer not in done:
                if pump.exception() is not None:
                    return False  # the client or the upstream went away
                if limit is not None and counts.up >= limit:
                    log("cut")
                    return True
                await asyncio.wait({answer})  # the client half-closed: wait for the answer
            if answer.exception() is not None:
                return False
            log("response withheld" if answer.result() else "upstream closed")
            return True
        finally:
            for task in (pump, answer):
                task.cancel()
            await asyncio.gather(pump, answer, return_exceptions=True)
