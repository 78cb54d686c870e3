"""What `probe helper` and `probe collector` share to serve: the listen address, the bound
socket, the TLS files. Errors are raised as the caller's class, naming its config section."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from probe.errors import ProbeError


def parse_listen(listen: str, section: str, error: type[ProbeError]) -> tuple[str, int]:
    """Return (host, port) of "HOST:PORT" ("[::]:8780" for IPv6; port 0: any free port)."""
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise error(f"{section}.listen: {listen!r} is not HOST:PORT (e.g. 0.0.0.0:8780)")
    return host, int(port)


def bind(host: str, port: int, section: str, error: type[ProbeError]) -> socket.socket:
    """Return a listening socket on host:port (IPv6 when the host has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, reuse_port=False)
    except OSError as exc:
        raise error(f"{section}.listen: cannot listen on {host}:{port}: {exc.strerror}") from exc


def tls_options(
    cert: Path | None, key: Path | None, section: str, error: type[ProbeError]
) -> dict[str, str]:
    """Return uvicorn's ssl_* options: none for plain HTTP, both files for HTTPS."""
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise error(f"{section}: set both tls_cert and tls_key to serve HTTPS, or neither")
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


async def serve_on(server: Any, sock: socket.socket, section: str, error: type[ProbeError]) -> None:
    """Run a `uvicorn.Server` on `sock` until it stops; a cancellation finishes what is in
    flight first, as SIGTERM does. The socket is closed on the way out."""
    try:
        await server.serve(sockets=[sock])
    except asyncio.CancelledError:
        if server.started:
            await server.shutdown(sockets=[sock])
        raise
    except SystemExit as exc:  # uvicorn exits when the application fails to start
        raise error(f"{section}: the application failed to start (see the log)") from exc
    finally:
        sock.close()
