"""One endpoint end to end: resolve → connect/handshake → fetch (following redirects) → control.

The orchestrator: steps never start other steps; this module sequences them, runs retries as
overlapping attempts, and hands back everything in OONI's structures (`TestKeys`) for observe/ and
decide/ to judge once all steps have finished. Tags written here (decide/ relies on them):
`attempt=N` on every probe-side observation, `depth=N` for the redirect depth, `tls_validation` on
the handshakes that only validate an http:// URL's addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from probe.config import Settings
from probe.measure import control as control_client
from probe.measure import dns, http, tcp, tls
from probe.measure._clock import Clock
from probe.measure._local import LocalAddresses
from probe.models.addresses import is_ip_address, is_ipv6
from probe.models.control import ControlRequest
from probe.models.observations import DnsObservation, HttpTransaction, TcpObservation, TlsObservation
from probe.models.results import ControlSiteCheck, TestKeys
from probe.models.targets import Endpoint, EndpointKind

T = TypeVar("T")

_REDIRECT_CODES = (301, 302, 303, 307, 308)


@dataclass
class MeasureContext:
    """What every step of one invocation shares: settings, trust store, clients, limits."""

    settings: Settings
    trust: tls.TrustStore
    resolvers: tuple[dns.ResolverSpec, ...]
    client: httpx.AsyncClient
    limiter: asyncio.Semaphore
    local_addresses: LocalAddresses = field(default_factory=LocalAddresses)

    async def limited(self, operation: Awaitable[T]) -> T:
        """Return the result of `operation`, run under the connection-concurrency limit."""
        async with self.limiter:
            return await operation


@contextlib.asynccontextmanager
async def open_context(settings: Settings) -> AsyncIterator[MeasureContext]:
    """Yield a MeasureContext whose HTTP client is closed on exit."""
    trust = tls.TrustStore(settings.tls.ca_bundle)
    resolvers = tuple(dns.parse_resolver(spec) for spec in settings.resolver.servers)
    client = http.make_client(trust)
    try:
        yield MeasureContext(
            settings=settings,
            trust=trust,
            resolvers=resolvers,
            client=client,
            limiter=asyncio.Semaphore(settings.measure.connection_concurrency),
        )
    finally:
        await client.aclose()


@dataclass
class _Sink:
    """Observations of every attempt, merged; requests kept newest first as OONI's."""

    queries: list[DnsObservation] = field(default_factory=list)
    tcp_connect: list[TcpObservation] = field(default_factory=list)
    tls_handshakes: list[TlsObservation] = field(default_factory=list)
    requests: list[HttpTransaction] = field(default_factory=list)
    first_addresses: asyncio.Future[list[str]] | None = None


def _tags(attempt: int, depth: int, *extra: str) -> list[str]:
    return [f"attempt={attempt}", f"depth={depth}", *extra]


def _ordered_addresses(queries: list[DnsObservation]) -> list[str]:
    """Return the unique addresses answered, IPv4 first (a VPS often lacks IPv6)."""
    seen: dict[str, None] = {}
    for query in queries:
        for address in query.addresses():
            if address:
                seen.setdefault(address, None)
    return sorted(seen, key=is_ipv6)


async def _resolve_all(
    host: str, ctx: MeasureContext, clock: Clock, tags: list[str], resolvers: tuple[dns.ResolverSpec, ...]
) -> list[DnsObservation]:
    timeouts = ctx.settings
    jobs = [
        ctx.limited(
            dns.resolve(
                host,
                qtype,
                resolver,
                timeout_s=timeouts.timeouts.dns,
                late_reply_window_s=timeouts.resolver.late_reply_window_s,
                clock=clock,
                tags=tags,
                http_client=ctx.client,
            )
        )
        for resolver in resolvers
        for qtype in ("A", "AAAA")
    ]
    return list(await asyncio.gather(*jobs))


async def _resolve(
    host: str, ctx: MeasureContext, clock: Clock, tags: list[str], sink: _Sink, *, first_only: bool = False
) -> list[str]:
    if is_ip_address(host):
        return [host.strip("[]")]
    resolvers = ctx.resolvers[:1] if first_only else ctx.resolvers
    queries = await _resolve_all(host, ctx, clock, tags, resolvers)
    sink.queries.extend(queries)
    return _ordered_addresses(queries)


async def _connect_all(
    endpoint: Endpoint, addresses: list[str], ctx: MeasureContext, clock: Clock, tags: list[str], sink: _Sink
) -> list[str]:
    timeout_s = ctx.settings.timeouts.connect
    results = await asyncio.gather(
        *(ctx.limited(tcp.connect(ip, endpoint.port, timeout_s=timeout_s, clock=clock, tags=tags))
          for ip in addresses)
    )
    sink.tcp_connect.extend(results)
    ctx.local_addresses.learn_towards(addresses)
    return [obs.ip for obs in results if obs.status.success]


async def _handshake_all(
    host: str, port: int, addresses: list[str], ctx: MeasureContext, clock: Clock, tags: list[str], sink: _Sink
) -> list[str]:
    timeouts = ctx.settings.timeouts
    results = await asyncio.gather(
        *(
            ctx.limited(
                tls.handshake(
                    ip, port, host, trust=ctx.trust, connect_timeout_s=timeouts.connect,
                    tls_timeout_s=timeouts.tls, clock=clock, tags=tags,
                )
            )
            for ip in addresses
        )
    )
    ok = []
    for (tcp_obs, tls_obs), ip in zip(results, addresses, strict=True):
        sink.tcp_connect.append(tcp_obs)
        sink.tls_handshakes.append(tls_obs)
        if tls_obs.failure is None:
            ok.append(ip)
    ctx.local_addresses.learn_towards(addresses)
    return ok


def _next_url(transaction: HttpTransaction) -> str | None:
    response = transaction.response
    if transaction.failure is not None or response is None or response.code not in _REDIRECT_CODES:
        return None
    location = next((v for k, v in response.headers_list if k.lower() == "location"), None)
    if not location:
        return None
    return urljoin(transaction.request.url, location)


async def _fetch_chain(
    url: str, address: str, attempt: int, ctx: MeasureContext, clock: Clock, sink: _Sink
) -> HttpTransaction | None:
    """Return the last transaction of the redirect chain starting at url (sent to address)."""
    settings = ctx.settings
    last: HttpTransaction | None = None
    host = urlsplit(url).hostname or ""
    for depth in range(settings.measure.max_redirects + 1):
        if depth > 0:
            host = urlsplit(url).hostname or ""
            addresses = await _resolve(host, ctx, clock, _tags(attempt, depth), sink, first_only=True)
            address = addresses[0] if addresses else None
            if address is None:
                return last
        last = await ctx.limited(
            http.request(
                ctx.client, url, address, timeout_s=settings.timeouts.http,
                body_cap_bytes=settings.measure.body_cap_bytes,
                body_read_limit_bytes=settings.measure.body_read_limit_bytes,
                clock=clock, tags=_tags(attempt, depth),
            )
        )
        sink.requests.insert(0, last)
        next_url = _next_url(last)
        if next_url is None or urlsplit(next_url).scheme not in ("http", "https"):
            return last
        url = next_url
    return last


async def _attempt(endpoint: Endpoint, attempt: int, ctx: MeasureContext, clock: Clock, sink: _Sink) -> bool:
    """Return whether one attempt reached its goal (a final HTTP response, or a TCP connect)."""
    tags = _tags(attempt, 0)
    addresses = await _resolve(endpoint.host, ctx, clock, tags, sink)
    if sink.first_addresses is not None and not sink.first_addresses.done():
        sink.first_addresses.set_result(addresses)
    if not addresses:
        return False
    if endpoint.kind is EndpointKind.TCP:
        return bool(await _connect_all(endpoint, addresses, ctx, clock, tags, sink))
    scheme = urlsplit(endpoint.url or "").scheme
    if scheme == "https":
        usable = await _handshake_all(endpoint.host, endpoint.port, addresses, ctx, clock, tags, sink)
    else:
        validation = []
        if endpoint.port == 80:
            validation.append(_handshake_all(endpoint.host, 443, addresses, ctx, clock,
                                             [*tags, "tls_validation"], sink))
        usable, *_ = await asyncio.gather(
            _connect_all(endpoint, addresses, ctx, clock, tags, sink), *validation
        )
    if not usable:
        return False
    last = await _fetch_chain(endpoint.url or "", usable[0], attempt, ctx, clock, sink)
    return last is not None and last.failure is None and last.response is not None


def _succeeded(tasks: list[asyncio.Task[bool]]) -> bool:
    return any(t.done() and not t.cancelled() and t.exception() is None and t.result() for t in tasks)


async def _wait_until(deadline: float, tasks: list[asyncio.Task[bool]], clock: Clock) -> None:
    """Sleep until `deadline` (clock seconds) or until an attempt succeeds."""
    while (remaining := deadline - clock.now()) > 0 and not _succeeded(tasks):
        pending = [t for t in tasks if not t.done()]
        if not pending:
            await asyncio.sleep(remaining)
            return
        await asyncio.wait(pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)


async def _run_attempts(endpoint: Endpoint, ctx: MeasureContext, clock: Clock, sink: _Sink) -> int:
    """Run overlapping attempts (starting at 0, b, 3b, 7b… s); return how many started.

    Overlapping instead of queueing keeps a blackholed target's verdict near one connect timeout,
    while a transient failure still gets its retries (Censored Planet retries up to 5 times).
    The first attempt that reaches its goal ends the others.
    """
    settings = ctx.settings.measure
    tasks: list[asyncio.Task[bool]] = []
    try:
        for attempt in range(1, settings.attempts + 1):
            await _wait_until(settings.retry_backoff_s * (2 ** (attempt - 1) - 1), tasks, clock)
            if _succeeded(tasks):
                return len(tasks)
            tasks.append(asyncio.create_task(_attempt(endpoint, attempt, ctx, clock, sink)))
        pending = list(tasks)
        while pending and not _succeeded(tasks):
            _, still = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending = list(still)
        return len(tasks)
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        bugs = [o for o in outcomes if isinstance(o, Exception)]
        if bugs:  # a network failure is data; anything raised here is a bug: show it
            raise bugs[0]


def _control_endpoints(endpoint: Endpoint, addresses: list[str]) -> list[str]:
    scheme = urlsplit(endpoint.url or "").scheme
    ports = [endpoint.port]
    if endpoint.kind is EndpointKind.WEB and scheme == "http" and endpoint.port == 80:
        ports = [443, 80]
    return [f"[{ip}]:{port}" if is_ipv6(ip) else f"{ip}:{port}" for ip in addresses for port in ports]


def _control_url(endpoint: Endpoint) -> str:
    if endpoint.url is not None:
        return endpoint.url
    return f"https://{endpoint.host}/"


async def _control(endpoint: Endpoint, ctx: MeasureContext, sink: _Sink) -> tuple[ControlRequest, tuple]:  # type: ignore[type-arg]
    assert sink.first_addresses is not None
    addresses = await sink.first_addresses
    request = ControlRequest(
        http_request=_control_url(endpoint),
        http_request_headers={
            "Accept": [http.DEFAULT_HEADERS["Accept"]],
            "Accept-Language": [http.DEFAULT_HEADERS["Accept-Language"]],
            "User-Agent": [http.user_agent()],
        },
        tcp_connect=_control_endpoints(endpoint, addresses),
    )
    if not ctx.settings.control.helpers:
        return request, (None, None, "no_test_helpers_configured")
    answer = await control_client.query_helpers(
        list(ctx.settings.control.helpers), request, client=ctx.client,
        timeout_s=ctx.settings.control.helper_timeout_s,
        overlap_s=ctx.settings.control.helper_overlap_s,
    )
    return request, answer


async def _doh_control(host: str, ctx: MeasureContext, clock: Clock) -> list[DnsObservation]:
    if is_ip_address(host) or not ctx.settings.control.doh:
        return []
    specs = tuple(dns.parse_resolver(url) for url in ctx.settings.control.doh[:2])
    return await _resolve_all(host, ctx, clock, ["control_resolver"], specs)


async def measure_endpoint(endpoint: Endpoint, ctx: MeasureContext, clock: Clock) -> TestKeys:
    """Return everything measured for one endpoint: attempts, trusted DoH and the helper's view."""
    sink = _Sink(first_addresses=asyncio.get_running_loop().create_future())
    control_task = asyncio.create_task(_control(endpoint, ctx, sink))
    doh_task = asyncio.create_task(_doh_control(endpoint.host, ctx, clock))
    try:
        attempts = await _run_attempts(endpoint, ctx, clock, sink)
        if not sink.first_addresses.done():
            sink.first_addresses.set_result([])
        request, (response, helper, failure) = await control_task
        doh = await doh_task
    finally:
        for task in (control_task, doh_task):
            task.cancel()
        await asyncio.gather(control_task, doh_task, return_exceptions=True)
    return TestKeys(
        queries=sink.queries, tcp_connect=sink.tcp_connect, tls_handshakes=sink.tls_handshakes,
        requests=sink.requests, x_doh=doh, x_control_request=request, control=response,
        control_failure=failure, test_helper=helper, attempts=attempts,
    )


def _first_failure(sink: _Sink) -> tuple[str | None, str | None]:
    """Return (step, failure) of the first failing step of the latest attempt."""
    if sink.requests:
        last = sink.requests[0]
        return (None, None) if last.failure is None else ("http", last.failure)
    if sink.tls_handshakes:
        return "tls", next((h.failure for h in sink.tls_handshakes if h.failure), None)
    if sink.tcp_connect:
        return "tcp", next((c.status.failure for c in sink.tcp_connect if c.status.failure), None)
    return "dns", next((q.failure for q in sink.queries if q.failure), None) or "dns_no_answer"


async def check_control_site(url: str, phase: str, ctx: MeasureContext) -> ControlSiteCheck:
    """Return whether a control site loads on the probe's own path (one side of the sandwich)."""
    clock = Clock()
    parts = urlsplit(url)
    endpoint = Endpoint(
        kind=EndpointKind.WEB, host=(parts.hostname or "").lower(), url=url,
        port=parts.port or (443 if parts.scheme == "https" else 80),
    )
    sink = _Sink()
    await _run_attempts(endpoint, ctx, clock, sink)
    last = sink.requests[0] if sink.requests else None
    success = last is not None and last.failure is None and last.response is not None
    step, failure = (None, None) if success else _first_failure(sink)
    return ControlSiteCheck(
        url=url, phase=phase, success=success, step=step, failure=failure,
        status_code=last.response.code if last is not None and last.response is not None else None,
        elapsed_s=clock.now(),
    )


async def check_control_sites(phase: str, ctx: MeasureContext) -> list[ControlSiteCheck]:
    """Return one check per configured control site, measured concurrently."""
    sites = ctx.settings.control.sites
    return list(await asyncio.gather(*(check_control_site(url, phase, ctx) for url in sites)))

