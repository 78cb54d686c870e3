"""Read the measurement's shape: observations grouped by attempt, and how each attempt ended.

measure/plan.py tags every probe-side observation `attempt=N` and `depth=N`; the handshakes that
only validate an http:// URL's addresses carry `tls_validation`. An attempt runs the whole chain
(resolve → connect/handshake → fetch) and stops at the first failing step; an attempt cancelled
because another one succeeded leaves an incomplete trace, which is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from probe.models.addresses import is_ip_address, is_ipv6
from probe.models.control import ControlResponse
from probe.models.failures import Failure, LegacyFailure, OoniFailure
from probe.models.observations import (
    DnsObservation,
    HttpTransaction,
    TcpObservation,
    TlsObservation,
)
from probe.models.results import Layer, TestKeys
from probe.models.tags import attempt_of, depth_of, only_validates
from probe.models.targets import Endpoint, EndpointKind

NXDOMAIN_FAILURES = frozenset({Failure.DNS_NXDOMAIN_ERROR, OoniFailure.ANDROID_DNS_CACHE_NO_DATA})
NO_ANSWER_FAILURES = frozenset({Failure.DNS_NO_ANSWER})
# The helper's DNS failures that are its resolver's answer about the name (OONI's legacy names:
# NXDOMAIN, SERVFAIL). Anything else ("unknown_error": its own resolver unreachable…) is a failed
# control: absent, never an answer (issue 17).
HELPER_DNS_ANSWERS = frozenset(
    {LegacyFailure.DNS_NAME_ERROR, LegacyFailure.DNS_SERVER_FAILURE, *NXDOMAIN_FAILURES}
)
_HELPER_LOOKUP_FAILED = LegacyFailure.DNS_LOOKUP_ERROR
# IPv6 from a host without IPv6 (probe#2284): not evidence of anything.
IPV6_IGNORED_FAILURES = frozenset({Failure.NETWORK_UNREACHABLE, Failure.HOST_UNREACHABLE})
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


def split_address(address: str) -> tuple[str, int]:
    """Return (ip, port) of "ip:port" or "[ip6]:port"; port -1 when unparseable."""
    host, sep, port = address.rpartition(":")
    if not sep:
        return address.strip("[]"), -1
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return host.strip("[]"), -1


def join_address(ip: str, port: int) -> str:
    """Return "ip:port", bracketing IPv6 as the helper's keys do."""
    return f"[{ip}]:{port}" if is_ipv6(ip) else f"{ip}:{port}"


def is_ignored_connect(ip: str, failure: str | None) -> bool:
    """Return whether a failed connect is an IPv6 route missing on the probe host (probe#2284)."""
    return failure in IPV6_IGNORED_FAILURES and is_ipv6(ip)


def query_addresses(query: DnsObservation) -> list[str]:
    """Return the non-empty A/AAAA addresses of `query`."""
    return [a for a in query.addresses() if a]


def is_redirect(transaction: HttpTransaction) -> bool:
    """Return whether `transaction` got a redirect to a usable location (the chain goes on).

    A redirect whose Location has no host (probe#2628) ends the chain: the server sent it.
    """
    response = transaction.response
    if response is None or response.code not in REDIRECT_CODES:
        return False
    location = next((v for k, v in response.headers_list if k.lower() == "location"), None)
    if location is None:
        location = next((v for k, v in response.headers.items() if k.lower() == "location"), "")
    location = location.strip()
    parts = urlsplit(location)
    if parts.scheme or location.startswith("//"):
        return bool(parts.hostname)
    return bool(location)


def url_scheme(url: str) -> str:
    """Return the lower-case scheme of `url` ("" when there is none)."""
    return urlsplit(url).scheme.lower()


@dataclass(frozen=True)
class Attempt:
    """The observations of one attempt: depth-0 DNS, connects, handshakes, transactions."""

    number: int
    queries: tuple[DnsObservation, ...]
    connects: tuple[TcpObservation, ...]
    handshakes: tuple[TlsObservation, ...]
    requests: tuple[HttpTransaction, ...]

    def queries_at(self, depth: int) -> list[DnsObservation]:
        """Return the lookups made at redirect depth `depth`."""
        return [q for q in self.queries if depth_of(q.tags) == depth]

    def addresses(self) -> list[str]:
        """Return the unique depth-0 addresses, in answer order."""
        seen: dict[str, None] = {}
        for query in self.queries_at(0):
            for address in query_addresses(query):
                seen.setdefault(address, None)
        return list(seen)


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: succeeded, failed at `layer` (and redirect `depth`), or incomplete."""

    attempt: int
    succeeded: bool
    complete: bool
    layer: Layer | None = None
    depth: int = 0
    failure: str | None = None
    final: HttpTransaction | None = None

    @property
    def failed(self) -> bool:
        """Return whether the attempt ran to a failing step."""
        return self.complete and not self.succeeded


def group_attempts(keys: TestKeys) -> list[Attempt]:
    """Return the attempts present in `keys`, by number (untagged observations are attempt 1)."""
    tags = [o.tags for o in keys.queries] + [o.tags for o in keys.tcp_connect]
    tags += [o.tags for o in keys.tls_handshakes] + [o.tags for o in keys.requests]
    numbers = sorted({attempt_of(t) for t in tags})
    return [
        Attempt(
            number=n,
            queries=tuple(q for q in keys.queries if attempt_of(q.tags) == n),
            connects=tuple(c for c in keys.tcp_connect if attempt_of(c.tags) == n),
            handshakes=tuple(h for h in keys.tls_handshakes if attempt_of(h.tags) == n),
            requests=tuple(r for r in keys.requests if attempt_of(r.tags) == n),
        )
        for n in numbers
    ]


def is_validation(observation: TcpObservation | TlsObservation) -> bool:
    """Return whether the observation only validates an address (http:// URL, port 443)."""
    return only_validates(observation.tags)


def _dns_failure(queries: list[DnsObservation]) -> str:
    failures = [q.failure for q in queries if q.failure]
    for wanted in (NXDOMAIN_FAILURES, None):
        for failure in failures:
            if wanted is None or failure in wanted:
                return failure
    return Failure.DNS_NO_ANSWER


def _tcp_outcome(endpoint: Endpoint, attempt: Attempt) -> Outcome | None:
    """Return the outcome when the attempt ended at TCP, None when it got past TCP."""
    connects = [c for c in attempt.connects if c.port == endpoint.port and not is_validation(c)]
    if not connects:
        return Outcome(attempt.number, succeeded=False, complete=False)
    if any(c.status.success for c in connects):
        return None
    counted = [c for c in connects if not is_ignored_connect(c.ip, c.status.failure)] or connects
    failure = counted[0].status.failure or Failure.UNKNOWN_FAILURE
    return Outcome(attempt.number, False, True, Layer.TCP, 0, failure)


def _tls_outcome(endpoint: Endpoint, attempt: Attempt) -> Outcome | None:
    """Return the outcome when the attempt ended at TCP or TLS, None when a handshake worked."""
    handshakes = [h for h in attempt.handshakes if not is_validation(h)]
    if any(h.failure is None for h in handshakes):
        return None
    tcp = _tcp_outcome(endpoint, attempt)
    if not handshakes:
        return tcp or Outcome(attempt.number, succeeded=False, complete=False)
    failed_tcp = {
        join_address(c.ip, c.port)
        for c in attempt.connects
        if not c.status.success and not is_validation(c)
    }
    reached = [h for h in handshakes if h.address not in failed_tcp]
    if not reached:
        return tcp or Outcome(attempt.number, False, True, Layer.TCP, 0, handshakes[0].failure)
    return Outcome(attempt.number, False, True, Layer.TLS, 0, reached[0].failure)


def _http_outcome(attempt: Attempt) -> Outcome:
    if not attempt.requests:
        return Outcome(attempt.number, succeeded=False, complete=False)
    final = max(attempt.requests, key=lambda r: depth_of(r.tags))
    depth = depth_of(final.tags)
    if final.failure is not None or final.response is None:
        failure = final.failure or Failure.UNKNOWN_FAILURE
        return Outcome(attempt.number, False, True, Layer.HTTP, depth, failure, final)
    next_queries = [q for q in attempt.queries_at(depth + 1) if q.hostname]
    if is_redirect(final) and next_queries and not any(map(query_addresses, next_queries)):
        failure = _dns_failure(next_queries)
        return Outcome(attempt.number, False, True, Layer.DNS, depth + 1, failure, final)
    return Outcome(attempt.number, True, True, None, depth, None, final)


def outcome(endpoint: Endpoint, attempt: Attempt) -> Outcome:
    """Return how `attempt` ended for `endpoint`."""
    if not is_ip_address(endpoint.host):
        depth0 = attempt.queries_at(0)
        if not depth0:
            return Outcome(attempt.number, succeeded=False, complete=False)
        if not attempt.addresses():
            return Outcome(attempt.number, False, True, Layer.DNS, 0, _dns_failure(depth0))
    if endpoint.kind is EndpointKind.TCP:
        tcp = _tcp_outcome(endpoint, attempt)
        return tcp or Outcome(attempt.number, succeeded=True, complete=True)
    if url_scheme(endpoint.url or "") == "https":
        ended = _tls_outcome(endpoint, attempt)
    else:
        ended = _tcp_outcome(endpoint, attempt)
    return ended or _http_outcome(attempt)


def outcomes(endpoint: Endpoint, keys: TestKeys) -> list[Outcome]:
    """Return the outcome of every attempt present in `keys`."""
    return [outcome(endpoint, attempt) for attempt in group_attempts(keys)]


def helper_blind(control: ControlResponse | None) -> bool:
    """Return whether the helper answered without having measured the site: its own resolver
    failed without an answer about the name, and its fetch failed for want of that lookup."""
    if control is None or control.dns.addrs:
        return False
    failure = control.dns.failure
    return (
        failure is not None
        and failure not in HELPER_DNS_ANSWERS
        and control.http_request.failure == _HELPER_LOOKUP_FAILED
    )
