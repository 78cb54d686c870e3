"""Connections a step opened and kept, lent to httpx so the request reuses them.

One attempt makes one connection per address: the TCP connect (http://) or the TLS handshake
(https://) to the address the fetch will use is kept open (`Held`), and the depth-0 request goes
over it (`Connection`, an httpcore network stream; `LendingTransport`, httpx's transport with that
stream as its only connection). A censor then sees one ClientHello per attempt, as with OONI's
webconnectivitylte, and a volunteer's probe makes half the connections.

The stream maps errors as httpcore's own anyio backend does (OSError → ReadError/WriteError, our
deadline → ReadTimeout/WriteTimeout, an unclean TLS EOF → end of stream), so a transaction over
a lent connection records the same failures and `x_failed_operation` as one over a new
connection.
"""

# httpcore's stream and backend interfaces take `timeout` parameters: implemented, not chosen.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import httpcore
import httpx

from probe.measure._sockets import PlainSocket, TlsSocket

T = TypeVar("T")


class Connection(httpcore.AsyncNetworkStream):
    """An open connection to ip:port (TCP, or TLS verified for `server_name`) httpcore can use.

    `close()` is idempotent and synchronous: closing the socket is all there is to it (TLS runs
    over memory BIOs, there is no transport), so a cancelled owner can always close it.
    """

    def __init__(
        self, stream: PlainSocket | TlsSocket, ip: str, port: int, server_name: str | None = None
    ) -> None:
        self._stream = stream
        self.ip = ip.strip("[]")
        self.port = port
        self.server_name = server_name if isinstance(stream, TlsSocket) else None

    @property
    def socket(self) -> socket.socket:
        """Return the underlying socket."""
        return self._stream.socket

    def count_received(self, counter: Callable[[int], None]) -> None:
        """Tell `counter` the size of every read from the socket from now on."""
        self._stream.on_receive = counter

    def close(self) -> None:
        """Close the connection (again is a no-op)."""
        self._stream.socket.close()

    def serves(self, request: httpx.Request) -> bool:
        """Return whether `request` goes to this connection's address, scheme and server name."""
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        if url.raw_host.decode("ascii") != self.ip or port != self.port:
            return False
        if url.scheme == "https":
            sni = request.extensions.get("sni_hostname") or url.raw_host.decode("ascii")
            return self.server_name is not None and sni == self.server_name
        return url.scheme == "http" and self.server_name is None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Return up to `max_bytes` bytes; b"" at the end of the stream."""
        try:
            return await _bounded(
                self._stream.recv(max_bytes), timeout, httpcore.ReadError, httpcore.ReadTimeout
            )
        except httpcore.ReadError as exc:
            # A TCP FIN without close_notify ends the stream, as httpcore's anyio backend
            # (standard_compatible=False) treats it: a close-delimited body is then complete.
            if isinstance(exc.__cause__, ssl.SSLEOFError):
                return b""
            raise

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Send all of `buffer`."""
        if buffer:
            await _bounded(
                self._stream.send(buffer), timeout, httpcore.WriteError, httpcore.WriteTimeout
            )

    async def aclose(self) -> None:
        """Close the connection."""
        self.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Return this connection: its TLS handshake is done (and was verified and recorded)."""
        if self.server_name is None or server_hostname != self.server_name:
            raise RuntimeError(
                f"connection to {self.ip}:{self.port} verified for {self.server_name!r}"
                f" asked to serve {server_hostname!r} (Connection.serves() was not checked)"
            )
        return self

    def get_extra_info(self, info: str) -> Any:
        """Return what httpcore and our recorder ask for: ssl_object, server_addr, socket."""
        if info == "ssl_object":
            return self._stream.tls if isinstance(self._stream, TlsSocket) else None
        if info == "server_addr":
            return (self.ip, self.port)  # known even after a RST, unlike getpeername()
        if info == "socket":
            return self._stream.socket
        return None


async def _bounded(
    operation: Awaitable[T],
    timeout_s: float | None,
    error: type[httpcore.NetworkError],
    timed_out: type[httpcore.TimeoutException],
) -> T:
    """Return the result of `operation` within `timeout_s`, its errors as httpcore's."""
    deadline = asyncio.timeout(timeout_s)
    try:
        async with deadline:
            return await operation
    except OSError as exc:
        if deadline.expired():
            raise timed_out(str(exc)) from exc
        # The errno stays in __cause__: failure_string() classifies by walking down to it, and
        # a kernel ETIMEDOUT stays "timed_out", not our deadline's generic_timeout_error.
        raise error(str(exc)) from exc


class _Lender(httpcore.AsyncNetworkBackend):
    """A network backend whose one "connect" hands out an already open connection."""

    def __init__(self, connection: Connection) -> None:
        self._connection: Connection | None = connection

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Return the lent connection (once; it must be to host:port)."""
        connection, self._connection = self._connection, None
        if connection is None or (host.strip("[]"), port) != (connection.ip, connection.port):
            raise RuntimeError(f"no open connection to lend for {host}:{port}")
        return connection

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never used: the lent connection is TCP."""
        raise RuntimeError("no unix socket to lend")

    async def sleep(self, seconds: float) -> None:
        """Sleep (httpcore's retry back-off; we make no retries)."""
        await asyncio.sleep(seconds)


class LendingTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (its exception mapping, its response streams) over one connection."""

    def __init__(self, connection: Connection) -> None:
        # Never handshakes: start_tls() returns the connection that is already TLS. A context
        # without roots, so that a bug which made it handshake could verify nothing.
        inert = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)
        super().__init__(verify=inert, trust_env=False, limits=limits)
        # httpx takes no network backend, so its (still unused) pool is replaced by one with
        # ours; the pool is httpcore's public API. HTTP/2 is used when the handshake
        # negotiated h2 (httpcore follows the ALPN of the stream), as a browser would.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=inert,
            max_connections=1,
            max_keepalive_connections=0,
            network_backend=_Lender(connection),
        )


class Held:
    """The connections one attempt's steps kept open, by address; `close()` ends what is left."""

    def __init__(self) -> None:
        self._by_address: dict[str, Connection] = {}

    def keep(self, address: str, connection: Connection) -> None:
        """Hold `connection` (to `address`) until it is used or closed."""
        previous = self._by_address.pop(address, None)
        if previous is not None:
            previous.close()
        self._by_address[address] = connection

    def keep_stream(
        self,
        address: str,
        stream: PlainSocket | TlsSocket,
        ip: str,
        port: int,
        server_name: str | None = None,
    ) -> None:
        """Hold a connected socket (TLS when `server_name` is given) to `ip`, as a Connection
        httpx can send the attempt's first request over."""
        self.keep(address, Connection(stream, ip, port, server_name=server_name))

    def get(self, address: str) -> Connection | None:
        """Return the connection held to `address`, if any (it stays held: close() ends it)."""
        return self._by_address.get(address)

    def retain(self, address: str | None) -> None:
        """Close every held connection but the one to `address`."""
        for other in [a for a in self._by_address if a != address]:
            self._by_address.pop(other).close()

    def close(self) -> None:
        """Close every held connection."""
        self.retain(None)
