"""Reusable loopback servers for tests: real sockets on 127.0.0.1 (or ::1), port 0.

Every server runs on one `ServerLoop` (an event loop in a background thread), so plain sync tests
drive the code under test with `asyncio.run` while the servers answer. Every server closes all
its connections on `close()`.

- `DnsServer`: UDP+TCP on one port (and DoT with a TLS context) answering from a `Zone` of
  `DnsEntry` behaviours; `DEFAULT_ZONE` lists the names (site.test, nxdomain.test,
  injected.test, …).
- `HttpServer`: raw HTTP/1.1, or HTTPS with `TestPki.server_context()` (certificate chosen by
  SNI: trusted.test, untrusted.test, expired.test, wrong.test, rsa.test); `default_routes()`
  lists the paths (/page, /gzip, /bomb, /huge, /drip, /reset-body, /reset, /redirect, …);
  `route()` adds one (`respond`, `redirect`, `json_response`, `doh`, `paced` — a body
  slowed for chosen SNIs —, …).
- `SilentServer` (accepts, never answers), `ResetServer` (RST after the first bytes),
  `Blackhole` (SYNs dropped: connect timeouts), `closed_port()` (connect refused).
- `HttpProxy` (CONNECT and absolute-form http://), `Socks5Proxy` (no-auth CONNECT): forward
  proxies that reach loopback only (403 / SOCKS reply 0x02 otherwise, before any connect) and
  record the targets they saw. `FaultRelay`: a TCP relay in front of a server whose `mode`
  passes, resets mid-request, drops the response (the server got it, the client never
  learns), hangs or refuses (RST).
- `TestPki`: a trusted and a rogue trustme CA, their PEM files, the leaf certificates.
"""

from ._certs import SNI_CERTIFICATES, TRUSTED_NAMES, TestPki
from ._dns import DEFAULT_ZONE, INJECTED_ADDRESS, DnsEntry, DnsServer, Zone
from ._http import (
    PAGE_TITLE,
    Handler,
    HttpRequest,
    HttpServer,
    close_after_request,
    default_routes,
    doh,
    drip,
    echo,
    gzip_bomb_body,
    head,
    json_response,
    paced,
    page,
    redirect,
    reset_after_request,
    reset_mid_body,
    respond,
    streamed,
)
from ._loop import ServerLoop
from ._proxy import FaultRelay, HttpProxy, Socks5Proxy
from ._tcp import Blackhole, ResetServer, SilentServer, StreamServer, closed_port, reset

__all__ = [
    "DEFAULT_ZONE",
    "INJECTED_ADDRESS",
    "PAGE_TITLE",
    "SNI_CERTIFICATES",
    "TRUSTED_NAMES",
    "Blackhole",
    "DnsEntry",
    "DnsServer",
    "FaultRelay",
    "Handler",
    "HttpProxy",
    "HttpRequest",
    "HttpServer",
    "ResetServer",
    "ServerLoop",
    "SilentServer",
    "Socks5Proxy",
    "StreamServer",
    "TestPki",
    "Zone",
    "close_after_request",
    "closed_port",
    "default_routes",
    "doh",
    "drip",
    "echo",
    "gzip_bomb_body",
    "head",
    "json_response",
    "paced",
    "page",
    "redirect",
    "reset",
    "reset_after_request",
    "reset_mid_body",
    "respond",
    "streamed",
]
