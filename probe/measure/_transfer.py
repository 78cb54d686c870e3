"""Sending one httpx request so that nothing outlives it, whatever deadline cancels it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from probe.measure.failures import NETWORK_ERRORS


@contextlib.asynccontextmanager
async def open_response(
    client: httpx.AsyncClient,
    request: httpx.Request,
    on_connect: Callable[[Any], None] | None = None,
    on_event: Callable[[str], None] | None = None,
) -> AsyncIterator[httpx.Response]:
    """Yield the streamed response to `request` (redirects not followed); close all on exit.

    `on_connect` gets httpcore's network stream as soon as TCP connects, so a caller can note
    the peer address even when no response comes; `on_event` gets every trace event's name
    (e.g. "connection.start_tls.started"), so a caller can tell where a failure happened.
    """
    connected: list[Any] = []

    async def trace(event: str, info: dict[str, Any]) -> None:
        if on_event is not None:
            on_event(event)
        if event == "connection.connect_tcp.complete" and info.get("return_value") is not None:
            connected.append(info["return_value"])
            if on_connect is not None:
                on_connect(info["return_value"])

    request.extensions = {**request.extensions, "trace": trace}
    response: httpx.Response | None = None
    try:
        response = await client.send(request, stream=True, follow_redirects=False)
        yield response
    finally:
        with contextlib.suppress(*NETWORK_ERRORS):
            if response is not None:
                await response.aclose()
            elif connected:
                # httpcore 1.0 leaves the socket open when a TLS handshake is cancelled (it
                # closes on Exception, not on CancelledError), so a deadline would leak it.
                # Regression test: tests/measure/test_http.py::test_tls_timeout.
                await connected[0].aclose()
