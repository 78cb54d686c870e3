"""The redirect chain of one attempt: its first request over the attempt's held connection,
each later hop resolved and connected on its own (`fetch_chain`)."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from probe.measure import http
from probe.measure._clock import Clock
from probe.measure._connection import Connection, Held
from probe.measure._steps import AttemptLog, MeasureContext, bind, resolve
from probe.models.observations import HttpTransaction

REDIRECT_CODES = (301, 302, 303, 307, 308)


def next_url(transaction: HttpTransaction) -> str | None:
    """Return where a redirect response points, None if it is not a usable redirect."""
    response = transaction.response
    if transaction.failure is not None or response is None or response.code not in REDIRECT_CODES:
        return None
    location = next((v for k, v in response.headers_list if k.lower() == "location"), None)
    if not location:
        return None
    target = urljoin(transaction.request.url, location)
    return target if urlsplit(target).scheme in ("http", "https") else None


async def fetch_chain(
    url: str,
    address: str,
    ctx: MeasureContext,
    clock: Clock,
    log: AttemptLog,
    held: Held | None = None,
) -> HttpTransaction | None:
    """Return the last transaction of the redirect chain from `url`, first sent to `address`.

    The first request goes over the connection `held` keeps to `address`, when there is one;
    each redirect hop opens its own.
    """
    measure = ctx.settings.measure
    last: HttpTransaction | None = None
    for depth in range(measure.max_redirects + 1):
        connection: Connection | None = None
        if depth > 0:
            host = urlsplit(url).hostname or ""
            addresses = await resolve(host, ctx, clock, log, depth, first_only=True)
            if not addresses:
                return last
            address = addresses[0]
        elif held is not None:
            connection = held.get(address)  # request() closes it; `held` too, if never sent
        last = await ctx.limited(
            bind(
                http.request,
                ctx.client,
                url,
                address,
                timeout_s=ctx.settings.timeouts.http,
                connect_timeout_s=ctx.settings.timeouts.connect + ctx.settings.timeouts.tls,
                body_cap_bytes=measure.body_cap_bytes,
                body_read_limit_bytes=measure.body_read_limit_bytes,
                clock=clock,
                tags=log.tags(depth),
                connection=connection,
            )
        )
        log.requests.insert(0, last)
        following = next_url(last)
        if following is None:
            return last
        url = following
    return last
