"""Running the helper: uvicorn on `[helper] listen`, HTTPS when a certificate is configured."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any

import uvicorn

from probe import serving
from probe.config import Settings
from probe.errors import ConfigError, HelperError
from probe.helper.app import create_app
from probe.helper.context import check_settings, request_budget_s

logger = logging.getLogger("probe.helper")


def parse_listen(listen: str) -> tuple[str, int]:
    """Return (host, port) of "HOST:PORT" ("[::]:8780" for IPv6); raise ConfigError if invalid
    (exit 2 in `probe helper` as in `probe collector`, issue 20)."""
    return serving.parse_listen(listen, "helper", ConfigError)


def _bind(host: str, port: int) -> socket.socket:
    return serving.bind(host, port, "helper", ConfigError)


def _tls_options(settings: Settings) -> dict[str, Any]:
    return serving.tls_options(settings.helper.tls_cert, settings.helper.tls_key, "helper",
                               ConfigError)  # fmt: skip


def _config(settings: Settings, app: Any) -> uvicorn.Config:
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,  # the application decides how logs look; uvicorn adds no handlers
        access_log=False,  # client addresses are the probes': we do not log them
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=int(request_budget_s(settings)) + 1,
        **_tls_options(settings),
    )
    try:
        config.load()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"helper: cannot load tls_cert/tls_key: {exc}") from exc
    return config


class _Server(uvicorn.Server):
    """A uvicorn server that sets `ready` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, ready: asyncio.Event | None) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._ready is not None:
            self._ready.set()


async def serve(
    settings: Settings, listen: str | None = None, ready: asyncio.Event | None = None
) -> None:
    """Return when the helper stops: serve the test-helper protocol on `listen` until cancelled.

    `listen` ("HOST:PORT") overrides `[helper] listen`; `ready` is set once connections are
    accepted. Cancelling the task shuts the server down gracefully, as SIGINT/SIGTERM do. Raises
    ConfigError when the address is not HOST:PORT or cannot be bound, the certificate cannot be
    loaded or the ASN database cannot be opened; HelperError when the application fails.
    """
    check_settings(settings)
    app = create_app(settings)
    config = _config(settings, app)
    host, port = parse_listen(listen or settings.helper.listen)
    sock = _bind(host, port)
    bound = sock.getsockname()
    scheme = "https" if config.is_ssl else "http"
    logger.info("helper listening on %s://%s:%d", scheme, host, bound[1])
    server = _Server(config, ready)
    await serving.serve_on(server, sock, "helper", HelperError)
