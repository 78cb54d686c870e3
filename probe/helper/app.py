"""The helper's web application: OONI's test-helper protocol over HTTP (Starlette).

`GET /` says hello; `POST /` takes a ControlRequest and answers a ControlResponse. Before any
measurement a request must pass the per-client cap (429), the body cap (413, read incrementally,
with or without Content-Length) and deadline (408), load shedding (503: only a request whose
body has arrived counts, so slow clients cannot starve the others), JSON and schema validation
(400) and the URL check (400, http and https only). Every answer that is not a ControlResponse
is `{"error": "<what went wrong>"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import pydantic_core
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from probe import __version__
from probe.config import Settings
from probe.helper.clients import ClientLimiter, client_address
from probe.helper.context import HelperContext, open_context, request_budget_s
from probe.helper.guard import LoadShedder
from probe.helper.measure import measure
from probe.helper.target import ControlTarget, parse_target
from probe.models.control import ControlRequest

logger = logging.getLogger("probe.helper")

HELLO = {
    "message": "Hello OONItarian! This is probe's test helper (OONI web-connectivity protocol).",
    "software_name": "probe",
    "software_version": __version__,
}
_MAX_ERRORS_NAMED = 5


class RequestRefused(Exception):
    """A request the helper answers with an error status (and message) instead of measuring."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def _error(status_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


async def _read_body(request: Request, limit_bytes: int) -> bytes:
    """Return the body, refusing it (413) as soon as it grows past `limit_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise RequestRefused(400, f"invalid Content-Length {declared!r}")
        if int(declared) > limit_bytes:
            raise RequestRefused(413, f"request body over the limit of {limit_bytes} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit_bytes:
                raise RequestRefused(413, f"request body over the limit of {limit_bytes} bytes")
    except ClientDisconnect as exc:
        raise RequestRefused(400, "the client went away while sending the request") from exc
    return bytes(body)


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors()[:_MAX_ERRORS_NAMED]:
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        problems.append(f"{where}: {item['msg']}")
    return "invalid control request: " + "; ".join(problems)


def parse_request(body: bytes) -> tuple[ControlRequest, ControlTarget]:
    """Return the validated request and its URL; raise RequestRefused (400) naming the problem."""
    try:
        data = pydantic_core.from_json(body)  # bounded nesting, unlike json.loads
    except ValueError as exc:
        raise RequestRefused(400, f"malformed JSON: {exc}") from exc
    try:
        control_request = ControlRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestRefused(400, _describe(exc)) from exc
    try:
        return control_request, parse_target(control_request.http_request)
    except ValueError as exc:
        raise RequestRefused(400, f"http_request: {exc}") from exc


async def _receive(request: Request, settings: Settings) -> bytes:
    """Return the request body, read within `[helper] body_timeout`; RequestRefused if not."""
    try:
        async with asyncio.timeout(settings.helper.body_timeout):
            return await _read_body(request, settings.helper.max_request_bytes)
    except TimeoutError as exc:
        raise RequestRefused(408, "the request body took too long to arrive") from exc


async def _measure_request(body: bytes, client: str | None, ctx: HelperContext) -> Response:
    settings = ctx.settings
    control_request, target = parse_request(body)
    started = time.monotonic()
    try:
        async with asyncio.timeout(request_budget_s(settings)):
            response = await measure(control_request, target, ctx)
    except TimeoutError:
        logger.warning("measurement over budget: host=%s", target.host)
        return _error(504, "the measurement ran over its time budget")
    logger.info(
        "measured host=%s endpoints=%d elapsed_s=%.3f",
        target.host,
        len(response.tcp_connect),
        time.monotonic() - started,
    )
    # Echo the address we saw, so the probe can scrub it from its records even behind NAT.
    # And the network we see it from: a probe without an ASN database names its network by it.
    asn = ctx.asn_of(client) if client else 0
    response = response.model_copy(
        update={"x_client_address": client, "x_client_asn": f"AS{asn}" if asn else None}
    )
    return Response(response.model_dump_json(), media_type="application/json")


def _client(request: Request, settings: Settings) -> str | None:
    peer = request.client.host if request.client is not None else None
    headers = request.headers
    return client_address(
        peer,
        headers.getlist("forwarded"),
        headers.getlist("x-forwarded-for"),
        settings.helper.trusted_proxies,
    )


async def _control(request: Request) -> Response:
    ctx: HelperContext = request.app.state.context
    shedder: LoadShedder = request.app.state.shedder
    clients: ClientLimiter = request.app.state.clients
    client = _client(request, ctx.settings)
    # A client the proxy could not name is counted under the proxy's address.
    key = client or (request.client.host if request.client is not None else "")
    with clients.hold(key) as held:
        if not held:
            return _error(429, "too many requests from your address at once: wait for them")
        try:
            body = await _receive(request, ctx.settings)
        except RequestRefused as refusal:
            return _error(refusal.status_code, refusal.message)
        # Only a request whose body has arrived counts against the in-flight limits.
        with shedder.admission(request.headers.get("user-agent", "")) as admitted:
            if not admitted:
                return _error(
                    503,
                    "too many requests in flight: try again later or another helper",
                    headers={"Retry-After": "1"},
                )
            try:
                return await _measure_request(body, client, ctx)
            except RequestRefused as refusal:
                return _error(refusal.status_code, refusal.message)
            except Exception:  # a server request is a task boundary: log the bug, answer 500
                logger.exception("helper request failed")
                return _error(500, "internal error")


async def _hello(request: Request) -> Response:
    return JSONResponse(HELLO)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, exc.detail, headers=dict(exc.headers or {}))


def create_app(settings: Settings, *, allow_loopback: bool = False) -> Starlette:
    """Return the helper's Starlette application; its lifespan opens and closes the context.

    `allow_loopback` lets the helper dial loopback addresses that `[network] routable` lists. It
    exists only for tests, which stand loopback servers in for the internet: no flag, variable
    or configuration key sets it, so a deployed helper never reaches its own host.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_context(settings, allow_loopback=allow_loopback) as ctx:
            app.state.context = ctx
            yield

    app = Starlette(
        routes=[Route("/", _hello, methods=["GET"]), Route("/", _control, methods=["POST"])],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.shedder = LoadShedder(
        settings.helper.max_in_flight_all, settings.helper.max_in_flight
    )
    app.state.clients = ClientLimiter(settings.helper.max_per_client)
    return app
