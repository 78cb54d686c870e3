"""A reverse proxy in front of the helper, as docs/helper.md recommends (nginx, Caddy).

Like nginx's `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`, it appends the
address it received the connection from to any X-Forwarded-For the client sent, and forwards
the request to the helper from 127.0.0.1. `client_as` replaces the appended address: the proxy
then stands in for the internet between a probe and its helper, where the probe is seen with a
public address (a NAT's) that the helper must echo.
"""

from __future__ import annotations

import asyncio

from servers import ServerLoop, StreamServer


class ReverseProxy(StreamServer):
    """HTTP/1.1 reverse proxy on 127.0.0.1 (port 0) to `upstream` ("host:port")."""

    def __init__(self, loop: ServerLoop, upstream: str, client_as: str | None = None) -> None:
        super().__init__(loop)
        self.upstream = upstream
        self.client_as = client_as

    def _head(self, head: bytes, peer: str) -> bytes:
        lines = head.decode("latin-1").split("\r\n")
        forwarded = [ln.split(":", 1)[1].strip() for ln in lines[1:]
                     if ln.lower().startswith("x-forwarded-for:")]  # fmt: skip
        kept = [ln for ln in lines[1:] if ln and not ln.lower().startswith(
            ("x-forwarded-for:", "connection:"))]  # fmt: skip
        chain = ", ".join([*forwarded, self.client_as or peer])
        out = [lines[0], *kept, f"X-Forwarded-For: {chain}", "Connection: close", "", ""]
        return "\r\n".join(out).encode("latin-1")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        body = await reader.readexactly(length)
        peer = str(writer.get_extra_info("peername")[0])
        host, _, port = self.upstream.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        up_writer.write(self._head(head[:-4], peer) + body)
        await up_writer.drain()
        writer.write(await up_reader.read())
        up_writer.close()
        await writer.drain()
