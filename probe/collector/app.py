"""The collector's web application (FastAPI): register probes, take bundles, serve measurements.

```
GET  /api/v1/health                                    CollectorHealth (public: counts only)
POST /api/v1/probes/challenge                          RegistrationChallenge
POST /api/v1/probes          ProbeRegistration (JSON)  201/200 RegisteredProbe
POST /api/v1/bundles         application/x-probe-bundle 201/200 BundleReceipt
GET  /api/v1/measurements    ?probe_id&input&verdict&since&until&cursor&limit  MeasurementPage
GET  /api/v1/measurements/{probe_id}/{measurement_id}  CollectedMeasurement
GET  /openapi.json
```

Every other answer is a `CollectorErrorBody` whose status comes from `codes.STATUS_BY_CODE`.
The handlers are in `routes`, what one client may hold in `admission` (docs/collector.md,
"Limits"). The client's address is read only for the per-client limits, held in memory as a
counter, and never stored or logged.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from probe import __version__
from probe.collector.admission import BodyBudget, ClientGate, Refused, RegistrationLimit
from probe.collector.challenge import Challenges
from probe.collector.codes import STATUS_BY_CODE, status_for
from probe.collector.follow import Live
from probe.collector.ingest import limits_of, quota_of
from probe.collector.live import LiveIndex
from probe.collector.routes import (
    BUNDLE_MEDIA_TYPE,
    Collector,
    challenge,
    describe,
    error,
    get_measurement,
    health,
    list_measurements,
    register_probe,
    upload_bundle,
)
from probe.collector.storage import CollectorStore
from probe.collector.web import add_live_routes
from probe.config import CollectorSettings
from probe.errors import BundleError, ConfigError, StoreError
from probe.models.bundles import (
    BundleReceipt,
    CollectedMeasurement,
    CollectorErrorBody,
    CollectorHealth,
    MeasurementPage,
    ProbeRegistration,
    RegisteredProbe,
    RegistrationChallenge,
)
from probe.ship.bundle import MAGIC, MAX_MANIFEST_LINE_BYTES

logger = logging.getLogger("probe.collector")

# Everything around the payload at most: magic, manifest line, base64 signature line.
FRAMING_BYTES = len(MAGIC) + MAX_MANIFEST_LINE_BYTES + 1 + 89


# --- errors ---------------------------------------------------------------------------------


_RETRY_AFTER_S = {503: "30", 429: "60", "daily_bytes_exceeded": "3600",
                  "daily_bundles_exceeded": "3600"}  # fmt: skip


def _headers(code: str) -> dict[str, str] | None:
    status = status_for(code)
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    retry = _RETRY_AFTER_S.get(code) or _RETRY_AFTER_S.get(status)
    return {"Retry-After": retry} if retry else None


async def _on_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return error(exc.code, exc.detail, _headers(exc.code))


async def _on_bundle_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BundleError)
    return error(exc.code, str(exc), _headers(exc.code))


async def _on_store_error(request: Request, exc: Exception) -> Response:
    logger.error("store failed: %s", exc)
    return error("store_unavailable", "the collector cannot store right now; retry later",
                  {"Retry-After": "60"})  # fmt: skip


async def _on_invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error("invalid_request", describe(exc.errors()))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    if code is None:
        return Response(
            CollectorErrorBody(error="http_error", detail=str(exc.detail)).model_dump_json(),
            exc.status_code, media_type="application/json",
        )  # fmt: skip
    return error(code, str(exc.detail))


async def _on_bug(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer, so the server logs the traceback (not the client).
    return error("internal_error", "the collector failed; this is a bug")


# --- the application ------------------------------------------------------------------------

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": CollectorErrorBody, "description": ", ".join(
        sorted(code for code, s in STATUS_BY_CODE.items() if s == status))}
    for status in sorted(set(STATUS_BY_CODE.values()))
}  # fmt: skip


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: _ERROR_RESPONSES[status] for status in statuses}


_BUNDLE_BODY = {
    "requestBody": {
        "required": True,
        "description": "One signed bundle exactly as `probe` packs it (docs/data-format.md).",
        "content": {BUNDLE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
    }
}
_REGISTRATION_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ProbeRegistration"}}
        },
    }
}


def _routes(app: FastAPI) -> None:
    app.add_api_route("/api/v1/health", health, methods=["GET"], response_model=CollectorHealth,
                      responses=_responses(500, 503))  # fmt: skip
    app.add_api_route("/api/v1/probes/challenge", challenge, methods=["POST"],
                      response_model=RegistrationChallenge)  # fmt: skip
    app.add_api_route(
        "/api/v1/probes", register_probe, methods=["POST"], status_code=201,
        response_model=RegisteredProbe, openapi_extra=_REGISTRATION_BODY,
        responses={200: {"model": RegisteredProbe, "description": "Already registered."},
                   **_responses(401, 403, 408, 413, 415, 422, 429, 503)},
    )  # fmt: skip
    app.add_api_route(
        "/api/v1/bundles", upload_bundle, methods=["POST"], status_code=201,
        response_model=BundleReceipt, openapi_extra=_BUNDLE_BODY,
        responses={200: {"model": BundleReceipt, "description": "Accepted before (duplicate)."},
                   **_responses(400, 403, 408, 413, 415, 422, 429, 500, 503)},
    )  # fmt: skip
    app.add_api_route("/api/v1/measurements", list_measurements, methods=["GET"],
                      response_model=MeasurementPage,
                      responses=_responses(401, 403, 422, 503))  # fmt: skip
    app.add_api_route(
        "/api/v1/measurements/{probe_id}/{measurement_id}", get_measurement, methods=["GET"],
        response_model=CollectedMeasurement, responses=_responses(401, 403, 404, 422, 503),
    )  # fmt: skip


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The default OpenAPI, plus the registration schema (its body is read by hand)."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)  # fmt: skip
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas["ProbeRegistration"] = ProbeRegistration.model_json_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    return build


def _state(settings: CollectorSettings, store: CollectorStore) -> Collector:
    return Collector(
        store=store, limits=limits_of(settings), quota=quota_of(settings),
        body_limit=settings.max_payload_bytes + FRAMING_BYTES,
        register_token=settings.register_token, read_token=settings.read_token,
        ingest_slots=anyio.CapacityLimiter(settings.ingest_concurrency),
        upload_slots=anyio.CapacityLimiter(settings.max_uploads_in_flight),
        upload_timeout_s=settings.upload_timeout, request_timeout_s=settings.request_timeout,
        max_page_bytes=settings.max_page_bytes, proxies=tuple(settings.trusted_proxies),
        gate=ClientGate(settings.max_requests_per_client),
        budget=BodyBudget(settings.max_buffered_bytes),
        registrations=RegistrationLimit(settings.max_registrations_per_client_per_hour),
        challenges=Challenges(),
    )  # fmt: skip


_FROZEN = False


def _freeze_startup_objects() -> None:
    """Move what exists at start (modules, the app, its models: tens of thousands of objects
    that live as long as the process) out of the garbage collector's scans, once a process: a
    full collection then scans only what pages made since, and a page made in 60 ms is not held
    up 20-120 ms by one (bench/live_bench.py, issue 23)."""
    global _FROZEN
    if not _FROZEN:
        _FROZEN = True
        gc.collect()
        gc.freeze()


def create_app(settings: CollectorSettings) -> FastAPI:
    """Return the collector's application; its lifespan opens and closes the store.

    Raises ConfigError when `data_dir` is unset or the token is empty.
    """
    if settings.data_dir is None:
        raise ConfigError("collector: set data_dir ([collector] data_dir or --data-dir)")
    for key in ("register_token", "read_token", "claims_token"):
        token = getattr(settings, key)
        if token is not None and not token.strip():
            raise ConfigError(f"collector.{key} is empty: set a token or leave it unset")
    data_dir = settings.data_dir

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await anyio.to_thread.run_sync(CollectorStore.open, data_dir)
        app.state.collector = _state(settings, store)
        live = await anyio.to_thread.run_sync(LiveIndex.open, data_dir)
        app.state.live = Live(live, settings)
        await anyio.to_thread.run_sync(app.state.live.start)
        _freeze_startup_objects()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(app.state.live.stop)
            live.close()
            store.close()

    app = FastAPI(
        title="probe collector", version=__version__, lifespan=lifespan,
        description="Receives signed result bundles from probes (docs/data-format.md).",
        docs_url=None, redoc_url=None,  # they load scripts from a CDN: not on a collector
        exception_handlers={
            Refused: _on_refused, BundleError: _on_bundle_error, StoreError: _on_store_error,
            RequestValidationError: _on_invalid_request, HTTPException: _on_http_error,
            Exception: _on_bug,
        },
    )  # fmt: skip
    _routes(app)
    add_live_routes(app)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def openapi_text() -> str:
    """Return the API's OpenAPI document as stable, indented JSON (docs/collector-openapi.json).

    Regenerate with `python -m probe.collector.app > docs/collector-openapi.json`.
    """
    import json
    from pathlib import Path

    app = create_app(CollectorSettings(data_dir=Path("/nonexistent")))  # never started
    return json.dumps(app.openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(openapi_text())


__all__ = ["BUNDLE_MEDIA_TYPE", "FRAMING_BYTES", "create_app", "openapi_text"]
