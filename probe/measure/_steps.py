"""The steps one attempt strings together, each recording into an `AttemptLog`.

Lookups hand their first reply over at once and keep listening for late replies in the
background (`AttemptLog.lookups`), so the late-reply window overlaps the connects instead of
delaying them. Given a `Held`, the connects and handshakes keep the connection to the first
usable address open, and `fetch_chain` sends the first request over it: one connection per
attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from probe.config import Settings
from probe.measure import dns, tcp, tls
from probe.measure._clock import Clock
from probe.measure._health import HelperHealth
from probe.measure._local import LocalAddresses
from probe.measure._sockets import PlainSocket
from probe.models.addresses import is_ip_address, is_ipv6
from probe.models.observations import (
    DnsObservation,
    HttpTransaction,
    TcpObservation,
    TlsObservation,
)
from probe.models.tags import observation_tags

if TYPE_CHECKING:  # httpx, and httpcore under our connections, are imported once a reply is in
    import httpx

    from probe.measure._connection import Held

T = TypeVar("T")
P = ParamSpec("P")
# How long the controls wait for a target's first DNS queries (MeasureContext.first_queries):
# a bound, in case no target resolves a name (they are measured meanwhile anyway).
FIRST_QUERIES_WAIT_S = 0.25


def bind(
    function: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
) -> Callable[[], Awaitable[T]]:
    """Return a factory that calls `function(*args, **kwargs)` when invoked (typed partial)."""

    def call() -> Awaitable[T]:
        return function(*args, **kwargs)

    return call


@dataclass
class MeasureContext:
    """What every step of one invocation shares: settings, trust store, clients, limits."""

    settings: Settings
    trust: tls.TrustStore
    resolvers: tuple[dns.ResolverSpec, ...]
    limiter: asyncio.Semaphore
    control_limiter: asyncio.Semaphore
    local_addresses: LocalAddresses = field(default_factory=LocalAddresses)
    helper_health: HelperHealth = field(default_factory=HelperHealth)
    # One throughput test at a time: downloads sharing the link would slow each other down.
    throughput_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # One packet test at a time: traces are rate-limited, and captures stay small.
    packet_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Issue 19, outages end early. What the run's evidence about its own network is so far:
    # each control site's first attempt (URL → the step it failed at, None: it loaded), each
    # helper's reachability (URL → the connect failure, None: it connected), and whether any
    # attempt of the run reached its goal. `on_evidence` is called when one of these changes;
    # the runner (which judges) sets `stop_retrying` once an outage is beyond doubt: then no
    # attempt starts after the first, and none is waited for once one has ended.
    first_control_attempts: dict[str, str | None] = field(default_factory=dict)
    helper_connects: dict[str, str | None] = field(default_factory=dict)
    anything_reached: bool = False
    on_evidence: Callable[[], None] | None = None
    stop_retrying: asyncio.Event = field(default_factory=asyncio.Event)
    _client: httpx.AsyncClient | None = field(default=None, init=False, repr=False)
    _services: httpx.AsyncClient | None = field(default=None, init=False, repr=False)
    # Issue 19: the late-reply window runs from the first reply's arrival, so the controls'
    # start (TLS contexts, handshakes, certificates: CPU) waits until a target's first queries
    # are out (`resolve` sets this; FIRST_QUERIES_WAIT_S at most) and then overlaps the window.
    first_queries: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def client(self) -> httpx.AsyncClient:
        """The run's httpx client for what is measured (a new connection per request), made when
        first used: loading its roots (≈ 15 ms) need not delay a check's first DNS query."""
        if self._client is None:
            from probe.measure.http import make_client

            self._client = make_client(self.trust)
        return self._client

    @property
    def services(self) -> httpx.AsyncClient:
        """The run's httpx client for the services it asks (the test helpers, the control DoH
        resolvers), which keeps their connections open between requests (issue 19)."""
        if self._services is None:
            from probe.measure.http import make_service_client

            self._services = make_service_client(self.trust)
        return self._services

    async def close_client(self) -> None:
        """Close the httpx clients that were made."""
        for client in (self._client, self._services):
            if client is not None:
                await client.aclose()

    async def after_first_queries(self) -> None:
        """Return once a target's first DNS queries are out (FIRST_QUERIES_WAIT_S at most)."""
        if self.first_queries.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FIRST_QUERIES_WAIT_S):
                await self.first_queries.wait()

    def evidence_changed(self) -> None:
        """Tell the runner that the run's network evidence changed."""
        if self.on_evidence is not None:
            self.on_evidence()

    async def limited(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Return the result of `operation()`, run under the connection-concurrency limit.

        A factory rather than a coroutine: one cancelled while queueing is then never created
        (Python warns about a coroutine that was created and never awaited).
        """
        async with self.limiter:
            return await operation()


@contextlib.asynccontextmanager
async def open_context(settings: Settings) -> AsyncIterator[MeasureContext]:
    """Yield a MeasureContext whose HTTP client (if one was made) is closed on exit."""
    trust = tls.TrustStore(settings.tls.ca_bundle)
    resolvers = tuple(dns.parse_resolver(spec) for spec in settings.resolver.servers)
    ctx = MeasureContext(
        settings=settings,
        trust=trust,
        resolvers=resolvers,
        limiter=asyncio.Semaphore(settings.measure.connection_concurrency),
        control_limiter=asyncio.Semaphore(settings.control.helper_requests_in_flight),
    )
    try:
        yield ctx
    finally:
        await ctx.close_client()


@dataclass
class Sink:
    """Observations of every attempt, merged; requests kept newest first as OONI's."""

    queries: list[DnsObservation] = field(default_factory=list)
    tcp_connect: list[TcpObservation] = field(default_factory=list)
    tls_handshakes: list[TlsObservation] = field(default_factory=list)
    requests: list[HttpTransaction] = field(default_factory=list)


@dataclass
class AttemptLog:
    """One attempt's number, where it records, and its lookups still listening for late replies."""

    number: int
    sink: Sink
    lookups: list[asyncio.Task[DnsObservation]] = field(default_factory=list)
    requests: list[HttpTransaction] = field(default_factory=list)  # this attempt's, newest first
    reached: bool = False  # it reached its goal (set before its late-reply window ends)

    def tags(self, depth: int, *extra: str) -> list[str]:
        """Return the tags of an observation made at redirect `depth`."""
        return observation_tags(self.number, depth, *extra)

    async def settle(self, *, late_replies: bool = True) -> None:
        """Record the attempt: its lookups once their late-reply windows end (without
        `late_replies`: those already over, the others cancelled), and its chain.

        The chain goes in front of the others', so `requests[0]` is the last hop of the attempt
        that finished last: the one that succeeded, when one did (OONI readers look there).
        """
        if not late_replies:
            for task in self.lookups:
                task.cancel()
        outcomes = await asyncio.gather(*self.lookups, return_exceptions=not late_replies)
        results = [o for o in outcomes if isinstance(o, DnsObservation)]
        self.sink.queries.extend(results)
        self.lookups.clear()
        self.sink.requests[:0] = self.requests

    async def abandon(self) -> None:
        """Cancel the lookups still listening (the attempt was cancelled); keep its chain last."""
        for task in self.lookups:
            task.cancel()
        await asyncio.gather(*self.lookups, return_exceptions=True)
        self.lookups.clear()
        self.sink.requests.extend(self.requests)


def ordered_addresses(queries: list[DnsObservation]) -> list[str]:
    """Return the unique addresses answered, IPv4 first (a VPS often lacks IPv6)."""
    seen: dict[str, None] = {}
    for query in queries:
        for address in query.addresses():
            if address:
                seen.setdefault(address, None)
    return sorted(seen, key=is_ipv6)


async def _limited_lookup(
    host: str,
    qtype: str,
    resolver: dns.ResolverSpec,
    ctx: MeasureContext,
    clock: Clock,
    tags: list[str],
    early: asyncio.Future[DnsObservation],
    services: bool = False,
) -> DnsObservation:
    """Return the lookup's complete observation; hand the first reply to `early` at once (a
    DoH resolver asked through `ctx.services` when `services`: the control resolvers).

    The concurrency slot is given back at the first reply: a socket listening for late replies
    costs nothing, and holding the slot for the window would queue every connect behind it.
    """
    await ctx.limiter.acquire()
    held = True

    def release() -> None:
        nonlocal held
        if held:
            held = False
            ctx.limiter.release()

    def first(observation: DnsObservation) -> None:
        release()
        if not early.done():
            early.set_result(observation)

    client = None  # made only for DoH
    if resolver.engine == "doh":
        client = ctx.services if services else ctx.client
    try:
        return await dns.resolve(
            host,
            qtype,
            resolver,
            timeout_s=ctx.settings.timeouts.dns,
            late_reply_window_s=ctx.settings.resolver.late_reply_window_s,
            clock=clock,
            tags=tags,
            http_client=client,
            trust=ctx.trust,
            on_first=first,
        )
    finally:
        release()


def _lookup(
    host: str,
    qtype: str,
    resolver: dns.ResolverSpec,
    ctx: MeasureContext,
    clock: Clock,
    tags: list[str],
    services: bool = False,
) -> tuple[asyncio.Future[DnsObservation], asyncio.Task[DnsObservation]]:
    early: asyncio.Future[DnsObservation] = asyncio.get_running_loop().create_future()
    lookup = _limited_lookup(host, qtype, resolver, ctx, clock, tags, early, services)
    return early, asyncio.create_task(lookup)


async def _first_reply(
    early: asyncio.Future[DnsObservation], task: asyncio.Task[DnsObservation]
) -> DnsObservation:
    await asyncio.wait([early, task], return_when=asyncio.FIRST_COMPLETED)
    return early.result() if early.done() else task.result()


async def resolve(
    host: str,
    ctx: MeasureContext,
    clock: Clock,
    log: AttemptLog,
    depth: int,
    *,
    first_only: bool = False,
) -> list[str]:
    """Return the addresses the probe's resolvers give for `host` (first replies)."""
    if is_ip_address(host):
        ctx.first_queries.set()
        return [host.strip("[]")]
    resolvers = ctx.resolvers[:1] if first_only else ctx.resolvers
    pairs = [
        _lookup(host, qtype, resolver, ctx, clock, log.tags(depth))
        for resolver in resolvers
        for qtype in ("A", "AAAA")
    ]
    # The lookups were scheduled first: they send their queries before any waiter resumes.
    ctx.first_queries.set()
    log.lookups.extend(task for _, task in pairs)
    firsts = await asyncio.gather(*(_first_reply(early, task) for early, task in pairs))
    return ordered_addresses(list(firsts))[: ctx.settings.measure.max_addresses]


async def lookup_all(
    host: str,
    resolvers: tuple[dns.ResolverSpec, ...],
    ctx: MeasureContext,
    clock: Clock,
    tags: list[str],
) -> list[DnsObservation]:
    """Return the complete observations of A and AAAA lookups through every control resolver
    (DoH through the run's service client)."""
    pairs = [
        _lookup(host, q, r, ctx, clock, tags, services=True)
        for r in resolvers
        for q in ("A", "AAAA")
    ]
    return list(await asyncio.gather(*(task for _, task in pairs)))


async def _connect(
    ip: str, port: int, ctx: MeasureContext, clock: Clock, tags: list[str], held: Held | None
) -> TcpObservation:
    """Return one connect's observation; the connection goes to `held` (else it is closed)."""
    timeout_s = ctx.settings.timeouts.connect
    observation, sock = await tcp.open_socket(ip, port, timeout_s=timeout_s, clock=clock, tags=tags)
    if sock is not None:  # kept before any await: a cancelled attempt's `held` closes it
        if held is None:
            sock.close()
        else:
            held.keep_stream(observation.ip, PlainSocket(sock), ip, port)
    return observation


async def connect_all(
    addresses: list[str],
    port: int,
    ctx: MeasureContext,
    clock: Clock,
    tags: list[str],
    sink: Sink,
    held: Held | None = None,
) -> list[str]:
    """Return the addresses a TCP connect succeeded to (every connect is recorded).

    With `held`, the connection to the first of them stays open there; the others are closed.
    """
    results = await asyncio.gather(
        *(ctx.limited(bind(_connect, ip, port, ctx, clock, tags, held)) for ip in addresses)
    )
    sink.tcp_connect.extend(results)
    ctx.local_addresses.learn_towards(addresses)
    usable = [obs.ip for obs in results if obs.status.success]
    if held is not None:
        held.retain(usable[0] if usable else None)
    return usable


async def _handshake(
    host: str,
    port: int,
    ip: str,
    ctx: MeasureContext,
    clock: Clock,
    tags: list[str],
    held: Held | None,
) -> tuple[TcpObservation, TlsObservation]:
    """Return one connect and handshake; the verified connection goes to `held` (else closed)."""
    timeouts = ctx.settings.timeouts
    tcp_observation, tls_observation, stream = await tls.open_tls(
        ip,
        port,
        host,
        trust=ctx.trust,
        connect_timeout_s=timeouts.connect,
        tls_timeout_s=timeouts.tls,
        clock=clock,
        tags=tags,
    )
    if stream is not None:  # kept before any await: a cancelled attempt's `held` closes it
        if held is None:
            stream.socket.close()
        else:
            held.keep_stream(ip, stream, ip, port, server_name=host)
    return tcp_observation, tls_observation


async def handshake_all(
    host: str,
    port: int,
    addresses: list[str],
    ctx: MeasureContext,
    clock: Clock,
    tags: list[str],
    sink: Sink,
    held: Held | None = None,
) -> list[str]:
    """Return the addresses a verified TLS handshake succeeded with (all are recorded).

    With `held`, the connection to the first of them stays open there; the others are closed.
    """
    results = await asyncio.gather(
        *(ctx.limited(bind(_handshake, host, port, ip, ctx, clock, tags, held))
          for ip in addresses)
    )  # fmt: skip
    usable = []
    for (tcp_obs, tls_obs), ip in zip(results, addresses, strict=True):
        sink.tcp_connect.append(tcp_obs)
        sink.tls_handshakes.append(tls_obs)
        if tls_obs.failure is None:
            usable.append(ip)
    ctx.local_addresses.learn_towards(addresses)
    if held is not None:
        held.retain(usable[0] if usable else None)
    return usable
