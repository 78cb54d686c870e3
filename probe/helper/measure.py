"""One ControlRequest measured from here, as OONI's oohelperd does (METHODS.md §3).

Pure orchestration of `probe.measure`: resolve the URL host through our resolvers; connect (and
TLS-handshake) to the endpoints built from the probe's addresses and ours; fetch the URL following
redirects (`fetch.py`); rename failures to the legacy names (`legacy.py`). Every address passes
`DestinationPolicy` before it is dialled; a refused one is flagged as a bogon and skipped.
"""

from __future__ import annotations

import asyncio
import base64
from typing import NamedTuple

from probe.helper import legacy
from probe.helper.context import HelperContext, lookup
from probe.helper.fetch import fetch
from probe.helper.guard import DestinationPolicy
from probe.helper.target import ControlTarget, split_endpoint
from probe.measure import tcp, tls
from probe.measure._clock import Clock
from probe.models.control import (
    IP_FLAG_BOGON,
    IP_FLAG_RESOLVED_BY_HELPER,
    IP_FLAG_RESOLVED_BY_PROBE,
    IP_FLAG_VALID_FOR_DOMAIN,
    ControlDns,
    ControlIpInfo,
    ControlRequest,
    ControlResponse,
    ControlTcpConnect,
    ControlTlsHandshake,
)
from probe.models.observations import CertificateSummary, TlsObservation


def probe_addresses(tcp_connect: list[str], max_entries: int) -> list[str]:
    """Return the unique IPs of the first `max_entries` well-formed "ip:port" entries."""
    found: dict[str, None] = {}
    for entry in tcp_connect[:max_entries]:
        ip = split_endpoint(entry)
        if ip is not None:
            found.setdefault(ip, None)
    return list(found)


def _flags(
    probe_ips: list[str], helper_ips: list[str], policy: DestinationPolicy
) -> dict[str, int]:
    flags: dict[str, int] = {}
    for ip in probe_ips:
        flags[ip] = flags.get(ip, 0) | IP_FLAG_RESOLVED_BY_PROBE
    for ip in helper_ips:
        flags[ip] = flags.get(ip, 0) | IP_FLAG_RESOLVED_BY_HELPER
    return {ip: f if policy.allows(ip) else f | IP_FLAG_BOGON for ip, f in flags.items()}


class _Endpoint(NamedTuple):
    ip: str
    port: int
    uses_tls: bool

    @property
    def key(self) -> str:
        return tcp.endpoint_text(self.ip, self.port)


def _endpoints(target: ControlTarget, flags: dict[str, int], limit: int) -> list[_Endpoint]:
    """Return the endpoints to measure: allowed IPs × the URL's ports, at most `limit`."""
    allowed = [ip for ip, f in flags.items() if not f & IP_FLAG_BOGON]
    found = [_Endpoint(ip, port, target.uses_tls(port)) for ip in allowed for port in target.ports]
    return found[:limit]


def _certificates(observation: TlsObservation) -> list[CertificateSummary]:
    if observation.x_certificates:
        return list(observation.x_certificates)
    chain = []
    for certificate in observation.peer_certificates:
        try:
            chain.append(tls.summarize_certificate(base64.b64decode(certificate.data)))
        except ValueError:  # a certificate we cannot parse is left out of the summary
            continue
    return chain


def _tls_entry(server_name: str, observation: TlsObservation) -> ControlTlsHandshake:
    chain = _certificates(observation)
    return ControlTlsHandshake(
        server_name=server_name,
        status=observation.failure is None,
        failure=observation.failure,
        x_certificate=chain[0] if chain else None,
        x_chain_issuers=[certificate.issuer for certificate in chain],
    )


async def _measure_endpoint(
    endpoint: _Endpoint, target: ControlTarget, ctx: HelperContext, clock: Clock
) -> tuple[ControlTcpConnect, ControlTlsHandshake | None]:
    timeouts = ctx.settings.timeouts
    handshake = None
    if endpoint.uses_tls:
        connected, handshook = await ctx.limited(
            tls.handshake(
                endpoint.ip,
                endpoint.port,
                target.host,
                trust=ctx.trust,
                connect_timeout_s=timeouts.connect,
                tls_timeout_s=timeouts.tls,
                clock=clock,
                tags=[],
            )
        )
        if connected.status.success:
            handshake = _tls_entry(target.host, handshook)
    else:
        connected = await ctx.limited(
            tcp.connect(
                endpoint.ip, endpoint.port, timeout_s=timeouts.connect, clock=clock, tags=[]
            )
        )
    status = connected.status
    return ControlTcpConnect(
        status=status.success, failure=legacy.tcp_failure(status.failure)
    ), handshake


async def _measure_endpoints(
    endpoints: list[_Endpoint], target: ControlTarget, ctx: HelperContext, clock: Clock
) -> tuple[dict[str, ControlTcpConnect], dict[str, ControlTlsHandshake]]:
    results = await asyncio.gather(*(_measure_endpoint(e, target, ctx, clock) for e in endpoints))
    connects = {e.key: connect for e, (connect, _) in zip(endpoints, results, strict=True)}
    handshakes = {e.key: h for e, (_, h) in zip(endpoints, results, strict=True) if h is not None}
    return connects, handshakes


async def measure(
    request: ControlRequest, target: ControlTarget, ctx: HelperContext
) -> ControlResponse:
    """Return what the helper sees of `target`: DNS, TCP/TLS to every endpoint, the HTTP fetch."""
    clock = Clock()
    resolution = await lookup(target.host, ctx, clock, ctx.settings.timeouts.dns)
    helper_config = ctx.settings.helper
    flags = _flags(
        probe_addresses(request.tcp_connect, helper_config.max_endpoints),
        resolution.addresses,
        ctx.policy,
    )
    endpoints = _endpoints(target, flags, helper_config.max_endpoints)
    (connects, handshakes), http_request = await asyncio.gather(
        _measure_endpoints(endpoints, target, ctx, clock),
        fetch(target, resolution, request.http_request_headers, ctx, clock),
    )
    for endpoint in endpoints:
        if endpoint.key in handshakes and handshakes[endpoint.key].status:
            flags[endpoint.ip] |= IP_FLAG_VALID_FOR_DOMAIN
    return ControlResponse(
        tcp_connect=connects,
        tls_handshake=handshakes,
        dns=ControlDns(failure=legacy.dns_failure(resolution.failure), addrs=resolution.addresses),
        http_request=http_request,
        ip_info={ip: ControlIpInfo(asn=ctx.asn_of(ip), flags=f) for ip, f in flags.items()},
    )
