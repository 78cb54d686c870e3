"""OONI's legacy test-helper failure names (METHODS.md §3; probe-cli `oohelperd`).

The helper measures with `probe.measure`, whose failures are netxlite's strings. The test-helper
protocol predates them: OONI's probes expect the old, coarser names in a control response, so
each section of the response renames its failures here, exactly as oohelperd does.
"""

from __future__ import annotations

from probe.models.failures import Failure, LegacyFailure

# A destination our policy refused (a bogon): oohelperd's bogon-rejecting resolver fails with
# dns_bogon_error, which its HTTP table has no name for, hence unknown_error.
DESTINATION_REFUSED = LegacyFailure.UNKNOWN_ERROR
# More redirects than allowed (Go's "stopped after 10 redirects"), a bad or non-HTTP Location.
REDIRECT_FAILURE = LegacyFailure.UNKNOWN_ERROR
UNKNOWN_ERROR = LegacyFailure.UNKNOWN_ERROR

_DNS_SERVER_FAILURES = frozenset(
    {
        Failure.DNS_NON_RECOVERABLE_FAILURE,
        Failure.DNS_SERVFAIL_ERROR,
        Failure.DNS_REFUSED_ERROR,
        Failure.DNS_SERVER_MISBEHAVING,
        Failure.DNS_TEMPORARY_FAILURE,
    }
)
_DNS_LOOKUP_FAILURES = _DNS_SERVER_FAILURES | {Failure.DNS_NXDOMAIN_ERROR, Failure.DNS_NO_ANSWER}
_CONNECTION_REFUSED = Failure.CONNECTION_REFUSED
_TIMEOUT = Failure.GENERIC_TIMEOUT_ERROR


def dns_failure(failure: str | None) -> str | None:
    """Return the legacy name of a DNS lookup failure (`dns_no_answer` is no failure at all)."""
    if failure is None or failure == Failure.DNS_NO_ANSWER:
        return None
    if failure == Failure.DNS_NXDOMAIN_ERROR:
        return LegacyFailure.DNS_NAME_ERROR
    if failure in _DNS_SERVER_FAILURES:
        return LegacyFailure.DNS_SERVER_FAILURE
    return UNKNOWN_ERROR


def tcp_failure(failure: str | None) -> str | None:
    """Return the legacy name of a TCP connect failure."""
    if failure is None or failure == _TIMEOUT:
        return failure
    if failure == _CONNECTION_REFUSED:
        return LegacyFailure.CONNECTION_REFUSED_ERROR
    return LegacyFailure.CONNECT_ERROR


def http_failure(failure: str | None) -> str | None:
    """Return the legacy name of an HTTP fetch failure (any step of the redirect chain)."""
    if failure is None or failure == _TIMEOUT:
        return failure
    if failure in _DNS_LOOKUP_FAILURES:
        return LegacyFailure.DNS_LOOKUP_ERROR
    if failure == _CONNECTION_REFUSED:
        return LegacyFailure.CONNECTION_REFUSED_ERROR
    return UNKNOWN_ERROR
