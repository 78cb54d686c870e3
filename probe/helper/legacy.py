"""OONI's legacy test-helper failure names (METHODS.md §3; probe-cli `oohelperd`).

The helper measures with `probe.measure`, whose failures are netxlite's strings. The test-helper
protocol predates them: OONI's probes expect the old, coarser names in a control response, so
each section of the response renames its failures here, exactly as oohelperd does.
"""

from __future__ import annotations

# A destination our policy refused (a bogon): oohelperd's bogon-rejecting resolver fails with
# dns_bogon_error, which its HTTP table has no name for, hence unknown_error.
DESTINATION_REFUSED = "unknown_error"
# More redirects than allowed (Go's "stopped after 10 redirects"), a bad or non-HTTP Location.
REDIRECT_FAILURE = "unknown_error"
UNKNOWN_ERROR = "unknown_error"

_DNS_SERVER_FAILURES = frozenset(
    {
        "dns_non_recoverable_failure",
        "dns_servfail_error",
        "dns_refused_error",
        "dns_server_misbehaving",
        "dns_temporary_failure",
    }
)
_DNS_LOOKUP_FAILURES = _DNS_SERVER_FAILURES | {"dns_nxdomain_error", "dns_no_answer"}
_CONNECTION_REFUSED = "connection_refused"
_TIMEOUT = "generic_timeout_error"


def dns_failure(failure: str | None) -> str | None:
    """Return the legacy name of a DNS lookup failure (`dns_no_answer` is no failure at all)."""
    if failure is None or failure == "dns_no_answer":
        return None
    if failure == "dns_nxdomain_error":
        return "dns_name_error"
    if failure in _DNS_SERVER_FAILURES:
        return "dns_server_failure"
    return UNKNOWN_ERROR


def tcp_failure(failure: str | None) -> str | None:
    """Return the legacy name of a TCP connect failure."""
    if failure is None or failure == _TIMEOUT:
        return failure
    if failure == _CONNECTION_REFUSED:
        return "connection_refused_error"
    return "connect_error"


def http_failure(failure: str | None) -> str | None:
    """Return the legacy name of an HTTP fetch failure (any step of the redirect chain)."""
    if failure is None or failure == _TIMEOUT:
        return failure
    if failure in _DNS_LOOKUP_FAILURES:
        return "dns_lookup_error"
    if failure == _CONNECTION_REFUSED:
        return "connection_refused_error"
    return UNKNOWN_ERROR
