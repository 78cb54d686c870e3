"""What every measurement of the helper shares, and the one DNS step both of them use.

`HelperContext` carries the settings, the destination policy, the trust store, the resolvers, the
outgoing-connection limit and the ASN lookup; `lookup()` resolves a host through every configured
resolver for `measure.py` (the URL host) and `fetch.py` (each redirect hop).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import httpx

from probe.config import Settings
from probe.helper.guard import DestinationPolicy
from probe.measure import dns, http, tls
from probe.measure._clock import Clock
from probe.models.addresses import is_ip_address, is_ipv6
from probe.models.failures import Failure, unknown_failure
from probe.models.observations import DnsObservation
from probe.observe.asn import AsnDatabase

T = TypeVar("T")

# Of several failed lookups, the most telling: a resolver that answered beats one that did not.
_DNS_FAILURE_RANK = (Failure.DNS_NXDOMAIN_ERROR, Failure.DNS_NO_ANSWER)


@dataclass(frozen=True)
class HelperContext:
    """What every measurement shares: settings, policy, trust store, resolvers, limits, ASNs."""

    settings: Settings
    policy: DestinationPolicy
    trust: tls.TrustStore
    resolvers: tuple[dns.ResolverSpec, ...]
    limiter: asyncio.BoundedSemaphore
    client: httpx.AsyncClient  # for DoH resolvers only: fetches get a client of their own
    asn_of: Callable[[str], int]

    async def limited(self, operation: Awaitable[T]) -> T:
        """Return the result of `operation`, run under the outgoing-connection limit."""
        async with self.limiter:
            return await operation


def request_budget_s(settings: Settings) -> float:
    """Return the longest one measurement may take: every step's own timeout, added up."""
    timeouts = settings.timeouts
    return timeouts.dns + timeouts.connect + timeouts.tls + timeouts.http


@contextlib.asynccontextmanager
async def open_context(
    settings: Settings, *, allow_loopback: bool = False
) -> AsyncIterator[HelperContext]:
    """Yield a HelperContext; its HTTP client and ASN database are closed on exit.

    Raises ConfigError when the ASN database cannot be opened. `allow_loopback` is for tests
    only (see DestinationPolicy).
    """
    trust = tls.TrustStore(settings.tls.ca_bundle)
    resolvers = tuple(dns.parse_resolver(spec) for spec in settings.resolver.servers)
    database = AsnDatabase(settings.geoip.asn_db) if settings.geoip.asn_db else None
    client = http.make_client(trust)
    try:
        yield HelperContext(
            settings=settings,
            policy=DestinationPolicy(
                settings.network.routable,
                allow_loopback=allow_loopback,
                refused=settings.helper.refused,
                own_allowed=settings.helper.own_addresses_allowed,
            ),
            trust=trust,
            resolvers=resolvers,
            limiter=asyncio.BoundedSemaphore(settings.measure.connection_concurrency),
            client=client,
            asn_of=(lambda ip: database.asn(ip)[0] or 0) if database else (lambda ip: 0),
        )
    finally:
        await client.aclose()
        if database is not None:
            database.close()


def check_settings(settings: Settings) -> None:
    """Raise ConfigError now for what would otherwise fail when the server starts."""
    tls.TrustStore(settings.tls.ca_bundle)
    for spec in settings.resolver.servers:
        dns.parse_resolver(spec)
    if settings.geoip.asn_db is not None:
        AsnDatabase(settings.geoip.asn_db).close()


class Resolution(NamedTuple):
    """A host's addresses through all our resolvers (IPv4 first), or why there are none."""

    failure: str | None  # probe.measure's vocabulary, not yet renamed
    addresses: list[str]


def _combined_failure(queries: list[DnsObservation]) -> str:
    # A DoH or DoT resolver we could not reach said nothing about the name: its failure (the
    # lookup of the resolver's own name, a blocked port) must not read as NXDOMAIN (issue 17).
    failures = [
        unknown_failure(f"resolver unreachable ({q.failure})")
        if q.is_transport_failure()
        else q.failure or Failure.DNS_NO_ANSWER
        for q in queries
    ]
    for wanted in _DNS_FAILURE_RANK:
        if wanted in failures:
            return wanted
    return failures[0] if failures else Failure.DNS_NO_ANSWER


async def lookup(host: str, ctx: HelperContext, clock: Clock, timeout_s: float) -> Resolution:
    """Return the A and AAAA addresses of `host` from every configured resolver."""
    if is_ip_address(host):
        return Resolution(None, [host])
    queries = await asyncio.gather(
        *(
            ctx.limited(
                dns.resolve(
                    host,
                    query_type,
                    resolver,
                    timeout_s=timeout_s,
                    late_reply_window_s=0.0,
                    clock=clock,
                    tags=[],
                    http_client=ctx.client,
                    trust=ctx.trust,
                )
            )
            for resolver in ctx.resolvers
            for query_type in ("A", "AAAA")
        )
    )
    found: dict[str, None] = {}
    for query in queries:
        found.update((address, None) for address in query.addresses() if address)
    if found:
        return Resolution(None, sorted(found, key=is_ipv6))
    return Resolution(_combined_failure(list(queries)), [])
