"""One HTTP(S) request to a chosen address, with capped body and decompression.

`request()` expects a client made by `make_client()`:

- `verify=trust.client_context()`: our trust store, in a context the httpx clients share and
  the handshakes do not (httpcore rewrites the ALPN of the context it is given: to http/1.1 for
  every client made here);
- `http2=False`: the pool is keyed by (scheme, host, port), not by SNI, and an HTTP/2 connection
  is shared by concurrent requests, so two pinned requests to one IP with different SNIs would
  share one TLS session. With HTTP/1.1 and no keep-alive every request has its own connection;
- `limits=Limits(max_connections=None, max_keepalive_connections=0)`: no reuse, and no pool
  queueing (plan.py bounds concurrency itself);
- `follow_redirects=False` (each hop is the caller's), `trust_env=False` (no proxy, netrc or
  SSL_CERT_FILE from the environment), and a cookie jar that stores nothing, so one target's
  cookies never reach another.

Given a `Connection` a step kept open (the TCP connect or the recorded TLS handshake to that
address), `request()` sends the GET over it instead, through a client of the same settings whose
only connection it is (`_connection.LendingTransport`); HTTP/2 when the handshake negotiated h2.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import hashlib
import re
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

import probe
from probe.measure._body import BoundedBody, read_into
from probe.measure._clock import Clock
from probe.measure._connection import Connection, LendingTransport
from probe.measure._transfer import open_response
from probe.measure.failures import NETWORK_ERRORS, failure_string
from probe.measure.tcp import endpoint_text
from probe.measure.tls import TrustStore
from probe.models.failures import FailedOperation
from probe.models.observations import (
    BinaryData,
    HttpRequestRecord,
    HttpResponseRecord,
    HttpTransaction,
)

DEFAULT_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.9",
}
# Only what we can decode with a bound (see _body.py): no br, no zstd.
ACCEPT_ENCODING = "gzip, deflate"
# Placeholder until the project has its public home; the User-Agent points people to it.
PROJECT_URL = "https://github.com/probe-project/probe"

_TITLE = re.compile(rb"<title\b[^>]{0,256}>([^<]{0,2048})", re.IGNORECASE)
_MAX_TITLE_CHARS = 256


def user_agent() -> str:
    """Return our honest User-Agent (software name and version, and where to read about it)."""
    return f"probe/{probe.__version__} (censorship measurement; +{PROJECT_URL})"


def make_client(trust: TrustStore) -> httpx.AsyncClient:
    """Return the httpx client `request()` expects (see the module docstring for why)."""
    return httpx.AsyncClient(
        verify=trust.client_context(),
        http2=False,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
        cookies=_no_cookies(),
    )


def make_service_client(trust: TrustStore) -> httpx.AsyncClient:
    """Return a client for the services a run asks (test helpers, control DoH resolvers): the
    settings of `make_client()`, but connections are kept open a few seconds for the next
    request to the same service, as one check after another asks the same few. What is measured
    never goes through it (each of its requests has a connection of its own)."""
    return httpx.AsyncClient(
        verify=trust.client_context(),
        http2=False,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(
            max_connections=None, max_keepalive_connections=16, keepalive_expiry=5.0
        ),
        cookies=_no_cookies(),
    )


def _client_over(connection: Connection) -> httpx.AsyncClient:
    """Return a client with make_client()'s settings whose only connection is `connection`."""
    return httpx.AsyncClient(
        transport=LendingTransport(connection),
        follow_redirects=False,
        trust_env=False,
        cookies=_no_cookies(),
    )


def _no_cookies() -> CookieJar:
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


# httpcore trace events (by substring) → the operation OONI's network events would name.
_OPERATIONS = (
    ("connect_tcp", FailedOperation.CONNECT),
    ("start_tls", FailedOperation.TLS_HANDSHAKE),
    ("send_connection_init", FailedOperation.WRITE),  # HTTP/2's preface and SETTINGS
    ("send_request", FailedOperation.WRITE),
    ("receive_response", FailedOperation.READ),
)


@dataclass
class _Exchange:
    """What one request produced so far: kept outside the deadline so a failure keeps it."""

    body_cap_bytes: int
    body_read_limit_bytes: int
    response: httpx.Response | None = None
    body: BoundedBody | None = None
    address: str | None = None
    alpn: str | None = None
    failure: str | None = None
    stage: str | None = None  # the last trace event that started: where a failure happened

    def note_event(self, event: str) -> None:
        """Note the step httpcore has started (connect, TLS, write, read)."""
        # Only the operations we name: the clean-up events after a failure must not count.
        if event.endswith(".started") and any(m in event for m, _ in _OPERATIONS):
            self.stage = event

    @property
    def failed_operation(self) -> FailedOperation | None:
        """Return the operation the failure happened in: connect, tls_handshake, write, read."""
        if self.failure is None or self.stage is None:
            return None
        for marker, operation in _OPERATIONS:
            if marker in self.stage:
                return operation
        return None

    def note_peer(self, stream: Any) -> None:
        """Note the peer address of httpcore's network stream (known from the connect on)."""
        peer = stream.get_extra_info("server_addr")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.address = endpoint_text(str(peer[0]), int(peer[1]))

    def note_stream(self, stream: Any) -> None:
        """Note the peer address and the negotiated ALPN of the stream a response came on."""
        self.note_peer(stream)
        tls = stream.get_extra_info("ssl_object")
        if tls is not None:
            self.alpn = tls.selected_alpn_protocol()

    async def run(self, client: httpx.AsyncClient, prepared: httpx.Request) -> None:
        """Send the request and read the body within its limits; raises network errors."""
        # ALPN only with a response, whichever connection carried the request (a lent one is
        # already TLS when "connected").
        async with open_response(client, prepared, self.note_peer, self.note_event) as response:
            self.response = response
            stream = response.extensions.get("network_stream")
            if stream is not None:
                self.note_stream(stream)
            self.body = BoundedBody(
                response.headers.get("content-encoding", ""),
                cap_bytes=self.body_cap_bytes,
                limit_bytes=self.body_read_limit_bytes,
            )
            await read_into(self.body, response.aiter_raw())


def _prepare(
    client: httpx.AsyncClient, url: str, ip: str | None, timeout: httpx.Timeout
) -> httpx.Request:
    """Return the GET of `url`; pinned to `ip` with Host and SNI still naming the URL host."""
    target = httpx.URL(url)
    headers = {**DEFAULT_HEADERS, "User-Agent": user_agent(), "Accept-Encoding": ACCEPT_ENCODING}
    extensions: dict[str, Any] = {}
    if ip is not None:
        host = target.raw_host.decode("ascii")  # IDNA form; .host would be Unicode
        name = f"[{host}]" if ":" in host else host
        headers["Host"] = name if target.port is None else f"{name}:{target.port}"
        if target.scheme == "https":
            # Certificate verification follows the SNI, so it is still against the URL host.
            extensions["sni_hostname"] = host
        target = target.copy_with(host=ip.strip("[]"))  # httpx adds IPv6 brackets itself
    return client.build_request(
        "GET", target, headers=headers, extensions=extensions, timeout=timeout
    )


async def request(
    client: httpx.AsyncClient,
    url: str,
    ip: str | None,
    *,
    timeout_s: float,
    body_cap_bytes: int,
    body_read_limit_bytes: int,
    clock: Clock,
    tags: list[str],
    connect_timeout_s: float | None = None,
    connection: Connection | None = None,
) -> HttpTransaction:
    """Return the transaction of one GET of `url` sent to `ip` (None: let the OS resolve).

    Never follows redirects (the caller does, recording each hop). The whole exchange, body
    included, is bounded by `timeout_s` (a slow drip ends as generic_timeout_error with what was
    received). Bodies are decompressed with a bound: at most `body_read_limit_bytes` decoded bytes
    are read and counted, `body_cap_bytes` are recorded; past that `body_is_truncated`.
    `connect_timeout_s` bounds the connect and TLS handshake on their own (httpx counts the
    handshake as part of connecting), so a blackholed hop fails as fast as a bare connect.
    `connection`, an open connection to `ip` (for https, TLS verified for the URL host), carries
    the request instead of a new one; it is closed when the request ends. One that does not fit
    the request (another address or server name) is closed and a new connection made.
    """
    t0 = clock.now()
    connect_s = timeout_s if connect_timeout_s is None else min(connect_timeout_s, timeout_s)
    timeout = httpx.Timeout(timeout_s, connect=connect_s)
    exchange = _Exchange(body_cap_bytes, body_read_limit_bytes)
    prepared: httpx.Request | None = None
    try:
        prepared = _prepare(client, url, ip, timeout)
        async with asyncio.timeout(timeout_s):
            if connection is not None and connection.serves(prepared):
                async with _client_over(connection) as own:
                    await exchange.run(own, prepared)
            else:
                await exchange.run(client, prepared)
    except NETWORK_ERRORS as exc:
        exchange.failure = failure_string(exc)
    finally:
        if connection is not None:
            connection.close()
    return HttpTransaction(
        address=exchange.address,
        alpn=exchange.alpn,
        failure=exchange.failure,
        x_failed_operation=exchange.failed_operation,
        request=_request_record(url, prepared),
        response=_response_record(exchange),
        t0=t0,
        t=clock.now(),
        tags=list(tags),
    )


def _header_fields(headers: httpx.Headers) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Return (first value per name, every (name, value) in order), as sent or received."""
    pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.raw]
    first: dict[str, str] = {}
    for name, value in pairs:
        first.setdefault(name, value)
    return first, pairs


def _request_record(url: str, prepared: httpx.Request | None) -> HttpRequestRecord:
    if prepared is None:
        return HttpRequestRecord(url=url)
    headers, headers_list = _header_fields(prepared.headers)
    return HttpRequestRecord(url=url, headers=headers, headers_list=headers_list)


def _response_record(exchange: _Exchange) -> HttpResponseRecord | None:
    response, body = exchange.response, exchange.body
    if response is None:
        return None
    headers, headers_list = _header_fields(response.headers)
    recorded = bytes(body.recorded) if body is not None else b""
    is_truncated = body is not None and body.is_truncated
    return HttpResponseRecord(
        code=response.status_code,
        headers=headers,
        headers_list=headers_list,
        body=_body_value(recorded, is_truncated),
        body_is_truncated=is_truncated,
        x_body_length=body.length if body is not None else 0,
        x_body_sha256=hashlib.sha256(recorded).hexdigest(),
        x_title=title(recorded),
    )


def _body_value(recorded: bytes, is_truncated: bool) -> str | BinaryData:
    """Return the body as text when it is UTF-8, else base64 (OONI's BinaryData)."""
    try:
        # A cut body may end inside a character: a non-final decode drops that tail only.
        return codecs.getincrementaldecoder("utf-8")().decode(recorded, final=not is_truncated)
    except UnicodeDecodeError:
        return BinaryData(data=base64.b64encode(recorded).decode("ascii"))


def title(body: bytes) -> str | None:
    """Return the first <title> of an HTML body, whitespace collapsed, at most 256 characters."""
    match = _TITLE.search(body)
    if match is None:
        return None
    raw = match.group(1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # most non-UTF-8 pages are in a Latin script: a readable guess
        text = raw.decode("cp1252", errors="replace")
    text = " ".join(text.split())
    return text[:_MAX_TITLE_CHARS]
