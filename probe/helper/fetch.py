"""The helper's GET of the URL, following redirects hop by hop (METHODS.md §3, step 4).

Like oohelperd: one budget (`timeouts.http`) for the whole chain, at most `max_redirects`
redirects (301, 302, 303, 307, 308, as Go's client), only User-Agent, Accept and Accept-Language
forwarded from the client, a cookie jar for the chain (probe#2488: some sites redirect to
themselves until a cookie comes back), and a resolver that refuses bogons: every hop's host is
resolved through our resolvers and its addresses pass `DestinationPolicy` before one is dialled.
The last response is summarised with the legacy failure names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urljoin

import httpx

from probe.helper import legacy
from probe.helper.context import HelperContext, Resolution, lookup
from probe.helper.target import ControlTarget, parse_target
from probe.measure import http
from probe.measure._clock import Clock
from probe.models.control import ControlHttpRequest
from probe.models.failures import Failure
from probe.models.observations import HttpResponseRecord, HttpTransaction
from probe.models.page import summarize_response

_FORWARDED_HEADERS = ("User-Agent", "Accept", "Accept-Language")
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
# A header value we pass on must be printable ASCII: anything else could split the request.
_HEADER_VALUE = re.compile(r"^[\x20-\x7e\t]*$")
# Addresses tried per hop when the first cannot be connected to (IPv4 is tried first).
_ADDRESSES_PER_HOP = 2
_CONNECT_FAILURES = frozenset(
    {
        Failure.CONNECTION_REFUSED,
        Failure.HOST_UNREACHABLE,
        Failure.NETWORK_UNREACHABLE,
        Failure.ADDRESS_FAMILY_NOT_SUPPORTED,
    }
)


def forwarded_headers(requested: Mapping[str, list[str]]) -> dict[str, str]:
    """Return the request headers to send: ours, overridden by the client's UA/Accept/Language."""
    headers = {**http.DEFAULT_HEADERS, "User-Agent": http.user_agent()}
    by_name = {name.lower(): values for name, values in requested.items()}
    for name in _FORWARDED_HEADERS:
        values = by_name.get(name.lower())
        if values and _HEADER_VALUE.match(values[0]):
            headers[name] = values[0]
    return headers


class _Chain:
    """One fetch's request state: the headers sent on every hop and the chain's cookies."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers
        self.host = ""  # the host of the hop being sent
        self._cookies: dict[str, dict[str, str]] = {}  # domain → name → value

    async def on_request(self, request: httpx.Request) -> None:
        """Set our headers and the matching cookies on a request about to be sent."""
        # http.request() sets its own defaults; this httpx request hook runs after it.
        request.headers.update(self.headers)
        jar = {
            name: value
            for domain, cookies in self._cookies.items()
            if self.host == domain or self.host.endswith("." + domain)
            for name, value in cookies.items()
        }
        if jar:
            request.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())

    def remember(self, response: HttpResponseRecord) -> None:
        """Keep the cookies a response sets for the hosts of later hops."""
        for name, value in response.headers_list:
            if name.lower() != "set-cookie":
                continue
            try:
                parsed = SimpleCookie(value)
            except CookieError:
                continue
            for morsel in parsed.values():
                domain = morsel["domain"].lower().lstrip(".") or self.host
                cookies = self._cookies.setdefault(domain, {})
                if morsel["max-age"] == "0":
                    cookies.pop(morsel.key, None)
                else:
                    cookies[morsel.key] = morsel.value


def _canonical_header(name: str) -> str:
    """Return `name` as Go's CanonicalMIMEHeaderKey writes it ("content-type" → "Content-Type")."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _summary(transaction: HttpTransaction, chain: list[str]) -> ControlHttpRequest:
    """Return the control's http_request for the last transaction of the chain (`chain`: every
    URL requested), with the page's identity summary (issue 17)."""
    response = transaction.response
    failure = legacy.http_failure(transaction.failure)
    url = transaction.request.url
    if response is None:
        return _failed(failure or legacy.UNKNOWN_ERROR, url, chain)
    headers: dict[str, str] = {}
    for name, value in response.headers_list:
        headers.setdefault(_canonical_header(name), value)
    return ControlHttpRequest(
        body_length=response.x_body_length,
        failure=failure,
        title=response.x_title or "",
        headers=headers,
        status_code=response.code,
        x_body_sha256=response.x_body_sha256,
        x_final_url=url,
        x_chain=chain,
        x_address=transaction.address,
        x_page=summarize_response(response, url),
    )


def _failed(failure: str, url: str, chain: list[str] | None = None) -> ControlHttpRequest:
    return ControlHttpRequest(failure=failure, x_final_url=url, x_chain=chain or [url])


def _redirect(transaction: HttpTransaction) -> str | None:
    """Return the Location a redirect points to ("" for an unusable one); None: not a redirect."""
    response = transaction.response
    if transaction.failure is not None or response is None or response.code not in _REDIRECT_CODES:
        return None
    location = next((v for k, v in response.headers_list if k.lower() == "location"), None)
    if location is None:
        return None  # as Go: a 3xx without Location is the final response
    try:
        return parse_target(urljoin(transaction.request.url, location.strip())).url
    except ValueError:
        return ""


async def _request(
    client: httpx.AsyncClient, url: str, ip: str, ctx: HelperContext, clock: Clock, deadline: float
) -> HttpTransaction:
    measure_settings = ctx.settings.measure
    return await ctx.limited(
        http.request(
            client,
            url,
            ip,
            timeout_s=max(deadline - clock.now(), 0.001),
            connect_timeout_s=ctx.settings.timeouts.connect + ctx.settings.timeouts.tls,
            body_cap_bytes=measure_settings.body_cap_bytes,
            body_read_limit_bytes=measure_settings.body_read_limit_bytes,
            clock=clock,
            tags=[],
        )
    )


async def _hop(
    client: httpx.AsyncClient,
    url: str,
    resolution: Resolution,
    ctx: HelperContext,
    clock: Clock,
    deadline: float,
) -> HttpTransaction | ControlHttpRequest:
    """Return the transaction of one hop, or the control's failure when nothing could be sent."""
    if resolution.failure is not None or not resolution.addresses:
        failure = legacy.http_failure(resolution.failure or Failure.DNS_NO_ANSWER)
        return _failed(failure or legacy.UNKNOWN_ERROR, url)
    allowed = [ip for ip in resolution.addresses if ctx.policy.allows(ip)]
    if not allowed:
        return _failed(legacy.DESTINATION_REFUSED, url)
    transaction = None
    for ip in allowed[:_ADDRESSES_PER_HOP]:
        if clock.now() >= deadline:
            break
        transaction = await _request(client, url, ip, ctx, clock, deadline)
        if transaction.failure not in _CONNECT_FAILURES:
            break
    return transaction or _failed(Failure.GENERIC_TIMEOUT_ERROR, url)


async def _resolve_hop(host: str, ctx: HelperContext, clock: Clock, deadline: float) -> Resolution:
    remaining = deadline - clock.now()
    if remaining <= 0:
        return Resolution(Failure.GENERIC_TIMEOUT_ERROR, [])
    return await lookup(host, ctx, clock, min(ctx.settings.timeouts.dns, remaining))


async def fetch(
    target: ControlTarget,
    resolution: Resolution,
    requested_headers: Mapping[str, list[str]],
    ctx: HelperContext,
    clock: Clock,
) -> ControlHttpRequest:
    """Return the control's http_request: the last response of the redirect chain from target.

    `resolution` is the URL host's lookup, already done by the caller; later hops are resolved
    here. The chain, DNS included, is bounded by `timeouts.http`.
    """
    deadline = clock.now() + ctx.settings.timeouts.http
    chain = _Chain(forwarded_headers(requested_headers))
    hop = target
    visited: list[str] = []
    async with http.make_client(ctx.trust) as client:
        client.event_hooks = {"request": [chain.on_request], "response": []}
        for depth in range(ctx.settings.measure.max_redirects + 1):
            chain.host = hop.host
            visited.append(hop.url)
            if depth > 0:
                resolution = await _resolve_hop(hop.host, ctx, clock, deadline)
            outcome = await _hop(client, hop.url, resolution, ctx, clock, deadline)
            if isinstance(outcome, ControlHttpRequest):
                return outcome.model_copy(update={"x_chain": visited})
            if outcome.response is not None:
                chain.remember(outcome.response)
            next_url = _redirect(outcome)
            if next_url is None:
                return _summary(outcome, visited)
            if not next_url:
                return _failed(legacy.REDIRECT_FAILURE, hop.url, visited)
            hop = parse_target(next_url)
    return _failed(legacy.REDIRECT_FAILURE, hop.url, visited)
