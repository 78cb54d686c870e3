"""DNS lookups through one resolver, recording answers, rcodes, timing and late replies.

STUB: owned by the measure helper.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from probe.measure._clock import Clock
from probe.models.observations import DnsObservation


@dataclass(frozen=True)
class ResolverSpec:
    """A resolver to measure through.

    engine: "system" (UDP to the first nameserver of /etc/resolv.conf), "udp", "tcp", "dot", "doh".
    address: "ip:port" ("[ip6]:port") for udp/tcp/dot/system, the URL for doh.
    """

    engine: str
    address: str


def parse_resolver(spec: str) -> ResolverSpec:
    """Return the ResolverSpec for a config string ("system", "udp://IP[:port]", "tcp://…",
    "tls://IP[:port]", "https://HOST/dns-query"). Default ports: 53, 53, 853."""
    raise NotImplementedError


async def resolve(
    hostname: str,
    query_type: str,
    resolver: ResolverSpec,
    *,
    timeout_s: float,
    late_reply_window_s: float,
    clock: Clock,
    tags: list[str],
    http_client: httpx.AsyncClient | None = None,
) -> DnsObservation:
    """Return the observation of one query (A or AAAA) of `hostname` through `resolver`.

    Never raises for network problems: failures are recorded (`dns_nxdomain_error`,
    `dns_servfail_error`, `dns_refused_error`, `dns_no_answer`, `generic_timeout_error`, …).
    For UDP ("udp"/"system") keeps listening `late_reply_window_s` after the first reply and
    records further replies in `x_late_replies`. DoH is a POST of application/dns-message sent
    with `http_client`.
    """
    raise NotImplementedError
