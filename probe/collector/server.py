"""Running the collector: uvicorn on `[collector] listen`, HTTPS when a certificate is set."""

from __future__ import annotations

import gc
import logging
import socket
import ssl
from typing import Any

import uvicorn

from probe import serving
from probe.collector.app import create_app
from probe.collector.storage import CollectorStore
from probe.config import CollectorSettings
from probe.errors import ConfigError

logger = logging.getLogger("probe.collector")
_GRACEFUL_SHUTDOWN_S = 30  # an upload in flight is finished (and acknowledged) before exit
# A 1 MiB bundle is validated into ~10^5 (acyclic) objects that live until it is stored, and
# CPython's cyclic GC traversed them again as they aged: measured, a third of the CPU of an
# upload (bench/README.md, "The collector"). Collecting the youngest generation less often
# and freezing what start-up made (modules, routes) out of full collections cut it by 24 %.
# Reference counting still frees each bundle's objects as soon as it is stored.
_GC_THRESHOLDS = (10_000, 10, 10)


def parse_listen(listen: str) -> tuple[str, int]:
    """Return (host, port) of "HOST:PORT" ("[::]:8790" for IPv6; port 0: any free port)."""
    return serving.parse_listen(listen, "collector", ConfigError)


def _bind(host: str, port: int) -> socket.socket:
    return serving.bind(host, port, "collector", ConfigError)


def _tls_options(settings: CollectorSettings) -> dict[str, Any]:
    return serving.tls_options(settings.tls_cert, settings.tls_key, "collector", ConfigError)


def _config(settings: CollectorSettings, app: Any) -> uvicorn.Config:
    config = uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,  # the application decides how logs look; uvicorn adds no handlers
        access_log=False,  # uploaders' addresses are never logged (docs/privacy.md)
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
        **_tls_options(settings),
    )
    try:
        config.load()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"collector: cannot load tls_cert/tls_key: {exc}") from exc
    return config


async def serve(settings: CollectorSettings, listen: str | None = None) -> None:
    """Return when the collector stops: serve the API on `listen` until SIGINT/SIGTERM.

    `listen` ("HOST:PORT", port 0 for any free port) overrides `[collector] listen`. Logs
    `collector listening on <scheme>://<host>:<port>` with the port actually bound. Raises
    ConfigError (bad address, certificate or data_dir) and StoreError (store unusable).
    """
    app = create_app(settings)
    assert settings.data_dir is not None  # create_app refuses a collector without one
    CollectorStore.open(settings.data_dir).close()  # fail here, not inside uvicorn's start-up
    config = _config(settings, app)
    host, port = parse_listen(listen or settings.listen)
    sock = _bind(host, port)
    scheme = "https" if config.is_ssl else "http"
    shown = f"[{host}]" if ":" in host else host
    logger.info("collector listening on %s://%s:%d", scheme, shown, sock.getsockname()[1])
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)
    server = uvicorn.Server(config)
    await serving.serve_on(server, sock, "collector", ConfigError)


__all__ = ["parse_listen", "serve"]
