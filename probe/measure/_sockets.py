"""Byte streams over sockets we own: plain TCP, and TLS through memory BIOs.

TLS runs on a plain non-blocking socket with `ssl.MemoryBIO`s instead of an asyncio transport:
closing is `sock.close()` and nothing else, so a cancelled, failed or hostile exchange can
neither leave a transport behind (ResourceWarning at loop shutdown) nor hang in a TLS shutdown.
The caller owns the socket and closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import Protocol

_RECV_BYTES = 1 << 16


class ByteStream(Protocol):
    """What the DNS-over-stream code needs: send all, receive some (b"" at EOF)."""

    async def send(self, data: bytes) -> None: ...

    async def recv(self, max_bytes: int) -> bytes: ...


class PlainSocket:
    """A ByteStream over a connected non-blocking TCP socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        # Told the size of every read from the socket (the throughput test's byte counter).
        self.on_receive: Callable[[int], None] | None = None

    @property
    def socket(self) -> socket.socket:
        """Return the underlying socket (its owner closes it)."""
        return self._sock

    async def send(self, data: bytes) -> None:
        """Send all of `data`."""
        await asyncio.get_running_loop().sock_sendall(self._sock, data)

    async def recv(self, max_bytes: int) -> bytes:
        """Return up to `max_bytes` received bytes; b"" when the peer closed."""
        data = await asyncio.get_running_loop().sock_recv(self._sock, max_bytes)
        if data and self.on_receive is not None:
            self.on_receive(len(data))
        return data


class TlsSocket:
    """A TLS client over a connected non-blocking socket (memory BIOs, no transport)."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_name: str) -> None:
        self._sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        # An IP as server_name sends no SNI and makes OpenSSL check the certificate's IP SAN.
        self.tls = context.wrap_bio(
            self._incoming, self._outgoing, server_hostname=server_name or None
        )
        # Told the size of every read from the socket, TLS records included (what a policer
        # shapes), not of the decrypted data, which arrives a whole record at a time.
        self.on_receive: Callable[[int], None] | None = None

    @property
    def socket(self) -> socket.socket:
        """Return the underlying socket (its owner closes it)."""
        return self._sock

    async def _flush(self) -> None:
        pending = self._outgoing.read()
        if pending:
            await asyncio.get_running_loop().sock_sendall(self._sock, pending)

    async def _fill(self) -> None:
        data = await asyncio.get_running_loop().sock_recv(self._sock, _RECV_BYTES)
        if data:
            if self.on_receive is not None:
                self.on_receive(len(data))
            self._incoming.write(data)
        else:
            self._incoming.write_eof()

    async def handshake(self) -> None:
        """Complete the handshake; raises ssl.SSLError (verification included) or OSError."""
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()
            except ssl.SSLError:
                # Send the alert OpenSSL queued (as a browser would) before reporting.
                with contextlib.suppress(OSError):
                    await self._flush()
                raise
        await self._flush()

    async def send(self, data: bytes) -> None:
        """Encrypt and send all of `data`."""
        self.tls.write(data)
        await self._flush()

    async def recv(self, max_bytes: int) -> bytes:
        """Return up to `max_bytes` decrypted bytes; b"" after the peer's close_notify."""
        while True:
            try:
                return self.tls.read(max_bytes)
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()
            except ssl.SSLZeroReturnError:
                return b""


async def read_exactly(stream: ByteStream, size: int) -> bytes:
    """Return exactly `size` bytes from `stream`; raises EOFError if it ends first."""
    data = bytearray()
    while len(data) < size:
        chunk = await stream.recv(size - len(data))
        if not chunk:
            raise EOFError(f"the peer closed after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)
