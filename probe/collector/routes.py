"""The collector's request handlers; `app` wires them, their errors and the OpenAPI document.

Every handler that takes a body reads it first (under a deadline, its bytes counted against
the shared budget, one of the client's few places held) and only then takes a slot for the
work, so a slow client holds no slot. A refusal raises `Refused` or `BundleError` with a code
from `codes.STATUS_BY_CODE`; nothing refused is stored.
"""

from __future__ import annotations

import base64
import functools
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import anyio
import anyio.to_thread
from fastapi import Path as PathParameter
from fastapi import Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from probe import __version__
from probe.collector.admission import (
    BodyBudget,
    ClientGate,
    Refused,
    RegistrationLimit,
    client_of,
)
from probe.collector.challenge import Challenges
from probe.collector.ingest import Quota, ingest
from probe.collector.storage import CollectorStore, MeasurementQuery
from probe.errors import BundleError, StoreError
from probe.models.addresses import IPNetwork
from probe.models.bundles import (
    BundleReceipt,
    CollectorErrorBody,
    CollectorHealth,
    MeasurementPage,
    ProbeRegistration,
    RegisteredProbe,
    RegistrationChallenge,
)
from probe.models.results import Verdict
from probe.ship.bundle import Limits

logger = logging.getLogger("probe.collector")

BUNDLE_MEDIA_TYPE = "application/x-probe-bundle"
_ACCEPTED_MEDIA_TYPES = {"", BUNDLE_MEDIA_TYPE, "application/octet-stream"}
REGISTRATION_MAX_BYTES = 4 << 10  # a key, a nonce and a signature in a JSON object
DEFAULT_PAGE_ROWS = 100
MAX_PAGE_ROWS = 1000
_HEX64 = r"^[0-9a-f]{64}$"
_ERRORS_NAMED = 5
_LOGGED_DETAIL = 300


@dataclass(frozen=True)
class Collector:
    """What every request needs, made when the application starts."""

    store: CollectorStore
    limits: Limits
    quota: Quota
    body_limit: int
    register_token: str | None
    read_token: str | None
    ingest_slots: anyio.CapacityLimiter
    upload_slots: anyio.CapacityLimiter
    upload_timeout_s: float
    request_timeout_s: float
    max_page_bytes: int
    proxies: tuple[IPNetwork, ...]
    gate: ClientGate
    budget: BodyBudget
    registrations: RegistrationLimit
    challenges: Challenges


def _collector(request: Request) -> Collector:
    state: Collector = request.app.state.collector
    return state


def error(code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    """Return the CollectorErrorBody answer of a refusal (its status from the codes table)."""
    from probe.collector.codes import status_for

    body = CollectorErrorBody(error=code, detail=detail).model_dump_json()
    return Response(body, status_for(code), headers, media_type="application/json")


def _json(record: Any, status_code: int = 200) -> Response:
    return Response(record.model_dump_json(), status_code, media_type="application/json")


def describe(errors: Any) -> str:
    """Return one line naming the first few problems of a pydantic error list."""
    problems = []
    for item in list(errors)[:_ERRORS_NAMED]:
        where = ".".join(str(part) for part in item.get("loc", ())) or "(request)"
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(problems)


def _check_token(request: Request, token: str | None, what: str) -> None:
    if token is None:
        return
    given = request.headers.get("authorization")
    if not given:
        raise Refused("missing_token", f"{what} here needs Authorization: Bearer <token> (ask"
                      " the collector's operator)")  # fmt: skip
    scheme, _, value = given.strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        value.strip().encode(), token.encode()
    ):
        raise Refused("bad_token", f"the token is not this collector's (for {what})")


# --- health and registration ----------------------------------------------------------------


def health(request: Request) -> Response:
    """Return CollectorHealth: the collector is up, and how much it holds (aggregates only)."""
    counts = _collector(request).store.counts()
    answer = CollectorHealth(version=__version__, probes=counts.probes, bundles=counts.bundles,
                             measurements=counts.measurements)  # fmt: skip
    return _json(answer)


def challenge(request: Request) -> Response:
    """Return a RegistrationChallenge: a nonce to sign with the key being registered."""
    nonce, expires_at = _collector(request).challenges.issue()
    return _json(RegistrationChallenge(nonce=nonce, expires_at=expires_at))


async def register_probe(request: Request) -> Response:
    """Return RegisteredProbe for a probe's public key: 201 registered now, 200 known."""
    collector = _collector(request)
    _check_token(request, collector.register_token, "registering a probe")
    client = client_of(request, collector.proxies)
    with collector.gate.enter(client):
        async with collector.budget.read(
            request, REGISTRATION_MAX_BYTES, collector.request_timeout_s
        ) as body:
            try:
                registration = ProbeRegistration.model_validate_json(body)
            except ValidationError as exc:
                raise Refused("invalid_request", describe(exc.errors())) from exc
    key = base64.b64decode(registration.public_key)
    collector.challenges.verify(registration.nonce, key, registration.signature)
    work = functools.partial(_register, collector, key, client)
    probe_id, registered_at, is_new = await anyio.to_thread.run_sync(work)
    if is_new:
        logger.info("probe registered probe_id=%s", probe_id)
    answer = RegisteredProbe(probe_id=probe_id, registered_at=registered_at,
                             status="registered" if is_new else "known")  # fmt: skip
    return _json(answer, 201 if is_new else 200)


def _register(collector: Collector, key: bytes, client: str) -> tuple[str, datetime, bool]:
    import hashlib

    store = collector.store
    if store.probe_key(hashlib.sha256(key).hexdigest()) is None:
        collector.registrations.take(client)  # only a new probe counts
    return store.register_probe(key, via="api")


# --- uploads --------------------------------------------------------------------------------


async def upload_bundle(request: Request) -> Response:
    """Return the BundleReceipt of one signed bundle: 201 accepted (stored durably), 200 a
    duplicate of one accepted before (nothing stored twice)."""
    collector = _collector(request)
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in _ACCEPTED_MEDIA_TYPES:
        raise Refused("unsupported_media_type", f"Content-Type {media_type!r}: send"
                      f" {BUNDLE_MEDIA_TYPE}")  # fmt: skip
    client = client_of(request, collector.proxies)
    with collector.gate.enter(client):
        async with collector.budget.read(
            request, collector.body_limit, collector.upload_timeout_s
        ) as body:
            slots = collector.upload_slots  # taken with the whole body in hand: never by a drip
            if slots.available_tokens < 1:
                raise Refused("busy", f"{int(slots.total_tokens)} uploads in flight; retry"
                              " later")  # fmt: skip
            async with slots:
                answer = await _ingest(collector, body, client)
    await anyio.to_thread.run_sync(request.app.state.live.after_upload)  # live pages (web.py)
    return answer


async def _ingest(collector: Collector, body: bytes, client: str) -> Response:
    work = functools.partial(
        ingest, collector.store, body, limits=collector.limits,
        register_open=collector.register_token is None, via="upload", quota=collector.quota,
        on_register=functools.partial(collector.registrations.take, client),
    )  # fmt: skip
    try:
        receipt: BundleReceipt = await anyio.to_thread.run_sync(
            work, limiter=collector.ingest_slots
        )
    except BundleError as exc:  # %r: the detail may quote what the sender wrote
        logger.info("bundle refused code=%s detail=%r", exc.code, str(exc)[:_LOGGED_DETAIL])
        raise
    except StoreError:  # answered 503 by its handler: the probe retries later
        raise
    except Exception:  # a request is a task boundary: log the bug, answer 500
        logger.exception("bundle ingest failed")
        return error("internal_error", "the collector failed; this is a bug, retry later")
    logger.info(
        "bundle %s bundle_id=%s probe_id=%s measurements=%d stored=%d", receipt.status,
        receipt.bundle_id, receipt.probe_id, receipt.measurements, receipt.stored,
    )  # fmt: skip
    return _json(receipt, 201 if receipt.status == "accepted" else 200)


# --- reading (behind the read token) --------------------------------------------------------


def _check_reader(request: Request) -> Collector:
    collector = _collector(request)
    if collector.read_token is None:
        raise Refused("read_closed", "this collector serves measurements only with its read"
                      " token ([collector] read_token); /api/v1/health is public")  # fmt: skip
    _check_token(request, collector.read_token, "reading measurements")
    return collector


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
    """Return a MeasurementPage: accepted measurements oldest first (by arrival), at most
    `limit` and at most `max_page_bytes` of records (one at least)."""
    collector = _check_reader(request)
    query = MeasurementQuery(
        probe_id=probe_id, input=input_, verdict=None if verdict is None else verdict.value,
        since=_utc(since), until=_utc(until),
    )  # fmt: skip
    page, next_cursor = collector.store.measurements(
        query, after_seq=cursor or 0, limit=limit, max_bytes=collector.max_page_bytes
    )
    return _json(MeasurementPage(measurements=page, next_cursor=next_cursor))


def get_measurement(
    request: Request,
    probe_id: Annotated[str, PathParameter(pattern=_HEX64)],
    measurement_id: UUID,
) -> Response:
    """Return one CollectedMeasurement by its probe and the probe's measurement_id."""
    found = _check_reader(request).store.measurement(probe_id, str(measurement_id))
    if found is None:
        raise Refused("not_found", f"no measurement {measurement_id} from probe {probe_id}")
    return _json(found)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+05:00: never a 500
        raise Refused("invalid_request", f"{moment.isoformat()} is outside the calendar in"
                      " UTC") from exc  # fmt: skip


__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "Collector",
    "challenge",
    "describe",
    "error",
    "get_measurement",
    "health",
    "list_measurements",
    "register_probe",
    "upload_bundle",
]
