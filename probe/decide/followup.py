"""Follow-up plans: the packet probes a blocked target gets, what a throughput test measures.

The runner measures a target's endpoints and decides them, then asks here what to follow up
with, has measure/ run it and decides again (`probe/runner.py`). Plans are data: a
`PacketPlan` (models/packets.py) for `measure/packets.py`, a `ThroughputPlan` for
`measure/throughput.py`. Whether a throughput test is due at all is `may_be_throttled()`
(decide/target.py); whether packet tests are, `packets_due()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from probe.decide.target import cut_while_arriving
from probe.models.addresses import IPNetwork, is_bogon, is_ip_address, is_ipv6, split_address
from probe.models.observations import ThroughputChoice, ThroughputTest
from probe.models.packets import (
    DnsProbeRole,
    DnsProbeSpec,
    PacketPlan,
    TcpProbeSpec,
    TraceSpec,
    Trigger,
)
from probe.models.results import DNS_BLOCKING, Blocking, EndpointResult, Verdict
from probe.models.targets import Target

_TRIGGERS = {
    Blocking.TCP_TIMEOUT: Trigger.SYN,
    Blocking.TCP_REFUSED: Trigger.SYN,
    Blocking.TCP_RESET: Trigger.SYN,
    Blocking.TLS_RESET: Trigger.TLS_CLIENT_HELLO,
    Blocking.TLS_TIMEOUT: Trigger.TLS_CLIENT_HELLO,
    Blocking.HTTP_RESET: Trigger.HTTP_REQUEST,
    Blocking.HTTP_TIMEOUT: Trigger.HTTP_REQUEST,
    Blocking.HTTP_BLOCKPAGE: Trigger.HTTP_REQUEST,
    Blocking.HTTP_DIFF: Trigger.HTTP_REQUEST,
}
_UDP_ENGINES = frozenset({"system", "udp"})


def packets_due(verdict: Verdict) -> bool:
    """Return whether a target decided `verdict` gets packet tests: only a blocked one (they
    say who blocked it and where, not whether)."""
    return verdict is Verdict.BLOCKED


def packet_plan(
    endpoints: list[EndpointResult],
    silent_hosts: Sequence[str],
    *,
    routable: Sequence[IPNetwork],
    localise: bool,
    traces_per_target: int,
    control_name: str,
) -> PacketPlan:
    """Return the packet probes worth running for a blocked target's endpoints.

    DNS-level blocking: the name asked again of the resolvers the measurement used (over UDP)
    and of the silent hosts, and a DNS trace toward the resolver. Blocking after DNS: a TCP
    probe and a trace with the trigger (SYN, ClientHello or HTTP request) toward the address
    the blocked connection used — the target's own, never a forged answer (HTTP is traced only
    in cleartext, an https page's trigger being the ClientHello). IPv4 and routable only.
    Traces (`localise`) go to at most `traces_per_target` addresses of each kind, a control
    run carrying the innocuous `control_name` first.
    """
    dns: dict[tuple[str, str], DnsProbeSpec] = {}
    tcp: dict[tuple[str, int, Trigger, str], TcpProbeSpec] = {}
    for result in endpoints:
        if result.verdict is not Verdict.BLOCKED or result.blocking is None:
            continue
        if result.blocking in DNS_BLOCKING:
            for spec in _resolver_specs(result):
                dns.setdefault((spec.hostname, spec.resolver_address), spec)
        tcp_spec = _tcp_spec(result, _TRIGGERS.get(result.blocking))
        if tcp_spec is not None and _usable(tcp_spec.address, routable):
            key = (tcp_spec.address, tcp_spec.port, tcp_spec.trigger, tcp_spec.name)
            tcp.setdefault(key, tcp_spec)
    resolvers = list(dns.values())[:2]
    names = list(dict.fromkeys(spec.hostname for spec in resolvers))
    silent = [
        DnsProbeSpec(name, host, DnsProbeRole.SILENT_HOST)
        for name in names[:1]
        for host in silent_hosts[:2]
    ]
    probes = list(tcp.values())
    traces = _traces(resolvers, probes, traces_per_target, control_name) if localise else []
    return PacketPlan(
        dns=(*resolvers, *silent),
        tcp=tuple(probes[: max(traces_per_target, 1)]),
        traces=tuple(traces),
    )


def _resolver_specs(result: EndpointResult) -> list[DnsProbeSpec]:
    """Return a probe of each resolver the endpoint asked over UDP (a local stub excepted)."""
    specs = []
    for query in result.test_keys.queries:
        if query.engine not in _UDP_ENGINES:
            continue
        try:
            address, port = split_address(query.resolver_address, 53)
        except ValueError:
            continue
        # A local stub (systemd-resolved's 127.0.0.53) hides what happens upstream.
        if _usable(address) and not (query.engine == "system" and address.startswith("127.")):
            specs.append(DnsProbeSpec(query.hostname, address, DnsProbeRole.RESOLVER, port))
    return specs


def _usable(address: str, routable: Sequence[IPNetwork] | None = None) -> bool:
    """Return whether packet probes may go to `address`: IPv4, and not a bogon unless
    `routable` is None (a resolver, which may well have a private address)."""
    if not address or is_ipv6(address) or not is_ip_address(address):
        return False
    return routable is None or not is_bogon(address, routable)


def _tcp_spec(result: EndpointResult, trigger: Trigger | None) -> TcpProbeSpec | None:
    """Return the probe of the connection that was blocked, with its trigger."""
    if trigger is None:
        return None
    endpoint, keys = result.endpoint, result.test_keys
    url = endpoint.url or ""
    if trigger is Trigger.HTTP_REQUEST and not url.startswith("http://"):
        return None
    if trigger is Trigger.SYN:
        failed = next((c for c in keys.tcp_connect if not c.status.success), None)
        return TcpProbeSpec(failed.ip, failed.port, trigger, "") if failed else None
    if trigger is Trigger.TLS_CLIENT_HELLO:
        hello = next((h for h in keys.tls_handshakes if h.failure), None)
        if hello is None:
            return None
        host, _, port = hello.address.rpartition(":")
        return TcpProbeSpec(host.strip("[]"), int(port), trigger, hello.server_name)
    request = next((r for r in keys.requests if r.address), None)
    if request is None or request.address is None:
        return None
    host, _, port = request.address.rpartition(":")
    return TcpProbeSpec(host.strip("[]"), int(port), trigger, urlsplit(url).hostname or "")


def _traces(
    resolvers: list[DnsProbeSpec], tcp: list[TcpProbeSpec], limit: int, control_name: str
) -> list[TraceSpec]:
    """Return the traces within `limit` addresses of each kind, each after its control run."""
    traces: list[TraceSpec] = []
    for spec in resolvers[:limit]:
        address, port = spec.resolver_address, spec.port
        traces += [
            TraceSpec(address, port, Trigger.DNS_QUERY, control_name, True),
            TraceSpec(address, port, Trigger.DNS_QUERY, spec.hostname),
        ]
    for probe in tcp[:limit]:
        if probe.trigger is not Trigger.SYN:  # a SYN carries no name to compare
            traces.append(TraceSpec(probe.address, probe.port, probe.trigger, control_name, True))
        traces.append(TraceSpec(probe.address, probe.port, probe.trigger, probe.name))
    return traces


@dataclass(frozen=True)
class ThroughputPlan:
    """What one throughput test measures: its candidate URLs (best first), the address the
    target's own measurement used for each host it fetched, and why these candidates."""

    candidates: tuple[str, ...]
    known: Mapping[str, str]
    choice: ThroughputChoice

    @property
    def key(self) -> tuple[tuple[str, str, str], ...]:
        """Return (address, server name, URL) of each candidate: what a run measures once."""
        return tuple((self.known.get(_host(url), ""), _host(url), url) for url in self.candidates)


def throughput_plan(
    target: Target,
    endpoints: list[EndpointResult],
    objects: Sequence[str],
    *,
    pages: bool,
    min_bytes: int,
) -> ThroughputPlan | None:
    """Return the throughput test of a target that may be throttled (`may_be_throttled()`), or
    None: it is no platform's (no catalogue `objects`) and `pages` were not asked for, or it
    has nothing large enough to measure. A platform's test measures its objects, never its
    pages."""
    if not objects and not pages:
        return None
    choice = ThroughputChoice.CATALOGUE_OBJECTS if objects else ThroughputChoice.PAGES
    candidates, known = throughput_candidates(target, endpoints, min_bytes, objects)
    if objects:
        candidates = list(objects)
    if not candidates:  # a small page and no catalogue object: nothing to measure
        return None
    return ThroughputPlan(tuple(candidates), known, choice)


def throughput_candidates(
    target: Target, endpoints: list[EndpointResult], min_bytes: int, objects: Sequence[str] = ()
) -> tuple[list[str], dict[str, str]]:
    """Return the URLs worth a throughput test, best first, and the addresses the target used.

    `objects` (the catalogue's) first, then pages that loaded with at least `min_bytes`, or
    were still arriving at the timeout, largest first. A page keeps the address it loaded from.
    """
    pages: list[tuple[int, str]] = []
    known: dict[str, str] = {}
    for result in endpoints:
        final = result.test_keys.requests[0] if result.test_keys.requests else None
        if final is None or final.response is None or final.address is None:
            continue
        cut = cut_while_arriving(result)
        if result.verdict is not Verdict.ACCESSIBLE and not cut:
            continue
        url = final.request.url
        known.setdefault(urlsplit(url).hostname or "", final.address.rpartition(":")[0].strip("[]"))
        size = final.response.x_body_length
        if cut or size >= min_bytes:
            pages.append((size, url))
    ordered = [url for _, url in sorted(pages, key=lambda page: -page[0])]
    return list(dict.fromkeys([*objects, *ordered])), known


def throughput_budget_bytes(max_bytes_per_run: int, tests: Iterable[ThroughputTest]) -> int:
    """Return what the run's next throughput test may download: the run's budget less what
    its earlier tests downloaded (`[throughput] max_bytes_per_run`, issue 19)."""
    return max_bytes_per_run - sum(t.bytes for test in tests for t in test.transfers)


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


__all__ = [
    "ThroughputPlan",
    "packet_plan",
    "packets_due",
    "throughput_budget_bytes",
    "throughput_candidates",
    "throughput_plan",
]
