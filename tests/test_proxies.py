"""servers._proxy: uploads through the loopback HTTP and SOCKS5 proxies, and FaultRelay faults.

Clients are real httpx AsyncClients (trust_env=False, so no proxy comes from the environment);
refused targets are non-loopback names and TEST-NET addresses the proxies never connect to.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from servers import (
    FaultRelay,
    HttpProxy,
    HttpRequest,
    HttpServer,
    ServerLoop,
    Socks5Proxy,
    StreamServer,
    TestPki,
    head,
    json_response,
)
from servers._proxy import MODES, Mode  # the module under test: its mode names

UPLOAD = "/proxy-test-upload"
MIB = bytes(range(256)) * 4096  # 1 MiB
CHUNKS = (1, 4096, 65536, 100_000, 7)


async def upload_digest(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
    """A route answering with what arrived: target, body length and SHA-256, Connection."""
    document = {
        "target": request.target,
        "length": len(request.body),
        "sha256": hashlib.sha256(request.body).hexdigest(),
        "connection": request.header("Connection"),
    }
    await json_response(document)(request, writer)


class ChunkedOrigin(StreamServer):
    """An origin that decodes a chunked (or Content-Length) request body, HttpServer does not.

    Answers with the same document as `upload_digest`, plus the request's Transfer-Encoding.
    """

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines = (await reader.readuntil(b"\r\n\r\n"))[:-4].decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
        body = bytearray()
        if fields.get("transfer-encoding") == "chunked":
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += await reader.readexactly(size)
                await reader.readexactly(2)
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
        else:
            body += await reader.readexactly(int(fields.get("content-length", "0")))
        document = {
            "target": lines[0].split(" ")[1],
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "connection": fields.get("connection"),
            "transfer_encoding": fields.get("transfer-encoding"),
        }
        payload = json.dumps(document).encode()
        writer.write(head(200, [("Content-Length", str(len(payload)))], "OK") + payload)
        await writer.drain()
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(2):
                await writer.wait_closed()


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def _post(
    url: str,
    content: bytes | AsyncIterator[bytes],
    *,
    proxy: str | None = None,
    verify: ssl.SSLContext | None = None,
    timeout: httpx.Timeout | float = 5.0,
) -> httpx.Response:
    async def run() -> httpx.Response:
        async with httpx.AsyncClient(
            proxy=proxy, verify=verify or True, trust_env=False, timeout=timeout
        ) as client:
            return await client.post(url, content=content)

    return asyncio.run(run())


def _digest(body: bytes) -> dict[str, Any]:
    return {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def _received(response: httpx.Response) -> dict[str, Any]:
    """Return the length and SHA-256 of the body the origin received (from upload_digest)."""
    document = response.json()
    return {"length": document["length"], "sha256": document["sha256"]}


async def _chunked_body() -> AsyncIterator[bytes]:
    for size in CHUNKS:
        yield b"z" * size


@pytest.fixture
def upload_servers(http_server: HttpServer, https_server: HttpServer) -> None:
    http_server.route(UPLOAD, upload_digest)
    https_server.route(UPLOAD, upload_digest)


@pytest.fixture
def client_tls(pki: TestPki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca_pem))


@pytest.fixture
def http_proxy(server_loop: ServerLoop) -> Iterator[HttpProxy]:
    with HttpProxy(server_loop) as proxy:
        yield proxy


@pytest.fixture
def socks_proxy(server_loop: ServerLoop) -> Iterator[Socks5Proxy]:
    with Socks5Proxy(server_loop) as proxy:
        yield proxy


@pytest.fixture
def relay(server_loop: ServerLoop, http_server: HttpServer) -> Iterator[FaultRelay]:
    http_server.route(UPLOAD, upload_digest)
    with FaultRelay(server_loop, (http_server.host, http_server.port)) as fault_relay:
        yield fault_relay


# --- HttpProxy ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_http_proxy_tunnels_https_with_connect(
    upload_servers: None,
    https_server: HttpServer,
    http_proxy: HttpProxy,
    client_tls: ssl.SSLContext,
    host: str,
) -> None:
    url = https_server.url(f"{UPLOAD}?case=connect", host=host)
    response = _post(url, MIB, proxy=http_proxy.url(), verify=client_tls)
    assert response.status_code == 200
    assert _received(response) == _digest(MIB)
    assert http_proxy.methods == ["CONNECT"]
    assert http_proxy.targets == [f"{host}:{https_server.port}"]
    assert (http_proxy.connections, http_proxy.refused) == (1, [])


def test_http_proxy_forwards_absolute_form_with_content_length(
    upload_servers: None, http_server: HttpServer, http_proxy: HttpProxy
) -> None:
    response = _post(http_server.url(f"{UPLOAD}?case=absolute"), MIB, proxy=http_proxy.url())
    assert response.status_code == 200
    assert response.headers["connection"] == "close"
    assert response.json() == {
        "target": f"{UPLOAD}?case=absolute",  # origin-form at the origin
        "connection": "close",
        **_digest(MIB),
    }
    assert (http_proxy.methods, http_proxy.targets) == (["POST"], [http_server.address])


def test_http_proxy_forwards_a_chunked_body(server_loop: ServerLoop, http_proxy: HttpProxy) -> None:
    with ChunkedOrigin(server_loop) as origin:
        url = f"http://{origin.address}/chunked?case=1"
        response = _post(url, _chunked_body(), proxy=http_proxy.url())
    assert response.status_code == 200
    assert response.json() == {
        "target": "/chunked?case=1",
        "connection": "close",
        "transfer_encoding": "chunked",
        **_digest(b"".join(b"z" * size for size in CHUNKS)),
    }
    assert http_proxy.methods == ["POST"]


# --- Socks5Proxy ----------------------------------------------------------------------------

SOCKS_CASES = {
    # name: (proxy scheme, URL host, address type the proxy receives)
    "socks5 with an IPv4 literal": ("socks5", "127.0.0.1", "ipv4"),
    "socks5h with localhost": ("socks5h", "localhost", "domain"),
    # httpx never resolves locally, socks5:// included: the name reaches the proxy too.
    "socks5 with localhost": ("socks5", "localhost", "domain"),
}


@pytest.mark.parametrize("case", SOCKS_CASES)
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_socks5_proxy_connects(
    upload_servers: None,
    http_server: HttpServer,
    https_server: HttpServer,
    socks_proxy: Socks5Proxy,
    client_tls: ssl.SSLContext,
    case: str,
    tls: bool,
) -> None:
    scheme, host, address_type = SOCKS_CASES[case]
    server = https_server if tls else http_server
    url = server.url(f"{UPLOAD}?case=socks", host=host)
    response = _post(url, MIB, proxy=socks_proxy.url(scheme), verify=client_tls)  # type: ignore[arg-type]
    assert response.status_code == 200, case
    assert _received(response) == _digest(MIB), case
    assert socks_proxy.targets == [f"{host}:{server.port}"], case
    assert socks_proxy.address_types == [address_type], case
    assert (socks_proxy.connections, socks_proxy.refused) == (1, []), case


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this host has no IPv6 loopback (::1)")
def test_socks5_proxy_connects_to_ipv6(server_loop: ServerLoop, socks_proxy: Socks5Proxy) -> None:
    server = HttpServer(server_loop, host="::1")
    with server:
        server.route(UPLOAD, upload_digest)
        response = _post(server.url(UPLOAD), b"six", proxy=socks_proxy.url("socks5h"))
    assert _received(response) == _digest(b"six")
    assert (socks_proxy.targets, socks_proxy.address_types) == ([server.address], ["ipv6"])


# --- refusals: no proxy ever connects outside loopback --------------------------------------


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://192.0.2.1/upload", "192.0.2.1:443"),
        ("https://example.invalid/", "example.invalid:443"),
    ],
)
def test_http_proxy_refuses_connect_outside_loopback(
    http_proxy: HttpProxy, url: str, target: str
) -> None:
    with pytest.raises(httpx.ProxyError, match="403"):
        _post(url, b"secret", proxy=http_proxy.url())
    assert (http_proxy.refused, http_proxy.methods) == ([target], ["CONNECT"])


def test_http_proxy_refuses_absolute_form_outside_loopback(http_proxy: HttpProxy) -> None:
    response = _post("http://192.0.2.1:8080/upload", MIB, proxy=http_proxy.url())
    assert response.status_code == 403  # answered at once: a connect would have hung
    assert http_proxy.refused == ["192.0.2.1:8080"]


def _socks_connect(proxy: Socks5Proxy, atyp: int, address: bytes, port: int) -> bytes:
    """Ask `proxy` to CONNECT (no auth) by hand; return its reply's VER and REP bytes.

    Not through httpx: httpcore 1.0.9 leaves its socket to the proxy open when the SOCKS
    handshake fails (ProxyError), an unclosed-socket warning under `-W error`.
    """
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        sock.sendall(bytes([5, 1, 0, atyp]) + address + port.to_bytes(2, "big"))
        return sock.recv(2)


@pytest.mark.parametrize(
    ("atyp", "address", "target"),
    [
        (1, bytes([192, 0, 2, 1]), "192.0.2.1:80"),
        (3, b"\x0fexample.invalid", "example.invalid:80"),
        (3, b"\x0flocalhost.local", "localhost.local:80"),  # a name is never looked up
        (4, bytes.fromhex("20010db8" + "0" * 23 + "1"), "[2001:db8::1]:80"),
    ],
)
def test_socks5_proxy_refuses_outside_loopback(
    socks_proxy: Socks5Proxy, atyp: int, address: bytes, target: str
) -> None:
    assert _socks_connect(socks_proxy, atyp, address, 80) == b"\x05\x02"  # not allowed
    assert (socks_proxy.targets, socks_proxy.refused) == ([target], [target])


# --- FaultRelay -------------------------------------------------------------------------------

FAULTS: dict[Mode, dict[str, Any]] = {
    # mode: what the async httpx client raises, whether the server got the whole request,
    # and the relay's events for the connection (up to the client's error).
    "reset_mid_request": {
        "error": (httpx.ReadError,),
        "stored": False,
        "events": ["accepted", "cut", "client reset"],
    },
    "drop_response": {
        "error": (httpx.ReadError,),
        "stored": True,
        "events": ["accepted", "response withheld", "client reset"],
    },
    # A RST racing the end of the client's connect shows as a ConnectError now and then.
    "refuse": {
        "error": (httpx.ReadError, httpx.ConnectError),
        "stored": False,
        "events": ["accepted", "client reset"],
    },
    "hang": {"error": (httpx.ReadTimeout,), "stored": False, "events": ["accepted"]},
}


@pytest.mark.parametrize("mode", FAULTS)
def test_fault_relay_modes(http_server: HttpServer, relay: FaultRelay, mode: Mode) -> None:
    expected = FAULTS[mode]
    relay.mode = mode
    target = f"{UPLOAD}?case=relay-{mode}"
    timeout = httpx.Timeout(5.0, read=0.3)  # only "hang" waits for it
    with pytest.raises(httpx.TransportError) as caught:
        _post(f"http://{relay.address}{target}", MIB, timeout=timeout)
    assert isinstance(caught.value, expected["error"]), f"{mode}: {caught.value!r}"
    stored = [r for r in http_server.requests if r.target == target]
    if expected["stored"]:
        assert [r.body == MIB for r in stored] == [True], f"{mode}: stored"
    else:
        assert stored == [], f"{mode}: stored"
    assert relay.events_of(1)[: len(expected["events"])] == expected["events"], mode
    assert relay.connections_by_mode == Counter({mode: 1}), mode


def test_fault_relay_cuts_after_the_set_byte_count(relay: FaultRelay) -> None:
    relay.mode, relay.cut_after = "reset_mid_request", 100  # inside the request head
    with pytest.raises(httpx.ReadError):
        _post(f"http://{relay.address}{UPLOAD}", MIB)
    cut = next(event for event in relay.events if event.what == "cut")
    assert (cut.up, cut.down) == (100, 0)


def test_fault_relay_passes_and_changes_mode_between_connections(
    http_server: HttpServer, relay: FaultRelay
) -> None:
    url = f"http://{relay.address}{UPLOAD}?case=relay-switch"
    assert _received(_post(url, MIB)) == _digest(MIB)
    relay.mode = "drop_response"
    with pytest.raises(httpx.ReadError):
        _post(url, b"lost ack")
    relay.mode = "pass"
    assert _post(url, b"after").json()["length"] == 5
    assert relay.connections_by_mode == Counter({"pass": 2, "drop_response": 1})
    bodies = [r.body for r in http_server.requests if r.target == f"{UPLOAD}?case=relay-switch"]
    assert bodies == [MIB, b"lost ack", b"after"]


@pytest.mark.parametrize("proxy_kind", ["http", "socks5h"])
def test_fault_through_a_proxy_reaches_the_client(
    http_server: HttpServer,
    relay: FaultRelay,
    http_proxy: HttpProxy,
    socks_proxy: Socks5Proxy,
    proxy_kind: str,
) -> None:
    relay.mode = "drop_response"
    proxy = http_proxy.url() if proxy_kind == "http" else socks_proxy.url("socks5h")
    target = f"{UPLOAD}?case=proxied-drop-{proxy_kind}"
    with pytest.raises(httpx.ReadError):  # the proxies pass a RST on as a RST
        _post(f"http://localhost:{relay.port}{target}", MIB, proxy=proxy)
    assert [r.body == MIB for r in http_server.requests if r.target == target] == [True]


def test_fault_relay_rejects_what_it_cannot_do(server_loop: ServerLoop, relay: FaultRelay) -> None:
    with pytest.raises(ValueError, match="mode"):
        relay.mode = "drop"  # type: ignore[assignment]
    assert relay.mode == "pass" and set(MODES) == {"pass", *FAULTS}
    with pytest.raises(ValueError, match="loopback"):
        FaultRelay(server_loop, ("192.0.2.1", 80))


def test_fault_relay_close_ends_hung_connections(server_loop: ServerLoop, closed_port: int) -> None:
    fault_relay = FaultRelay(server_loop, ("127.0.0.1", closed_port), mode="hang").start()
    with socket.create_connection(("127.0.0.1", fault_relay.port), timeout=5) as client:
        client.sendall(b"POST / HTTP/1.1\r\n")
        fault_relay.close()
        with contextlib.suppress(ConnectionResetError):
            assert client.recv(1) == b""  # ended by close(), not by the 5 s timeout
