"""One endpoint end to end: resolve → connect/handshake → fetch (following redirects) → control.

The orchestrator: steps never start other steps; this module sequences them, runs retries as
overlapping attempts, and hands back everything in OONI's structures (`TestKeys`) for observe/ and
decide/ to judge once all steps have finished. Tags written here (decide/ relies on them):
`attempt=N` on every probe-side observation, `depth=N` for the redirect depth, `tls_validation` on
the handshakes that only validate an http:// URL's addresses, `control_resolver` on the trusted
DoH lookups.

What a first DNS query needs is imported with the module; what only a reply makes useful (httpx
and httpcore for the fetch and the helper, the record models) is imported where it is first
used, which the runner arranges inside the late-reply window (issue 19, runner.WINDOW_IMPORTS).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from probe.measure import dns, tcp
from probe.measure._clock import Clock
from probe.measure._steps import (
    AttemptLog,
    MeasureContext,
    Sink,
    connect_all,
    handshake_all,
    lookup_all,
    open_context,
    resolve,
)
from probe.models.addresses import is_ip_address, is_ipv6
from probe.models.failures import Failure
from probe.models.observations import DnsObservation, HttpTransaction
from probe.models.tags import TLS_VALIDATION
from probe.models.targets import Endpoint, EndpointKind
from probe.models.verdicts import SiteScope

if TYPE_CHECKING:
    from probe.models.control import ControlRequest, ControlResponse
    from probe.models.results import ControlSiteCheck, TestKeys

__all__ = [
    "MeasureContext",
    "check_control_site",
    "check_control_sites",
    "measure_endpoint",
    "open_context",
    "reach_helpers",
]

ControlAnswer = tuple["ControlResponse | None", str | None, str | None]


def _is_final(last: HttpTransaction | None) -> bool:
    from probe.measure._fetch import next_url

    # A redirect whose next hop could not be resolved, or a chain cut at max_redirects, is not a
    # final response: the attempt failed and the retries go on.
    return (
        last is not None
        and last.failure is None
        and last.response is not None
        and next_url(last) is None
    )


async def _web_steps(
    endpoint: Endpoint, addresses: list[str], ctx: MeasureContext, clock: Clock, log: AttemptLog
) -> bool:
    """Return whether the fetch reached a final response; one connection per address.

    The connection (TLS for https) to the address the fetch uses stays open for its first
    request, so a censor sees one ClientHello per attempt, as OONI's webconnectivitylte shows it.
    """
    from probe.measure._connection import Held
    from probe.measure._fetch import fetch_chain

    tags = log.tags(0)
    held = Held()
    try:
        if urlsplit(endpoint.url or "").scheme == "https":
            usable = await handshake_all(
                endpoint.host, endpoint.port, addresses, ctx, clock, tags, log.sink, held
            )
        else:
            validation = []
            if endpoint.port == 80:  # does the address hold a valid certificate for the name?
                validation.append(
                    handshake_all(endpoint.host, 443, addresses, ctx, clock,
                                  log.tags(0, TLS_VALIDATION), log.sink)
                )  # fmt: skip
            usable, *_ = await asyncio.gather(
                connect_all(addresses, endpoint.port, ctx, clock, tags, log.sink, held),
                *validation,
            )
        if not usable:
            return False
        last = await fetch_chain(endpoint.url or "", usable[0], ctx, clock, log, held)
        return _is_final(last)
    finally:
        held.close()  # what the request did not use, or a cancelled attempt left open


async def _attempt(
    endpoint: Endpoint,
    log: AttemptLog,
    ctx: MeasureContext,
    clock: Clock,
    first_addresses: asyncio.Future[list[str]] | None,
    late_replies: bool = True,
    reached_goal: asyncio.Event | None = None,
) -> bool:
    """Return whether one attempt reached its goal (a final HTTP response, or a TCP connect);
    without `late_replies`, one that did is not kept waiting for its lookups' late replies.
    `reached_goal` is set as soon as it did, before its late-reply window ends."""
    try:
        addresses = await resolve(endpoint.host, ctx, clock, log, 0)
        if first_addresses is not None and not first_addresses.done():
            first_addresses.set_result(addresses)
        if not addresses:
            reached = False
        elif endpoint.kind is EndpointKind.TCP:
            reached = bool(
                await connect_all(addresses, endpoint.port, ctx, clock, log.tags(0), log.sink)
            )
        else:
            reached = await _web_steps(endpoint, addresses, ctx, clock, log)
    except asyncio.CancelledError:
        await log.abandon()
        raise
    if reached:
        log.reached = True
        if reached_goal is not None:
            reached_goal.set()  # issue 19: no other attempt starts, or goes on, meanwhile
    if reached and not ctx.anything_reached:
        ctx.anything_reached = True
        ctx.evidence_changed()
    # A control site that loaded: its late DNS replies judge nothing, so none is waited for.
    await log.settle(late_replies=late_replies or not reached)
    return reached


def _stopped(tasks: list[asyncio.Task[bool]], stop: asyncio.Event) -> bool:
    """Return whether to wait no longer: the run stopped retrying and an attempt has ended."""
    return stop.is_set() and any(t.done() for t in tasks)


async def _wait_until(
    deadline: float,
    tasks: list[asyncio.Task[bool]],
    clock: Clock,
    stop: asyncio.Event,
    success: asyncio.Event,
) -> None:
    """Sleep until `deadline` (clock seconds), until an attempt reaches its goal (`success`),
    or until the run stops retrying (`stop`) and an attempt has ended."""
    waiters = [asyncio.ensure_future(event.wait()) for event in (stop, success)]
    try:
        while (remaining := deadline - clock.now()) > 0 and not success.is_set():
            if _stopped(tasks, stop):
                return
            waits: list[asyncio.Future[Any]] = [t for t in tasks if not t.done()]
            if not waits and remaining == float("inf"):
                return  # every attempt ended
            waits += [w for w in waiters if not w.done()]
            timeout = None if remaining == float("inf") else remaining
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _run_attempts(
    endpoint: Endpoint,
    ctx: MeasureContext,
    clock: Clock,
    sink: Sink,
    first_addresses: asyncio.Future[list[str]] | None = None,
    on_first: Callable[[bool], None] | None = None,
    late_replies: bool = True,
) -> int:
    """Run overlapping attempts (starting at 0, b, 3b, 7b… s); return how many started.

    Overlapping instead of queueing keeps a blackholed target's verdict near one connect timeout,
    while a transient failure still gets its retries (Censored Planet retries up to 5 times).
    The first attempt that reaches its goal ends the others at once, while it still listens
    for late DNS replies (issue 19: on a busy machine a page that loaded in 0.3 s was fetched
    again by the attempt started at 1 s). Once the run stops retrying (`ctx.stop_retrying`: an
    outage beyond doubt) no attempt starts after the first, and the others are cancelled as
    soon as one has ended. `on_first` hears how the first one ended.
    """
    settings = ctx.settings.measure
    stop, success = ctx.stop_retrying, asyncio.Event()
    tasks: list[asyncio.Task[bool]] = []
    logs: list[AttemptLog] = []
    try:
        for number in range(1, settings.attempts + 1):
            deadline = settings.retry_backoff_s * (2 ** (number - 1) - 1)
            await _wait_until(deadline, tasks, clock, stop, success)
            if success.is_set() or (tasks and stop.is_set()):
                break
            log = AttemptLog(number, sink)
            attempt = _attempt(endpoint, log, ctx, clock, first_addresses, late_replies, success)
            tasks.append(asyncio.create_task(attempt))
            logs.append(log)
            if number == 1 and on_first is not None:
                tasks[0].add_done_callback(
                    lambda task: task.cancelled() or task.exception() or on_first(task.result())
                )
        await _wait_until(float("inf"), tasks, clock, stop, success)
        return len(tasks)
    finally:
        for task, log in zip(tasks, logs, strict=True):
            if not log.reached:  # the one that reached its goal settles (late DNS replies)
                task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        bugs = [o for o in outcomes if isinstance(o, Exception)]
        if bugs:  # a network failure is data; anything raised here is a bug: show it
            raise bugs[0]


def _control_endpoints(endpoint: Endpoint, addresses: list[str]) -> list[str]:
    ports = [endpoint.port]
    if endpoint.kind is EndpointKind.WEB and urlsplit(endpoint.url or "").scheme == "http":
        ports = [443, 80] if endpoint.port == 80 else ports
    return [
        f"[{ip}]:{port}" if is_ipv6(ip) else f"{ip}:{port}" for ip in addresses for port in ports
    ]


def _control_url(endpoint: Endpoint) -> str:
    """Return the URL to ask the helper about: for a bare TCP service, one naming its port.

    The helper connects to the URL's port (443/80 when it has none), so e1.whatsapp.net:5222
    must be asked as https://e1.whatsapp.net:5222/ or its control would only cover 443.
    """
    if endpoint.url is not None:
        return endpoint.url
    host = f"[{endpoint.host}]" if is_ipv6(endpoint.host) else endpoint.host
    if endpoint.port == 443:
        return f"https://{host}/"
    if endpoint.port == 80:
        return f"http://{host}/"
    return f"https://{host}:{endpoint.port}/"


def _control_request(endpoint: Endpoint, addresses: list[str]) -> ControlRequest:
    from probe.measure import http
    from probe.models.control import ControlRequest

    return ControlRequest(
        http_request=_control_url(endpoint),
        http_request_headers={
            "Accept": [http.DEFAULT_HEADERS["Accept"]],
            "Accept-Language": [http.DEFAULT_HEADERS["Accept-Language"]],
            "User-Agent": [http.user_agent()],
        },
        tcp_connect=_control_endpoints(endpoint, addresses),
    )


async def _control(
    endpoint: Endpoint, ctx: MeasureContext, first_addresses: asyncio.Future[list[str]]
) -> tuple[ControlRequest, ControlAnswer]:
    addresses = await first_addresses  # nothing of the helper's side before the first reply
    from probe.measure import control as control_client

    request = _control_request(endpoint, addresses)
    control = ctx.settings.control
    if not control.helpers:
        return request, (None, None, control_client.NO_HELPERS)
    health, now = ctx.helper_health, asyncio.get_running_loop().time()
    if all(health.is_skipped(helper, now) for helper in control.helpers):
        # Not even a slot is waited for: the helpers failed repeatedly in this run.
        return request, (None, None, health.skipped(control.helpers[-1]))
    async with ctx.control_limiter:
        answer = await control_client.query_helpers(
            list(control.helpers),
            request,
            client=ctx.services,
            timeout_s=control.helper_timeout_s,
            overlap_s=control.helper_overlap_s,
            health=ctx.helper_health,
        )
    if answer[0] is not None and answer[0].x_client_address:
        ctx.local_addresses.heard(answer[0].x_client_address)
    return request, answer


async def _doh_control(host: str, ctx: MeasureContext, clock: Clock) -> list[DnsObservation]:
    if is_ip_address(host) or not ctx.settings.control.doh:
        return []
    await ctx.after_first_queries()  # the target's own queries first (issue 19)
    specs = tuple(dns.parse_resolver(url) for url in ctx.settings.control.doh[:2])
    return await lookup_all(host, specs, ctx, clock, ["control_resolver"])


async def measure_endpoint(endpoint: Endpoint, ctx: MeasureContext, clock: Clock) -> TestKeys:
    """Return everything measured for one endpoint: attempts, trusted DoH and the helper's view."""
    sink = Sink()
    first_addresses: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
    control_task = asyncio.create_task(_control(endpoint, ctx, first_addresses))
    doh_task = asyncio.create_task(_doh_control(endpoint.host, ctx, clock))
    try:
        attempts = await _run_attempts(endpoint, ctx, clock, sink, first_addresses)
        if not first_addresses.done():
            first_addresses.set_result([])
        request, (response, helper, failure) = await _control_unless_down(
            endpoint, ctx, control_task, first_addresses.result()
        )
        doh = await doh_task
    finally:
        for task in (control_task, doh_task):
            task.cancel()
        await asyncio.gather(control_task, doh_task, return_exceptions=True)
    from probe.models.results import TestKeys

    return TestKeys(
        queries=sink.queries,
        tcp_connect=sink.tcp_connect,
        tls_handshakes=sink.tls_handshakes,
        requests=sink.requests,
        x_doh=doh,
        x_control_request=request,
        control=response,
        control_failure=failure,
        test_helper=helper,
        attempts=attempts,
    )


async def _control_unless_down(
    endpoint: Endpoint,
    ctx: MeasureContext,
    control_task: asyncio.Task[tuple[ControlRequest, ControlAnswer]],
    addresses: list[str],
) -> tuple[ControlRequest, ControlAnswer]:
    """Return the helper's answer, or, once the run stopped retrying (an outage beyond doubt),
    the failure the helpers' connects already gave, without waiting for the helper."""
    stopping = asyncio.ensure_future(ctx.stop_retrying.wait())
    try:
        await asyncio.wait([control_task, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if control_task.done():
        return control_task.result()
    from probe.measure import control as control_client

    control_task.cancel()
    helpers = ctx.settings.control.helpers
    failures = [
        ctx.helper_connects.get(h) or ctx.helper_health.last_failure.get(h) for h in helpers
    ]
    failure = next((f for f in reversed(failures) if f), control_client.NO_HELPERS)
    return _control_request(endpoint, addresses), (None, None, failure)


async def reach_helpers(ctx: MeasureContext) -> None:
    """Record whether each helper accepts a TCP connection (`ctx.helper_connects`): a helper
    unreachable at connect is part of an outage's evidence. Best effort; never raises."""
    timeouts = ctx.settings.timeouts
    clock = Clock()

    async def reach(helper: str) -> None:
        parts = urlsplit(helper)
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if is_ip_address(host):
            addresses = [host]
        else:
            log = AttemptLog(0, Sink())
            addresses = await resolve(host, ctx, clock, log, 0, first_only=True)
            await log.abandon()
        failure: str | None = Failure.DNS_NO_ANSWER
        for address in addresses[:1]:
            observation, sock = await tcp.open_socket(
                address, port, timeout_s=timeouts.connect, clock=clock, tags=[]
            )
            if sock is not None:
                sock.close()
            failure = observation.status.failure
        ctx.helper_connects[helper] = failure
        ctx.evidence_changed()

    await asyncio.gather(*(reach(h) for h in ctx.settings.control.helpers))


def _cut_at(sink: Sink) -> str:
    """Return the step the attempts so far got no further than: "dns" (no address), "tcp" (no
    connection: an https site's handshakes then fail for want of one) or the furthest step."""
    if sink.tcp_connect and not any(c.status.success for c in sink.tcp_connect):
        return "tcp"
    return _first_failure(sink)[0] or "dns"


def _first_failure(sink: Sink) -> tuple[str | None, str | None]:
    """Return (step, failure) of the furthest step the attempts reached."""
    if sink.requests:
        last = sink.requests[0]
        return "http", last.failure or Failure.HTTP_UNEXPECTED_REDIRECT_URL
    if sink.tls_handshakes:
        return "tls", next((h.failure for h in sink.tls_handshakes if h.failure), None)
    if sink.tcp_connect:
        return "tcp", next((c.status.failure for c in sink.tcp_connect if c.status.failure), None)
    failure = next((q.failure for q in sink.queries if q.failure), None)
    return "dns", failure or Failure.DNS_NO_ANSWER


async def check_control_site(
    url: str, phase: str, ctx: MeasureContext, scope: SiteScope = SiteScope.FOREIGN
) -> ControlSiteCheck:
    """Return whether a control site loads on the probe's own path (one side of the sandwich)."""
    clock = Clock()
    parts = urlsplit(url)
    endpoint = Endpoint(
        kind=EndpointKind.WEB,
        host=(parts.hostname or "").lower(),
        url=url,
        port=parts.port or (443 if parts.scheme == "https" else 80),
    )
    sink = Sink()

    def first_ended(reached: bool) -> None:  # part of the run's evidence of an outage
        ctx.first_control_attempts[url] = None if reached else _cut_at(sink)
        ctx.evidence_changed()

    on_first = first_ended if phase == "before" else None
    await _run_attempts(endpoint, ctx, clock, sink, on_first=on_first, late_replies=False)
    last = sink.requests[0] if sink.requests else None
    success = _is_final(last)
    step, failure = (None, None) if success else _first_failure(sink)
    from probe.models.results import ControlSiteCheck

    return ControlSiteCheck(
        url=url,
        phase=phase,
        scope=scope,
        success=success,
        step=step,
        failure=failure,
        status_code=last.response.code if last is not None and last.response is not None else None,
        elapsed_s=clock.now(),
    )


async def check_control_sites(
    phase: str, ctx: MeasureContext, domestic: Sequence[str] = ()
) -> list[ControlSiteCheck]:
    """Return one check per configured control site (foreign), and per `domestic` site,
    measured concurrently, once a target's first DNS queries are out (issue 19)."""
    await ctx.after_first_queries()
    sites = [(url, SiteScope.FOREIGN) for url in ctx.settings.control.sites]
    sites += [(url, SiteScope.DOMESTIC) for url in domestic]
    return list(
        await asyncio.gather(*(check_control_site(url, phase, ctx, scope) for url, scope in sites))
    )
