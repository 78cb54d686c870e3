"""A raw HTTP/1.1 server (optionally TLS) with programmable routes, hostile ones included.

Written on asyncio streams, not a framework, so a route controls every byte and every RST.
One request per connection; responses carry `Connection: close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from ._dns import DnsServer
from ._loop import ServerLoop
from ._tcp import PEER_GONE, StreamServer, reset

PAGE_TITLE = "Probe test page"
_MAX_HEAD_BYTES = 64 << 10
_MAX_BODY_BYTES = 16 << 20


@dataclass(frozen=True)
class HttpRequest:
    """One request as the server received it, with the SNI of its TLS connection."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    server_name: str | None
    is_tls: bool
    peer: tuple[str, int]

    def header(self, name: str) -> str | None:
        """Return the first value of header `name` (case-insensitive), or None."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def path(self) -> str:
        """Return the target without its query string."""
        return self.target.split("?", 1)[0]


Handler = Callable[[HttpRequest, asyncio.StreamWriter], Awaitable[None]]


@cache
def page() -> bytes:
    """Return a realistic HTML page of about 120 KiB whose <title> is PAGE_TITLE."""
    paragraph = (
        "<p>Measurement matters: this paragraph stands for the prose of a news site, with"
        " <a href='/article/{n}'>links</a>, <em>emphasis</em> and enough words to make the"
        " page as long as a real front page. Paragraph number {n}.</p>\n"
    )
    body = "".join(paragraph.format(n=n) for n in range(520))
    html = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n"
        f"<title>\n  {PAGE_TITLE}\n</title>\n</head>\n"
        f"<body><h1>Front page</h1>\n{body}</body></html>\n"
    )
    return html.encode()


@cache
def gzip_bomb_body(decoded_bytes: int = 10 << 20) -> bytes:
    """Return `decoded_bytes` zeros, gzip-compressed (about a thousandth of the size)."""
    return gzip.compress(bytes(decoded_bytes), compresslevel=9)


def head(status: int, headers: Iterable[tuple[str, str]] = (), reason: str = "Status") -> bytes:
    """Return a status line and headers (with Connection: close), ending with the blank line."""
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in headers), "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def respond(
    body: bytes = b"",
    *,
    status: int = 200,
    content_type: str = "text/html; charset=utf-8",
    headers: Iterable[tuple[str, str]] = (),
    delay_s: float = 0.0,
) -> Handler:
    """Return a route answering with a complete response (after `delay_s`)."""
    fields = [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers]

    async def handler(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(delay_s)
        writer.write(head(status, fields) + body)

    return handler


def redirect(location: str, status: int = 302) -> Handler:
    """Return a route redirecting to `location` (loops when it points to itself)."""
    return respond(b"", status=status, headers=[("Location", location)])


def json_response(document: Any, *, status: int = 200, delay_s: float = 0.0) -> Handler:
    """Return a route answering with `document` as JSON (bytes and str are sent as they are)."""
    if isinstance(document, bytes | str):
        body = document.encode() if isinstance(document, str) else document
    else:
        body = json.dumps(document).encode()
    return respond(body, status=status, content_type="application/json", delay_s=delay_s)


async def _send_body(
    writer: asyncio.StreamWriter, total_bytes: int, chunk: bytes, content_type: str, pause_s: float
) -> None:
    """Send a 200 of `total_bytes` made of `chunk`, waiting `pause_s` after each chunk."""
    writer.write(head(200, [("Content-Type", content_type), ("Content-Length", str(total_bytes))]))
    sent = 0
    while sent < total_bytes:
        piece = chunk[: total_bytes - sent]
        writer.write(piece)
        sent += len(piece)
        await writer.drain()
        if pause_s:
            await asyncio.sleep(pause_s)


def streamed(total_bytes: int, chunk_bytes: int = 1 << 16) -> Handler:
    """Return a route streaming `total_bytes` of text (a huge body, written as it is read)."""
    chunk = (b"0123456789abcdef" * (chunk_bytes // 16 + 1))[:chunk_bytes]

    async def handler(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        await _send_body(writer, total_bytes, chunk, "text/plain", 0.0)

    return handler


def paced(
    rate_bps: float,
    slow_names: Iterable[str],
    total_bytes: int = 64 << 20,
    content_type: str = "application/octet-stream",
) -> Handler:
    """Return a route sending `total_bytes`, paced to `rate_bps` for the TLS server names in
    `slow_names` (a policer keyed on the SNI) and at full speed for any other."""
    slow = frozenset(slow_names)
    chunk = b"z" * 2_000
    interval = len(chunk) * 8 / rate_bps

    async def handler(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        pause = interval if request.server_name in slow else 0.0
        await _send_body(writer, total_bytes, chunk, content_type, pause)

    return handler


def drip(interval_s: float = 0.5, total_bytes: int = 100) -> Handler:
    """Return a route sending its headers, then one body byte every `interval_s`."""

    async def handler(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(
            head(200, [("Content-Type", "text/plain"), ("Content-Length", str(total_bytes))])
        )
        for _ in range(total_bytes):
            await writer.drain()
            await asyncio.sleep(interval_s)
            writer.write(b"x")

    return handler


def reset_mid_body(sent_bytes: int = 16 << 10, declared_bytes: int = 1 << 20) -> Handler:
    """Return a route that sends headers and part of the body, then a RST."""

    async def handler(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(
            head(200, [("Content-Type", "text/html"), ("Content-Length", str(declared_bytes))])
        )
        writer.write(page()[:sent_bytes])
        await writer.drain()
        await asyncio.sleep(0.05)  # let the client read the part it got
        reset(writer)

    return handler


async def reset_after_request(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
    """A route that answers the request with a RST."""
    reset(writer)


async def close_after_request(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
    """A route that closes the connection (FIN) without a response."""
    writer.close()


async def echo(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
    """A route answering with JSON describing the request (headers in order, SNI)."""
    document = {
        "method": request.method,
        "target": request.target,
        "headers": request.headers,
        "server_name": request.server_name,
    }
    await json_response(document)(request, writer)


async def not_found(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
    """The route for unknown paths."""
    await respond(b"not found", status=404, content_type="text/plain")(request, writer)


def doh(server: DnsServer) -> Handler:
    """Return a DoH route (RFC 8484 POST) answering from `server`'s zone.

    A name without reply (timeout.test) keeps the request hanging; a body that is not a DNS
    query gets 400.
    """

    async def handler(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        try:
            reply = await server.answer(request.body) if request.method == "POST" else b""
        except ValueError:
            reply = b""
        if reply is None:
            await asyncio.sleep(3600)  # ended by the server's close
            return
        if not reply:
            await respond(b"bad request", status=400, content_type="text/plain")(request, writer)
            return
        await respond(reply, content_type="application/dns-message")(request, writer)

    return handler


def default_routes() -> dict[str, Handler]:
    """Return the routes every HttpServer starts with (see the conftest docstring)."""
    latin1 = "<html><head><title>Caf\xe9</title></head><body>na\xefve</body></html>".encode(
        "latin-1"
    )
    return {
        "/": respond(page()),
        "/page": respond(page()),
        "/gzip": respond(gzip.compress(page()), headers=[("Content-Encoding", "gzip")]),
        "/deflate": respond(zlib.compress(page()), headers=[("Content-Encoding", "deflate")]),
        "/redirect": redirect("/page"),
        "/redirect-loop": redirect("/redirect-loop"),
        "/status/500": respond(b"<title>Internal error</title>", status=500),
        "/status/503": respond(b"<title>Unavailable</title>", status=503),
        "/bomb": respond(
            gzip_bomb_body(), content_type="text/plain", headers=[("Content-Encoding", "gzip")]
        ),
        "/huge": streamed(50 << 20),
        "/drip": drip(),
        "/reset-body": reset_mid_body(),
        "/reset": reset_after_request,
        "/close": close_after_request,
        "/binary": respond(bytes(range(256)) * 4, content_type="application/octet-stream"),
        "/latin1": respond(latin1, content_type="text/html; charset=iso-8859-1"),
        "/echo": echo,
    }


async def read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> HttpRequest | None:
    """Return the next request on the connection, or None if the client sent none."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None
    lines = raw[:-4].decode("latin-1").split("\r\n")
    method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
    body = await reader.readexactly(min(length, _MAX_BODY_BYTES)) if length else b""
    tls = writer.get_extra_info("ssl_object")
    server_name = getattr(tls, "probe_sni", None)  # set by TestPki's SNI callback
    peer = writer.get_extra_info("peername")
    return HttpRequest(method, target, headers, body, server_name, tls is not None, peer[:2])


class HttpServer(StreamServer):
    """HTTP/1.1 on `host`, port 0; HTTPS when given a TLS context (see TestPki.server_context).

    `routes` maps a path to a Handler; `requests` lists every request received, in order.
    """

    def __init__(
        self, loop: ServerLoop, *, host: str = "127.0.0.1", ssl_context: Any = None
    ) -> None:
        super().__init__(loop, host=host, ssl_context=ssl_context)
        self.routes = default_routes()
        self.requests: list[HttpRequest] = []

    def route(self, path: str, handler: Handler) -> str:
        """Add or replace the route at `path`; return its URL (the server must be started)."""
        self.routes[path] = handler
        return self.url(path)

    def url(self, path: str = "/", host: str | None = None) -> str:
        """Return the URL of `path`, naming `host` (e.g. "trusted.test") or the listen address."""
        if not self.port:
            raise RuntimeError("start the server first: its port is not known yet")
        scheme = "https" if self.ssl_context is not None else "http"
        authority = f"{host}:{self.port}" if host else self.address
        return f"{scheme}://{authority}{path}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader, writer)
        if request is None:
            return
        self.requests.append(request)
        await self.routes.get(request.path, not_found)(request, writer)
        if not writer.transport.is_closing():
            await writer.drain()
            writer.close()
            with contextlib.suppress(*PEER_GONE, TimeoutError):
                async with asyncio.timeout(2):
                    await writer.wait_closed()
