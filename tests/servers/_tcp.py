"""Loopback TCP listeners: a base for stream servers, and hostile ones (silent, RST, blackhole)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct

from ._loop import ServerLoop

# What a vanished client makes a server handler raise: never a test failure.
PEER_GONE = (ConnectionError, OSError, EOFError, ssl.SSLError)


def reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a RST (SO_LINGER 0), as a censor's middlebox would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def format_address(host: str, port: int) -> str:
    """Return "host:port", bracketing an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class StreamServer:
    """A TCP (optionally TLS) listener on `host`, port 0, whose `handle()` serves a connection.

    Every connection is tracked, so `close()` ends them all: a test never leaks a socket.
    """

    def __init__(
        self,
        loop: ServerLoop,
        *,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.server_loop = loop
        self.host = host
        self.ssl_context = ssl_context
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        """Return "host:port" of the listener."""
        return format_address(self.host, self.port)

    def start(self) -> StreamServer:
        """Start listening; return self."""
        self._server = self.server_loop.run(
            asyncio.start_server(self._serve, self.host, 0, ssl=self.ssl_context)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self.handle(reader, writer)
        except PEER_GONE:
            pass
        except asyncio.CancelledError:
            # Shutting down. Python 3.11's start_server callback calls task.exception() on
            # the handler task, which raises for a cancelled task: end normally instead.
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.transport.abort()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection (subclasses override)."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop listening and end every connection."""
        if self._server is not None:
            self.server_loop.run(self._close())
            self._server = None

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def __enter__(self) -> StreamServer:
        return self.start() if self._server is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SilentServer(StreamServer):
    """Accepts TCP, reads everything and never answers (a TLS or HTTP timeout)."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass


class ResetServer(StreamServer):
    """Accepts TCP, reads the first bytes (a ClientHello, a request) and answers with a RST."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        reset(writer)


def closed_port(host: str = "127.0.0.1") -> int:
    """Return a port nothing listens on (a connect is refused), freshly released by the OS."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Blackhole:
    """A port whose SYNs are dropped: a connect there hangs until the client's deadline.

    A listener with backlog 0 whose accept queue is kept full: Linux then drops new SYNs, which
    is how a censor's silent drop looks from the client (no RST, no ICMP).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((host, 0))
        self._listener.listen(0)
        self.port = int(self._listener.getsockname()[1])
        self._filler = socket.create_connection((host, self.port), timeout=5)

    @property
    def address(self) -> str:
        """Return "host:port"."""
        return format_address(self.host, self.port)

    def close(self) -> None:
        """Close the filler connection and the listener."""
        self._filler.close()
        self._listener.close()
