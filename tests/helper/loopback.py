"""The loopback "internet" the helper measures in tests, and the real helper serving on it.

The servers are the shared ones (tests/servers): `Internet` adds the names and routes only the
helper's tests need. The helper refuses loopback destinations; these tests build it with
`allow_loopback=True` (a parameter of `create_app` that no flag, variable or configuration key
reaches) and list only 127.0.0.1 in `[network] routable`. 127.0.0.1 then stands in for the
public internet, while any other loopback address, such as 127.0.0.2 where the trap listens, is
still refused like a private address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from servers import DnsEntry, DnsServer, HttpRequest, HttpServer, StreamServer, page, respond

from probe.config import Settings
from probe.helper import create_app
from probe.models.control import ControlResponse

SITE = "helper.site.test"  # resolves to 127.0.0.1 only; the test certificate covers *.site.test
HOP = "hop.site.test"  # another name, for redirects through a new host
PAGE_HEADERS = [("X-Test", "yes")]

# Names only the helper's tests use (the shared zone answers the rest, e.g. nxdomain.test).
ZONE = {
    SITE: DnsEntry(a=("127.0.0.1",)),
    HOP: DnsEntry(a=("127.0.0.1",)),
    "helper-ten.test": DnsEntry(a=("10.0.0.1",)),
    "helper-private.test": DnsEntry(a=("192.168.1.1",)),
    "helper-metadata.test": DnsEntry(a=("169.254.169.254",)),
    "helper-trap.test": DnsEntry(a=("127.0.0.2",)),
    "helper-ula.test": DnsEntry(aaaa=("fc00::1",)),
    "helper-ipv6-loopback.test": DnsEntry(aaaa=("::1",)),
    "helper-mixed.test": DnsEntry(a=("127.0.0.2", "10.0.0.1", "127.0.0.1")),
}


async def _cookie(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
    """Redirect to itself until the cookie comes back (probe#2488)."""
    if "seen=1" in (request.header("Cookie") or ""):
        await respond(page())(request, writer)
    else:
        headers = [("Location", "/helper/cookie"), ("Set-Cookie", "seen=1; Path=/")]
        await respond(b"", status=302, headers=headers)(request, writer)


async def _echo_headers(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
    """Answer with the request headers as X-Echo-<name> response headers."""
    echoed = [(f"X-Echo-{name}", value) for name, value in request.headers]
    await respond(page(), headers=echoed)(request, writer)


ROUTES = {
    "/helper/page": respond(page(), headers=PAGE_HEADERS),
    "/helper/cookie": _cookie,
    "/helper/headers": _echo_headers,
}


class Trap(StreamServer):
    """A listener on 127.0.0.2 that counts connections: the helper must never reach it."""

    hits = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hits += 1


# --- the helper ------------------------------------------------------------------------------


class RunningHelper:
    """The helper app served by a real uvicorn on 127.0.0.1:0, in a thread of its own."""

    def __init__(self, settings: Settings, *, allow_loopback: bool = True) -> None:
        self.app = create_app(settings, allow_loopback=allow_loopback)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            lifespan="on",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,  # as serve() does: forwarding headers are the app's to judge
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self._thread.start()
        while not self.server.started:
            assert self._thread.is_alive(), "the helper failed to start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"

    def close(self) -> None:
        self.server.should_exit = True
        self._thread.join()


# --- an ASN database -------------------------------------------------------------------------


def _control(type_: int, size: int) -> bytes:
    small, extra = (size, b"") if size < 29 else (29, bytes([size - 29]))
    if type_ <= 7:
        return bytes([(type_ << 5) | small]) + extra
    return bytes([small, type_ - 7]) + extra


def _encode(value: Any) -> bytes:
    """Encode for MaxMind DB: str, int (uint32), (type, int) for uint16/uint64, list, dict."""
    if isinstance(value, str):
        raw = value.encode()
        return _control(2, len(raw)) + raw
    if isinstance(value, tuple):
        raw = value[1].to_bytes(8, "big").lstrip(b"\x00")
        return _control(value[0], len(raw)) + raw
    if isinstance(value, int):
        return _encode((6, value))
    if isinstance(value, list):
        return _control(11, len(value)) + b"".join(_encode(v) for v in value)
    return _control(7, len(value)) + b"".join(_encode(k) + _encode(v) for k, v in value.items())


def write_asn_database(path: Path, networks: dict[str, int]) -> None:
    """Write a MaxMind DB (IPv4, 24-bit records) mapping each network to an ASN."""
    nodes: list[list[Any]] = [[None, None]]
    data = b""
    for cidr, asn in networks.items():
        net = ipaddress.ip_network(cidr)
        offset = len(data)
        data += _encode({"autonomous_system_number": asn, "autonomous_system_organization": "T"})
        bits = [int(b) for b in format(int(net.network_address), "032b")[: net.prefixlen]]
        node = 0
        for bit in bits[:-1]:
            if nodes[node][bit] is None:
                nodes.append([None, None])
                nodes[node][bit] = len(nodes) - 1
            node = nodes[node][bit]
        nodes[node][bits[-1]] = ("data", offset)
    count = len(nodes)

    def record(value: Any) -> bytes:
        number = count if value is None else value
        if isinstance(value, tuple):
            number = count + 16 + value[1]
        return int(number).to_bytes(3, "big")

    tree = b"".join(record(left) + record(right) for left, right in nodes)
    metadata = {
        "node_count": count,
        "record_size": (5, 24),
        "ip_version": (5, 4),
        "database_type": "Test-ASN",
        "languages": ["en"],
        "description": {"en": "test"},
        "binary_format_major_version": (5, 2),
        "binary_format_minor_version": (5, 0),
        "build_epoch": (9, 1_700_000_000),  # libmaxminddb refuses an empty uint64
    }
    path.write_bytes(tree + bytes(16) + data + b"\xab\xcd\xefMaxMind.com" + _encode(metadata))


# --- the loopback internet ------------------------------------------------------------------


@dataclass
class Internet:
    """The shared loopback servers, with the helper's names and routes, and the trap."""

    dns: DnsServer
    http: HttpServer
    https: HttpServer
    trap: Trap
    ca_bundle: Path

    def settings(self, **sections: dict[str, Any]) -> Settings:
        """Return helper settings pointing at this internet; `sections` override keys."""
        base: dict[str, dict[str, Any]] = {
            "resolver": {"servers": [f"udp://{self.dns.address}"]},
            "network": {"routable": ["127.0.0.1/32"]},
            "tls": {"ca_bundle": str(self.ca_bundle)},
            "timeouts": {"dns": 1, "connect": 1, "tls": 1, "http": 2},
        }
        for name, values in sections.items():
            base[name] = {**base.get(name, {}), **values}
        return Settings(**base)

    def url(self, path: str = "/helper/page", *, tls: bool = False, host: str = SITE) -> str:
        """Return the URL of `path` on the HTTP (or HTTPS) server, naming `host`."""
        return (self.https if tls else self.http).url(path, host=host)

    def redirect(self, to: str) -> str:
        """Return an HTTP URL that redirects (302) to `to`."""
        path = f"/helper/redirect/{len(self.http.routes)}"
        self.http.route(path, respond(b"", status=302, headers=[("Location", to)]))
        return self.url(path)


# --- talking to the helper -------------------------------------------------------------------

OONI_UA = "ooniprobe-cli/3.21.0 ooniprobe-engine/3.21.0"


def post(helper: RunningHelper, body: Any, *, user_agent: str = OONI_UA) -> httpx.Response:
    """Return the helper's answer to a JSON body."""
    with httpx.Client(timeout=30) as client:
        return client.post(helper.url, json=body, headers={"User-Agent": user_agent})


def control(helper: RunningHelper, body: Any) -> ControlResponse:
    """Return the helper's ControlResponse to a JSON body (which must be answered 200)."""
    response = post(helper, body)
    assert response.status_code == 200, response.text
    return ControlResponse.model_validate_json(response.content)


def loopback_probe_toml(
    resolver: str, ca_pem: Path, helpers: list[str], sites: list[str], late_window: str = "50ms"
) -> str:
    """The probe's config for the loopback world: short timeouts, 127.0.0.1 routable."""
    import json

    return f"""
[resolver]
servers = ["udp://{resolver}"]
late_reply_window_s = "{late_window}"
[control]
helpers = {json.dumps(helpers)}
doh = []
sites = {json.dumps(sites)}
domestic_sites = []
helper_timeout_s = 5
[tls]
ca_bundle = "{ca_pem}"
[network]
routable = ["127.0.0.1/32"]
[timeouts]
dns = 1
connect = 1
tls = 1
http = 3
[measure]
attempts = 2
retry_backoff_s = "100ms"
[packets]
silent_hosts = ["127.0.0.3"]
dns_listen_s = "300ms"
probe_interval_s = 0
hop_timeout_s = "500ms"
max_ttl = 4
max_silent_hops = 2
"""


def loopback_helper_settings(resolver: str, ca_pem: Path) -> Settings:
    """The helper's settings for the loopback world: its own resolver, 127.0.0.1 routable."""
    return Settings(
        resolver={"servers": [f"udp://{resolver}"], "late_reply_window_s": 0},
        network={"routable": ["127.0.0.1/32"]},
        tls={"ca_bundle": str(ca_pem)},
        timeouts={"dns": 1, "connect": 1, "tls": 1, "http": 3},
    )
