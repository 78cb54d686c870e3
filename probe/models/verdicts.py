"""The verdict vocabulary: what happened to a target, how, where, and the network's state.

Plain enums, no pydantic: the check's path to its first DNS query imports them without the
record models (issue 19); models/results.py builds the records on them.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """What happened to a target (docs/methodology.md)."""

    ACCESSIBLE = "accessible"
    BLOCKED = "blocked"
    THROTTLED = "throttled"
    NETWORK_OUTAGE = "network_outage"
    SERVICE_DOWN = "service_down"
    INCONCLUSIVE = "inconclusive"


class Blocking(StrEnum):
    """How a blocked (or throttled) target was interfered with: the first layer that departs."""

    DNS_NXDOMAIN = "dns_nxdomain"
    DNS_HIJACK = "dns_hijack"
    DNS_INJECTION = "dns_injection"
    DNS_FAILURE = "dns_failure"
    TCP_TIMEOUT = "tcp_timeout"
    TCP_REFUSED = "tcp_refused"
    TCP_RESET = "tcp_reset"
    TLS_RESET = "tls_reset"
    TLS_TIMEOUT = "tls_timeout"
    TLS_MITM = "tls_mitm"
    HTTP_RESET = "http_reset"
    HTTP_TIMEOUT = "http_timeout"
    HTTP_BLOCKPAGE = "http_blockpage"
    HTTP_DIFF = "http_diff"
    THROTTLING = "throttling"
    WHITELISTING = "whitelisting"


# The methods that blame DNS: the blocking that packet tests probe at the resolver.
DNS_BLOCKING = frozenset(
    {Blocking.DNS_NXDOMAIN, Blocking.DNS_HIJACK, Blocking.DNS_INJECTION, Blocking.DNS_FAILURE}
)


class Layer(StrEnum):
    """Where a finding was made."""

    NETWORK = "network"
    DNS = "dns"
    TCP = "tcp"
    TLS = "tls"
    HTTP = "http"
    THROUGHPUT = "throughput"
    PACKETS = "packets"


class SiteScope(StrEnum):
    """Where a control site is: abroad (the default controls) or in the probe's own country."""

    FOREIGN = "foreign"
    DOMESTIC = "domestic"


class NetworkState(StrEnum):
    """The state of the probe's own network during a run, decided once per run (issue 17)."""

    NORMAL = "normal"
    INTERCEPTED = "intercepted"
    WHITELISTED = "whitelisted"
    OUTAGE = "outage"
    UNKNOWN = "unknown"


__all__ = ["DNS_BLOCKING", "Blocking", "Layer", "NetworkState", "SiteScope", "Verdict"]
