"""measure._connection: a kept connection lent to httpx records what a new connection would.

The request over a connection the connect or handshake step kept must fail, time out and read
bodies exactly as httpx over its own connection does: decide/ reads `failure` and
`x_failed_operation` the same way whichever connection carried the request.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpcore
import pytest
from servers import HttpServer, ServerLoop, StreamServer, TestPki

from probe.measure import http, tcp, tls
from probe.measure._clock import Clock
from probe.measure._connection import Connection, Held
from probe.measure._sockets import PlainSocket
from probe.measure.failures import failure_string
from probe.measure.tls import TrustStore
from probe.models.observations import HttpTransaction

CAP = 64 << 10
LIMIT = 1 << 20
H2_BODY = b"<html><head><title>Over HTTP/2</title></head><body>h2</body></html>"


async def _open(trust: TrustStore, port: int, server_name: str | None) -> Connection:
    """Return a kept connection to 127.0.0.1:port, as the connect or handshake step keeps it."""
    if server_name is None:
        _, sock = await tcp.open_socket("127.0.0.1", port, timeout_s=2, clock=Clock(), tags=[])
        assert sock is not None
        return Connection(PlainSocket(sock), "127.0.0.1", port)
    _, observation, stream = await tls.open_tls(
        "127.0.0.1",
        port,
        server_name,
        trust=trust,
        connect_timeout_s=2,
        tls_timeout_s=2,
        clock=Clock(),
        tags=[],
    )
    assert stream is not None, observation.failure
    return Connection(stream, "127.0.0.1", port, server_name=server_name)


def _request(
    trust: TrustStore, url: str, *, lent: bool, server_name: str | None, timeout_s: float = 5.0
) -> HttpTransaction:
    port = int(url.split(":")[2].split("/")[0])

    async def run() -> HttpTransaction:
        connection = await _open(trust, port, server_name) if lent else None
        async with http.make_client(trust) as client:
            return await http.request(
                client,
                url,
                "127.0.0.1",
                timeout_s=timeout_s,
                body_cap_bytes=CAP,
                body_read_limit_bytes=LIMIT,
                clock=Clock(),
                tags=["attempt=1", "depth=0"],
                connection=connection,
            )

    return asyncio.run(run())


def _comparable(transaction: HttpTransaction) -> dict[str, Any]:
    """Return the record without its timings."""
    return transaction.model_dump(exclude={"t0", "t"})


PATHS = ["/page", "/gzip", "/redirect", "/status/500", "/reset", "/close", "/reset-body", "/drip"]


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("path", PATHS)
def test_a_lent_connection_records_what_a_new_one_records(
    scheme: str,
    path: str,
    http_server: HttpServer,
    https_server: HttpServer,
    trust_store: TrustStore,
) -> None:
    server = https_server if scheme == "https" else http_server
    server_name = "trusted.test" if scheme == "https" else None
    url = server.url(path, host="trusted.test")
    before = len(server.requests)
    fresh = _request(trust_store, url, lent=False, server_name=server_name, timeout_s=1.2)
    lent = _request(trust_store, url, lent=True, server_name=server_name, timeout_s=1.2)
    assert len(server.requests) == before + 2
    assert _comparable(lent) == _comparable(fresh), f"{scheme} {path}: records differ"


def test_a_reset_after_the_request_is_a_read_failure(
    https_server: HttpServer, trust_store: TrustStore
) -> None:
    got = _request(
        trust_store, https_server.url("/reset", host="trusted.test"), lent=True,
        server_name="trusted.test",
    )  # fmt: skip
    assert (got.failure, got.x_failed_operation, got.response) == ("connection_reset", "read", None)
    assert got.address == f"127.0.0.1:{https_server.port}"


def test_a_connection_that_does_not_fit_is_closed_and_a_new_one_made(
    https_server: HttpServer, trust_store: TrustStore
) -> None:
    """A handshake for one name never carries a request for another (its SNI, its check)."""

    async def run() -> tuple[HttpTransaction, Connection]:
        connection = await _open(trust_store, https_server.port, "trusted.test")
        async with http.make_client(trust_store) as client:
            got = await http.request(
                client,
                https_server.url("/echo", host="rsa.test"),
                "127.0.0.1",
                timeout_s=5,
                body_cap_bytes=CAP,
                body_read_limit_bytes=LIMIT,
                clock=Clock(),
                tags=[],
                connection=connection,
            )
        return got, connection

    got, connection = asyncio.run(run())
    assert got.failure is None and got.response is not None
    assert https_server.requests[-1].server_name == "rsa.test"
    assert connection.socket.fileno() == -1, "the unused connection is closed"


# --- the stream's error mapping (what httpcore's anyio backend does) ----------------------------


def _rst(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def _pair() -> tuple[Connection, socket.socket, socket.socket]:
    """Return a kept plain connection, the server's side of it and the listener."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    _, sock = await tcp.open_socket("127.0.0.1", port, timeout_s=2, clock=Clock(), tags=[])
    assert sock is not None
    peer, _ = listener.accept()
    return Connection(PlainSocket(sock), "127.0.0.1", port), peer, listener


def test_a_reset_while_reading_is_a_read_error_with_the_errno() -> None:
    async def run() -> BaseException:
        connection, peer, listener = await _pair()
        try:
            _rst(peer)
            with pytest.raises(httpcore.ReadError) as caught:
                await connection.read(1024, timeout=2)
            return caught.value
        finally:
            connection.close()
            listener.close()

    assert failure_string(asyncio.run(run())) == "connection_reset"


def test_a_reset_while_writing_is_a_write_error_with_the_errno() -> None:
    async def run() -> BaseException:
        connection, peer, listener = await _pair()
        try:
            _rst(peer)
            await asyncio.sleep(0.05)  # the RST has arrived
            with pytest.raises(httpcore.WriteError) as caught:
                for _ in range(4):  # the first send may still be buffered
                    await connection.write(b"GET / HTTP/1.1\r\n\r\n", timeout=2)
            return caught.value
        finally:
            connection.close()
            listener.close()

    assert failure_string(asyncio.run(run())) == "connection_reset"


def test_our_deadline_is_a_read_timeout() -> None:
    async def run() -> None:
        connection, peer, listener = await _pair()
        try:
            with pytest.raises(httpcore.ReadTimeout):
                await connection.read(1024, timeout=0.05)
        finally:
            connection.close()
            peer.close()
            listener.close()

    asyncio.run(run())


def test_a_tls_stream_cut_without_close_notify_just_ends(
    server_loop: ServerLoop, pki: TestPki, trust_store: TrustStore
) -> None:
    """A FIN without close_notify ends the stream (a close-delimited body is complete)."""

    class CloseAfterHandshake(StreamServer):
        async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.transport.abort()  # no close_notify

    async def run(port: int) -> bytes:
        connection = await _open(trust_store, port, "trusted.test")
        try:
            return await connection.read(1024, timeout=2)
        finally:
            connection.close()

    with CloseAfterHandshake(server_loop, ssl_context=pki.server_context()) as server:
        assert asyncio.run(run(server.port)) == b""


def test_held_keeps_one_connection_and_closes_the_rest() -> None:
    async def run() -> list[int]:
        pairs = [await _pair() for _ in range(3)]
        held = Held()
        for number, (connection, _, _) in enumerate(pairs):
            held.keep(f"192.0.2.{number}", connection)
        held.retain("192.0.2.1")
        kept = held.get("192.0.2.1")
        after_retain = [c.socket.fileno() for c, _, _ in pairs]
        held.close()
        for _, peer, listener in pairs:
            peer.close()
            listener.close()
        assert kept is pairs[1][0] and held.get("192.0.2.0") is None
        assert kept.socket.fileno() == -1, "close() ends the kept one too"
        return after_retain

    first, second, third = asyncio.run(run())
    assert first == -1 and third == -1 and second != -1


# --- HTTP/2: what a server choosing h2 in the recorded handshake gets ---------------------------


class H2Server(StreamServer):
    """HTTPS offering only ALPN h2; answers every request with H2_BODY (one DATA frame)."""

    def __init__(self, loop: ServerLoop, pki: TestPki) -> None:
        super().__init__(loop, ssl_context=pki.server_context(alpn=("h2",)))
        self.requests: list[dict[str, str]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        connection = h2.connection.H2Connection(config=config)
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        while data := await reader.read(65536):
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.RequestReceived) and event.stream_id is not None:
                    self.requests.append({str(k): str(v) for k, v in event.headers or []})
                    headers = [
                        (":status", "200"),
                        ("content-type", "text/html"),
                        ("content-length", str(len(H2_BODY))),
                    ]
                    connection.send_headers(event.stream_id, headers)
                    connection.send_data(event.stream_id, H2_BODY, end_stream=True)
            writer.write(connection.data_to_send())
            await writer.drain()


def test_a_handshake_that_chose_h2_carries_the_request_over_http2(
    server_loop: ServerLoop, pki: TestPki, trust_store: TrustStore
) -> None:
    with H2Server(server_loop, pki) as server:
        url = f"https://trusted.test:{server.port}/h2"
        got = _request(trust_store, url, lent=True, server_name="trusted.test")
        assert got.failure is None and got.response is not None, got.failure
        assert (got.alpn, got.response.code, got.response.x_title) == ("h2", 200, "Over HTTP/2")
        assert got.address == f"127.0.0.1:{server.port}"
        (sent,) = server.requests
        assert sent[":authority"] == f"trusted.test:{server.port}" and sent[":path"] == "/h2"
        assert sent["user-agent"] == http.user_agent()


def test_a_lent_tls_connection_serves_only_the_name_it_was_verified_for(
    https_server: HttpServer, trust_store: TrustStore
) -> None:
    async def run() -> None:
        connection = await _open(trust_store, https_server.port, "trusted.test")
        unused = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            assert await connection.start_tls(unused, "trusted.test") is connection
            with pytest.raises(RuntimeError):
                await connection.start_tls(unused, "rsa.test")
        finally:
            connection.close()

    asyncio.run(run())
