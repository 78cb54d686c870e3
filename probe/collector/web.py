"""The collector's public, read-only live view: HTML pages and their JSON (`app` wires them).

```
GET  /                                         the "now" matrix (HTML)
GET  /network/{asn}   /platform/{name}         the last days' timeline (HTML)
GET  /incident/{asn}/{platform}/{start_ms}     an incident and its evidence (HTML)
GET  /claims                                   operators' statements and their findings (HTML)
GET  /measurements/{seq}.json                  one measurement behind an incident
GET  /api/v1/now                               LiveNow
GET  /api/v1/incidents?since=…                 LiveIncidents
POST /api/v1/claims     (claims_token)         add claims (a claims file, TOML)
```

Every page is served with a strict Content-Security-Policy and runs no script. Reading first
takes in what the store accepted since the last read (`follow.Live`), so the pages also show
bundles an operator ingested from a file in another process.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParameter
from fastapi.responses import Response

from probe.collector import pages, views
from probe.collector.admission import Refused
from probe.collector.follow import Live
from probe.errors import ClaimsError
from probe.models.live import LiveIncidents
from probe.models.reports import Incident
from probe.report.claims import MAX_CLAIMS_BYTES, parse_claims
from probe.report.plots import when_text

_HEADERS = {
    "Content-Security-Policy": pages.CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _live(request: Request) -> Live:
    live: Live = request.app.state.live
    return live


async def _read(request: Request, work: Any, cache: bool = True) -> Any:
    """Run `work(live)` in a thread, after taking in what is new; the answer is cached under
    the request's path and query unless `cache` is false."""
    live = _live(request)
    key = f"{request.url.path}?{request.url.query}"

    def run() -> Any:
        live.fresh()
        return live.cached(key, lambda: work(live)) if cache else work(live)

    return await anyio.to_thread.run_sync(run)


def _html(text: str, status: int = 200) -> Response:
    return Response(text, status, headers=_HEADERS, media_type="text/html; charset=utf-8")


def _json(text: str) -> Response:
    return Response(text, 200, headers={"X-Content-Type-Options": "nosniff"},
                    media_type="application/json")  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


async def now_page(request: Request) -> Response:
    found = await _read(request, lambda live: views.now(live.index, _now(), live.stale_after_s))
    return _html(pages.now_page(found))


async def now_json(request: Request) -> Response:
    """Return LiveNow: the latest state of every platform on every network."""
    found = await _read(request, lambda live: views.now(live.index, _now(), live.stale_after_s))
    return _json(found.model_dump_json())


async def incidents_json(
    request: Request,
    since: Annotated[
        datetime | None,
        Query(description="Windows ending at or after (ISO 8601; default: the last live_days)."),
    ] = None,
) -> Response:
    """Return LiveIncidents: incidents, failure windows and claims since `since`."""
    at = _now()

    def work(live: Live) -> LiveIncidents:
        start = since or at - timedelta(days=live.days)
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        found = views.windows(live.index, views.epoch_ms(start))
        return LiveIncidents(
            generated_at=at, since=start, incidents=views.live_incidents(found),
            windows=[*found.outages, *found.platform_down, *found.whitelisting],
            claims=views.assessed(live.index, views.claims(live.index)),
        )  # fmt: skip

    return _json((await _read(request, work)).model_dump_json())


def _timeline(live: Live, title: str, **which: str) -> str:
    at = _now()
    report = views.report(live.index, at - timedelta(days=live.days), at, **which)
    return pages.timeline_page(report, title, live.days)


_NAME = r"^[A-Za-z0-9._:-]{1,100}$"


async def network_page(request: Request, network: Annotated[str, PathParameter(pattern=_NAME)]
                       ) -> Response:  # fmt: skip
    work = functools.partial(_timeline, title=f"Network {network}", network=network)
    return _html(await _read(request, lambda live: work(live)))


async def platform_page(request: Request, platform: Annotated[str, PathParameter(pattern=_NAME)]
                        ) -> Response:  # fmt: skip
    work = functools.partial(_timeline, title=f"Platform {platform}", platform=platform)
    return _html(await _read(request, lambda live: work(live)))


def _incident(live: Live, network: str, platform: str, start_ms: int) -> Incident | None:
    found = views.windows(live.index, start_ms, network, platform)
    return next((i for i in found.incidents if views.epoch_ms(i.start) == start_ms), None)


async def incident_page(
    request: Request, network: Annotated[str, PathParameter(pattern=_NAME)],
    platform: Annotated[str, PathParameter(pattern=_NAME)], start_ms: int,
) -> Response:  # fmt: skip
    def work(live: Live) -> str | None:
        incident = _incident(live, network, platform, start_ms)
        if incident is None:
            return None
        found, total = views.evidence(live.index, incident)
        return pages.incident_page(incident, found, total, when_text(_now()))

    text = await _read(request, work)
    if text is None:
        raise Refused(
            "not_found",
            f"no incident of {platform} on {network} began at {start_ms}"
            " (it may have merged with an earlier one: see the network's page)",
        )
    return _html(text)


async def claims_page(request: Request) -> Response:
    def work(live: Live) -> str:
        return pages.claims_page(views.assessed(live.index, views.claims(live.index)),
                                 when_text(_now()))  # fmt: skip

    return _html(await _read(request, work))


async def measurement_json(request: Request, seq: int) -> Response:
    text = await _read(
        request, lambda live: views.measurement_json(live.index, seq, live.show_probes)
    )
    if text is None:
        raise Refused("not_found", f"no measurement {seq}")
    return _json(text)


async def add_claims(request: Request) -> Response:
    """Add the claims of a claims file (TOML, docs/reports.md); needs the claims token."""
    from probe.collector.routes import _check_token

    live = _live(request)
    if live.claims_token is None:
        raise Refused("read_closed", "this collector takes claims only with its claims token"
                      " ([collector] claims_token)")  # fmt: skip
    _check_token(request, live.claims_token, "adding claims")
    collector = request.app.state.collector  # its body budget and deadline (routes.py)
    async with collector.budget.read(
        request, MAX_CLAIMS_BYTES, collector.request_timeout_s
    ) as body:
        text = bytes(body)
    try:
        claims = parse_claims(text.decode("utf-8"), "the request body")
    except (ClaimsError, UnicodeDecodeError) as exc:
        raise Refused("invalid_request", str(exc)) from exc

    def store(live: Live) -> None:
        added = int(_now().timestamp())
        with live.index.transaction() as db:
            db.executemany("INSERT INTO live_claims (claim, added_at) VALUES (?, ?)",
                           [(c.model_dump_json(), added) for c in claims])  # fmt: skip

    await _read(request, store, cache=False)
    live.changed()
    return Response(f'{{"added": {len(claims)}}}', 201, media_type="application/json")


def add_live_routes(app: FastAPI) -> None:
    """Add the live pages and their JSON to `app`."""
    page = {"methods": ["GET"], "include_in_schema": False}
    app.add_api_route("/", now_page, **page)  # type: ignore[arg-type]
    app.add_api_route("/network/{network}", network_page, **page)  # type: ignore[arg-type]
    app.add_api_route("/platform/{platform}", platform_page, **page)  # type: ignore[arg-type]
    app.add_api_route("/incident/{network}/{platform}/{start_ms}", incident_page,
                      **page)  # type: ignore[arg-type]  # fmt: skip
    app.add_api_route("/claims", claims_page, **page)  # type: ignore[arg-type]
    app.add_api_route("/measurements/{seq}.json", measurement_json, **page)  # type: ignore[arg-type]
    from probe.models.live import LiveNow

    app.add_api_route("/api/v1/now", now_json, methods=["GET"], response_model=LiveNow)
    app.add_api_route("/api/v1/incidents", incidents_json, methods=["GET"],
                      response_model=LiveIncidents)  # fmt: skip
    app.add_api_route(
        "/api/v1/claims", add_claims, methods=["POST"], status_code=201,
        openapi_extra={"requestBody": {"required": True, "description": "A claims file"
                       " (TOML, docs/reports.md).", "content": {"application/toml": {
                           "schema": {"type": "string"}}}}},
    )  # fmt: skip


__all__ = ["add_live_routes"]
