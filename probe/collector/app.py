"""The collector's web application (FastAPI): register probes, take bundles, serve measurements.

```
GET  /api/v1/health                                    CollectorHealth
POST /api/v1/probes          ProbeRegistration (JSON)  201/200 RegisteredProbe
POST /api/v1/bundles         application/x-probe-bundle 201/200 BundleReceipt
GET  /api/v1/measurements    ?probe_id&input&verdict&since&until&cursor&limit  MeasurementPage
GET  /api/v1/measurements/{probe_id}/{measurement_id}  CollectedMeasurement
GET  /openapi.json
```

Every other answer is a `CollectorErrorBody` whose status comes from `codes.STATUS_BY_CODE`. A
request body is read as a stream and refused (413) as soon as it passes its cap; with a
Content-Length over the cap, before a byte of it is read. Verification and decompression run
in worker threads, at most `ingest_concurrency` at once. The client's address is never read.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import anyio
import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParameter
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from probe import __version__
from probe.collector.codes import STATUS_BY_CODE, status_for
from probe.collector.ingest import ingest, limits_of
from probe.collector.storage import CollectorStore, MeasurementQuery
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
)
from probe.models.results import Verdict
from probe.ship.bundle import MAGIC, MAX_MANIFEST_LINE_BYTES, Limits

logger = logging.getLogger("probe.collector")

BUNDLE_MEDIA_TYPE = "application/x-probe-bundle"
_ACCEPTED_MEDIA_TYPES = {"", BUNDLE_MEDIA_TYPE, "application/octet-stream"}
# Everything around the payload at most: magic, manifest line, base64 signature line.
FRAMING_BYTES = len(MAGIC) + MAX_MANIFEST_LINE_BYTES + 1 + 89
REGISTRATION_MAX_BYTES = 4 << 10  # one base64 key in a JSON object
DEFAULT_PAGE_ROWS = 100
MAX_PAGE_ROWS = 1000
_HEX64 = r"^[0-9a-f]{64}$"
_ERRORS_NAMED = 5
_LOGGED_DETAIL = 300


class Refused(Exception):
    """A request the collector answers with a CollectorErrorBody (status from its code)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class _Collector:
    """What every request needs, made when the application starts."""

    store: CollectorStore
    limits: Limits
    body_limit: int
    register_token: str | None
    ingest_slots: anyio.CapacityLimiter
    upload_slots: anyio.CapacityLimiter
    upload_timeout_s: float


def _collector(request: Request) -> _Collector:
    state: _Collector = request.app.state.collector
    return state


def _error(code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    body = CollectorErrorBody(error=code, detail=detail).model_dump_json()
    return Response(body, status_for(code), headers, media_type="application/json")


def _json(record: Any, status_code: int = 200) -> Response:
    return Response(record.model_dump_json(), status_code, media_type="application/json")


async def _read_body(request: Request, limit_bytes: int) -> bytes:
    """Return the body; Refused (413) as soon as it is known to pass `limit_bytes`."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise Refused("unsupported_encoding", f"Content-Encoding {encoding!r}: send the bundle"
                      " as is (its payload is compressed already)")  # fmt: skip
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit_bytes:
        raise Refused("body_too_large", f"the body is {declared} bytes; this collector accepts"
                      f" at most {limit_bytes}")  # fmt: skip
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit_bytes:
                raise Refused("body_too_large", f"the body passes {limit_bytes} bytes, the most"
                              " this collector accepts")  # fmt: skip
    except ClientDisconnect as exc:
        raise Refused("client_disconnected", "the client went away mid-body") from exc
    return bytes(body)


# --- routes ---------------------------------------------------------------------------------


def health(request: Request) -> Response:
    """Return CollectorHealth: the collector is up, and how much it holds."""
    counts = _collector(request).store.counts()
    answer = CollectorHealth(version=__version__, probes=counts.probes, bundles=counts.bundles,
                             measurements=counts.measurements)  # fmt: skip
    return _json(answer)


def _check_token(request: Request, token: str | None) -> None:
    if token is None:
        return
    given = request.headers.get("authorization")
    if not given:
        raise Refused("missing_token", "registering a probe here needs Authorization: Bearer"
                      " <token> (ask the collector's operator)")  # fmt: skip
    scheme, _, value = given.strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode(), token.encode()
    ):
        raise Refused("bad_token", "the registration token is not this collector's")


async def register_probe(request: Request) -> Response:
    """Return RegisteredProbe for a probe's public key: 201 registered now, 200 known."""
    collector = _collector(request)
    _check_token(request, collector.register_token)
    body = await _read_body(request, REGISTRATION_MAX_BYTES)
    try:
        registration = ProbeRegistration.model_validate_json(body)
    except ValidationError as exc:
        raise Refused("invalid_request", _describe(exc.errors())) from exc
    key = base64.b64decode(registration.public_key)
    probe_id, registered_at, is_new = await anyio.to_thread.run_sync(
        functools.partial(collector.store.register_probe, key, via="api")
    )
    if is_new:
        logger.info("probe registered probe_id=%s", probe_id)
    answer = RegisteredProbe(probe_id=probe_id, registered_at=registered_at,
                             status="registered" if is_new else "known")  # fmt: skip
    return _json(answer, 201 if is_new else 200)


async def upload_bundle(request: Request) -> Response:
    """Return the BundleReceipt of one signed bundle: 201 accepted (stored durably), 200 a
    duplicate of one accepted before (nothing stored twice)."""
    collector = _collector(request)
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in _ACCEPTED_MEDIA_TYPES:
        raise Refused("unsupported_media_type", f"Content-Type {media_type!r}: send"
                      f" {BUNDLE_MEDIA_TYPE}")  # fmt: skip
    slots = collector.upload_slots
    if slots.available_tokens < 1:  # each upload buffers its body: refuse, do not queue
        raise Refused("busy", f"{int(slots.total_tokens)} uploads in flight; retry later")
    async with slots:
        try:
            with anyio.fail_after(collector.upload_timeout_s):
                body = await _read_body(request, collector.body_limit)
        except TimeoutError as exc:
            raise Refused("body_timeout", f"the body took longer than"
                          f" {collector.upload_timeout_s:g} s to arrive") from exc  # fmt: skip
        return await _ingest(request, collector, body)


async def _ingest(request: Request, collector: _Collector, body: bytes) -> Response:
    work = functools.partial(
        ingest, collector.store, body, limits=collector.limits,
        register_open=collector.register_token is None, via="upload",
    )  # fmt: skip
    try:
        receipt = await anyio.to_thread.run_sync(work, limiter=collector.ingest_slots)
    except BundleError as exc:  # %r: the detail may quote what the sender wrote
        logger.info("bundle refused code=%s detail=%r", exc.code, str(exc)[:_LOGGED_DETAIL])
        raise
    except StoreError:  # answered 503 by its handler: the probe retries later
        raise
    except Exception:  # a request is a task boundary: log the bug, answer 500
        logger.exception("bundle ingest failed")
        return _error("internal_error", "the collector failed; this is a bug, retry later")
    logger.info(
        "bundle %s bundle_id=%s probe_id=%s measurements=%d stored=%d", receipt.status,
        receipt.bundle_id, receipt.probe_id, receipt.measurements, receipt.stored,
    )  # fmt: skip
    return _json(receipt, 201 if receipt.status == "accepted" else 200)


def list_measurements(
    request: Request,
    probe_id: Annotated[str | None, Query(pattern=_HEX64, description="Only this probe's.")] = None,
    input_: Annotated[
        str | None, Query(alias="input", max_length=4096, description="Only this target input.")
    ] = None,
    verdict: Annotated[Verdict | None, Query(description="Only this verdict.")] = None,
    since: Annotated[
        datetime | None, Query(description="Measured at or after (ISO 8601; UTC if naive).")
    ] = None,
    until: Annotated[datetime | None, Query(description="Measured before (ISO 8601).")] = None,
    cursor: Annotated[
        int | None, Query(ge=0, description="next_cursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_ROWS)] = DEFAULT_PAGE_ROWS,
) -> Response:
    """Return a MeasurementPage: accepted measurements oldest first (by arrival)."""
    query = MeasurementQuery(
        probe_id=probe_id, input=input_, verdict=None if verdict is None else verdict.value,
        since=_utc(since), until=_utc(until),
    )  # fmt: skip
    page, next_cursor = _collector(request).store.measurements(
        query, after_seq=cursor or 0, limit=limit
    )
    return _json(MeasurementPage(measurements=page, next_cursor=next_cursor))


def get_measurement(
    request: Request,
    probe_id: Annotated[str, PathParameter(pattern=_HEX64)],
    measurement_id: UUID,
) -> Response:
    """Return one CollectedMeasurement by its probe and the probe's measurement_id."""
    found = _collector(request).store.measurement(probe_id, str(measurement_id))
    if found is None:
        raise Refused("not_found", f"no measurement {measurement_id} from probe {probe_id}")
    return _json(found)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


# --- errors ---------------------------------------------------------------------------------


def _describe(errors: Any) -> str:
    problems = []
    for item in list(errors)[:_ERRORS_NAMED]:
        where = ".".join(str(part) for part in item.get("loc", ())) or "(request)"
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(problems)


async def _on_refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    headers = {"WWW-Authenticate": "Bearer"} if status_for(exc.code) == 401 else None
    if status_for(exc.code) == 503:
        headers = {"Retry-After": "30"}
    return _error(exc.code, exc.detail, headers)


async def _on_bundle_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BundleError)
    return _error(exc.code, str(exc))


async def _on_store_error(request: Request, exc: Exception) -> Response:
    logger.error("store failed: %s", exc)
    return _error("store_unavailable", "the collector cannot store right now; retry later",
                  {"Retry-After": "60"})  # fmt: skip


async def _on_invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _error("invalid_request", _describe(exc.errors()))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    if code is None:
        return Response(
            CollectorErrorBody(error="http_error", detail=str(exc.detail)).model_dump_json(),
            exc.status_code, media_type="application/json",
        )  # fmt: skip
    return _error(code, str(exc.detail))


async def _on_bug(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer, so the server logs the traceback (not the client).
    return _error("internal_error", "the collector failed; this is a bug")


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
    app.add_api_route(
        "/api/v1/probes", register_probe, methods=["POST"], status_code=201,
        response_model=RegisteredProbe, openapi_extra=_REGISTRATION_BODY,
        responses={200: {"model": RegisteredProbe, "description": "Already registered."},
                   **_responses(401, 413, 415, 422, 503)},
    )  # fmt: skip
    app.add_api_route(
        "/api/v1/bundles", upload_bundle, methods=["POST"], status_code=201,
        response_model=BundleReceipt, openapi_extra=_BUNDLE_BODY,
        responses={200: {"model": BundleReceipt, "description": "Accepted before (duplicate)."},
                   **_responses(400, 403, 413, 415, 422, 500, 503)},
    )  # fmt: skip
    app.add_api_route("/api/v1/measurements", list_measurements, methods=["GET"],
                      response_model=MeasurementPage, responses=_responses(422, 503))  # fmt: skip
    app.add_api_route(
        "/api/v1/measurements/{probe_id}/{measurement_id}", get_measurement, methods=["GET"],
        response_model=CollectedMeasurement, responses=_responses(404, 422, 503),
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


def create_app(settings: CollectorSettings) -> FastAPI:
    """Return the collector's application; its lifespan opens and closes the store.

    Raises ConfigError when `data_dir` is unset or the token is empty.
    """
    if settings.data_dir is None:
        raise ConfigError("collector: set data_dir ([collector] data_dir or --data-dir)")
    if settings.register_token is not None and not settings.register_token.strip():
        raise ConfigError("collector.register_token is empty: set a token or leave it unset")
    data_dir = settings.data_dir

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await anyio.to_thread.run_sync(CollectorStore.open, data_dir)
        app.state.collector = _Collector(
            store=store, limits=limits_of(settings),
            body_limit=settings.max_payload_bytes + FRAMING_BYTES,
            register_token=settings.register_token,
            ingest_slots=anyio.CapacityLimiter(settings.ingest_concurrency),
            upload_slots=anyio.CapacityLimiter(settings.max_uploads_in_flight),
            upload_timeout_s=settings.upload_timeout,
        )  # fmt: skip
        try:
            yield
        finally:
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
