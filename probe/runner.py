"""The check chain for a batch of targets: measure → observe → decide, then scrub.

Used by `probe check` and (later) the daemon. Targets run concurrently (bounded); control sites
are measured once before the targets and again after any target that did not simply load (the
Censored Planet "sandwich"); the after-measurement is shared by targets finishing together.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from probe import __version__
from probe.config import Settings
from probe.decide import (
    Decision,
    DecisionContext,
    Fingerprint,
    endpoint_verdict,
    network_assessment,
    outage_beyond_doubt,
    parse_fingerprints,
    target_verdict,
)
from probe.errors import ConfigError
from probe.measure._clock import Clock
from probe.measure.dns import split_address
from probe.measure.packets import (
    ControlTraces,
    DnsProbeSpec,
    PacketPlan,
    TcpProbeSpec,
    TraceSpec,
    measure_packets,
)
from probe.measure.plan import (
    MeasureContext,
    check_control_sites,
    measure_endpoint,
    open_context,
    reach_helpers,
)
from probe.models.addresses import IPNetwork, is_bogon, is_ip_address, is_ipv6
from probe.models.packets import DnsProbeRole, PacketEvidence, Trigger
from probe.models.results import (
    DNS_BLOCKING,
    Blocking,
    ControlSiteCheck,
    EndpointResult,
    NetworkAssessment,
    TargetResult,
    TestKeys,
    Verdict,
)
from probe.models.targets import Endpoint, Target
from probe.observe import AsnLookup, scrub_json, with_asns
from probe.observe.asn import AsnDatabase
from probe.run_throughput import ThroughputRun, throughput_candidates
from probe.targets import load_catalogue

ResultCallback = Callable[[TargetResult], None]
StatusCallback = Callable[[str], None]
_LOADS = frozenset({Verdict.ACCESSIBLE, Verdict.THROTTLED})


# Ours, always loaded: fingerprints, and generic block-page phrases (scope `phrase`, issue 17).
PACKAGED_FINGERPRINTS = ("blockpages.csv", "blockphrases.csv")


def load_fingerprints(settings: Settings) -> tuple[Fingerprint, ...]:
    """Return our packaged blockpage fingerprints and block-page phrases plus every configured
    CSV's."""
    found: list[Fingerprint] = []
    for name in PACKAGED_FINGERPRINTS:
        packaged = resources.files("probe") / "data" / name
        found += parse_fingerprints(packaged.read_text(encoding="utf-8"), f"probe/data/{name}")
    for path in settings.blockpages.fingerprints:
        try:
            text = Path(path).read_text(encoding="utf-8")
            found.extend(parse_fingerprints(text, str(path)))
        except OSError as exc:
            raise ConfigError(
                f"blockpages.fingerprints: cannot read {path}: {exc.strerror}"
            ) from exc
        except ValueError as exc:
            raise ConfigError(f"blockpages.fingerprints: {exc}") from exc
    return tuple(found)


def domestic_sites(settings: Settings) -> list[str]:
    """Return the domestic control sites: configured, else the catalogue's for the country."""
    configured = settings.control.domestic_sites
    if configured is not None:
        return list(configured)
    country = settings.control.country
    return list(load_catalogue().domestic_sites(country)) if country else []


class _Sandwich:
    """Control-site checks (foreign and domestic) before the targets and, shared, after failing
    ones."""

    def __init__(self, ctx: MeasureContext, domestic: list[str]) -> None:
        self._ctx = ctx
        self._domestic = domestic
        self.before: asyncio.Task[list[ControlSiteCheck]] = asyncio.create_task(
            check_control_sites("before", ctx, domestic)
        )
        self._after: asyncio.Task[list[ControlSiteCheck]] | None = None
        self._after_started = 0.0
        # A helper unreachable at connect is part of an outage's evidence (issue 19); only
        # asked when domestic and foreign sites could make that evidence decisive.
        self._reach: asyncio.Task[None] | None = None
        if domestic and ctx.settings.control.sites and ctx.settings.control.helpers:
            self._reach = asyncio.create_task(reach_helpers(ctx))

    async def after(self, finished_at: float) -> list[ControlSiteCheck]:
        """Return control checks that started no earlier than `finished_at` (loop time)."""
        loop = asyncio.get_running_loop()
        if self._after is None or self._after_started < finished_at:
            self._after_started = loop.time()
            self._after = asyncio.create_task(
                check_control_sites("after", self._ctx, self._domestic)
            )
        return await asyncio.shield(self._after)

    async def close(self) -> None:
        tasks: list[asyncio.Task[Any]] = [
            t for t in (self.before, self._after, self._reach) if t is not None
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Checker:
    def __init__(self, settings: Settings, ctx: MeasureContext, asn: AsnDatabase | None) -> None:
        self.settings = settings
        self.ctx = ctx
        self.asn = asn
        self.fingerprints = load_fingerprints(settings)
        self.domestic = domestic_sites(settings)
        ctx.on_evidence = self._watch
        self.sandwich = _Sandwich(ctx, self.domestic)
        self.throughput = ThroughputRun(settings, ctx)
        self.control_traces: ControlTraces = {}  # the run's control traces, each traced once
        self.on_status: StatusCallback | None = None
        self._silent: list[str] | None = None
        # Inputs of the run's targets that loaded so far: evidence that the network carries
        # traffic somewhere (decide/network.py).
        self.loaded: list[str] = []
        # The network our own helper sees the probe from (x_client_asn): used when no ASN
        # database is set (issue 20).
        self.helper_asn: str | None = None

    def _watch(self) -> None:
        """Stop the run's retries once its first evidence shows an outage beyond doubt."""
        ctx = self.ctx
        helpers = self.settings.control.helpers
        if ctx.stop_retrying.is_set() or any(h not in ctx.helper_connects for h in helpers):
            return
        if outage_beyond_doubt(
            ctx.first_control_attempts, self.settings.control.sites, self.domestic,
            {h: ctx.helper_connects[h] for h in helpers}, anything_reached=ctx.anything_reached,
        ):  # fmt: skip
            ctx.stop_retrying.set()

    async def _silent_hosts(self) -> list[str]:
        """Return the addresses that run no DNS server: configured, else the helpers'."""
        if self._silent is None:
            configured = self.settings.packets.silent_hosts
            self._silent = list(configured) or await helper_addresses(
                self.settings.control.helpers, self.settings.timeouts.dns
            )
        return self._silent

    def _context(self, controls: list[ControlSiteCheck]) -> DecisionContext:
        return DecisionContext(
            routable=tuple(self.settings.network.routable),
            fingerprints=self.fingerprints,
            controls=tuple(controls),
        )

    def _decide(
        self,
        target: Target,
        measured: list[tuple[Endpoint, TestKeys]],
        controls: list[ControlSiteCheck],
        network: NetworkAssessment,
    ) -> tuple[list[EndpointResult], Decision]:
        context = self._context(controls)
        endpoints = [endpoint_verdict(endpoint, keys, context) for endpoint, keys in measured]
        return endpoints, target_verdict(target, endpoints, context, network=network)

    async def check(self, target: Target, slot: asyncio.Semaphore) -> TargetResult:
        """Return the target's result; only its endpoints' measurement holds one of the run's
        `slot`s (issue 19: its packet tests overlap the ordinary measurements of the targets
        after it)."""
        lookup: AsnLookup | None = self.asn.asn if self.asn is not None else None
        async with slot:
            # The clock starts with the measurement, not the wait for a slot: the attempts are
            # scheduled on it (at 0, 1 and 3 s; tests/test_runner_slots.py).
            started_at = datetime.now(UTC)
            clock = Clock()
            keys = await asyncio.gather(
                *(measure_endpoint(e, self.ctx, clock) for e in target.endpoints)
            )
        measured = [(e, with_asns(k, lookup)) for e, k in zip(target.endpoints, keys, strict=True)]
        controls = list(await asyncio.shield(self.sandwich.before))
        network = network_assessment(controls, self.loaded)
        endpoints, decision = self._decide(target, measured, controls, network)
        # Once the run stopped retrying (an outage beyond doubt), the controls are not measured
        # again: the "after" side could only wait out the same timeouts.
        again = not self.ctx.stop_retrying.is_set()
        if again and any(e.verdict is not Verdict.ACCESSIBLE for e in endpoints):
            controls += await self.sandwich.after(asyncio.get_running_loop().time())
            network = network_assessment(controls, self.loaded)
            endpoints, decision = self._decide(target, measured, controls, network)
        for endpoint_keys in keys:  # a helper's echo of our address, if plausible (issue 18)
            if endpoint_keys.control is not None and endpoint_keys.control.x_client_address:
                self.ctx.local_addresses.add_echoed(
                    endpoint_keys.test_helper or "",
                    endpoint_keys.control.x_client_address,
                    self.settings.network.routable,
                )
            if endpoint_keys.control is not None and endpoint_keys.control.x_client_asn:
                self.helper_asn = endpoint_keys.control.x_client_asn
        throughput = await self.throughput.test(target, endpoints, clock)
        if throughput is not None:
            decision = target_verdict(
                target, endpoints, self._context(controls), throughput, None, network
            )
        packets: PacketEvidence | None = None
        if self.settings.packets.enabled and decision.verdict is Verdict.BLOCKED:
            packets = await self._packets(endpoints, clock)
            if packets is not None:
                decision = target_verdict(
                    target, endpoints, self._context(controls), throughput, packets, network
                )
        verdict = decision.verdict
        helpers = sorted({e.test_keys.test_helper for e in endpoints if e.test_keys.test_helper})
        result = TargetResult(
            input=target.input, verdict=verdict, blocking=decision.blocking,
            reasons=list(decision.reasons), rules=list(decision.rules),
            target=target, endpoints=endpoints, controls=controls, throughput=throughput,
            network=network, packets=packets,
            measurement_start_time=started_at, test_runtime=clock.now(),
            software_version=__version__, test_helpers=helpers,
            annotations={"platform": sys.platform, **self._echo_dispute()},
            **self._probe_location(),
        )  # fmt: skip
        if verdict in _LOADS:
            self.loaded.append(target.input)
        return scrub(result, self.ctx.local_addresses.addresses)

    async def _packets(
        self, endpoints: list[EndpointResult], clock: Clock
    ) -> PacketEvidence | None:
        """Return a blocked target's packet evidence (None: nothing worth probing)."""
        plan = packet_plan(endpoints, self.settings, await self._silent_hosts())
        if not (plan.dns or plan.tcp or plan.traces):
            return None
        async with self.ctx.packet_lock:  # one target's packet tests at a time
            return await measure_packets(
                plan, self.settings.packets, clock, self.settings.timeouts.connect,
                control_traces=self.control_traces, on_status=self.on_status,
            )  # fmt: skip

    def settle(self, result: TargetResult) -> TargetResult:
        """Return `result` decided again with every target of the run that loaded: an outage
        verdict held back until the batch ended becomes whitelisting when something loaded."""
        loaded = [i for i in self.loaded if i != result.input]
        network = network_assessment(result.controls, loaded)
        if network == result.network:
            return result
        context = self._context(list(result.controls))
        decision = target_verdict(
            result.target, result.endpoints, context, result.throughput, result.packets, network
        )
        update = {
            "verdict": decision.verdict, "blocking": decision.blocking,
            "reasons": list(decision.reasons), "rules": list(decision.rules),
        }  # fmt: skip
        return result.model_copy(update={**update, "network": network})

    def _echo_dispute(self) -> dict[str, str]:
        disputed = self.ctx.local_addresses.disputed()
        if not disputed:
            return {}
        versions = " and ".join(f"IPv{v}" for v in disputed)
        return {
            "echoed_address_disputed": f"helpers echoed different {versions} addresses for this"
            " probe: all were scrubbed, none named its network"
        }

    def _probe_location(self) -> dict[str, Any]:
        public = self.ctx.local_addresses.public(self.settings.network.routable)
        # The helper's view of our network, unless helpers disagree on our address (issue 18).
        if self.asn is None and self.helper_asn is not None:
            disputed = self.ctx.local_addresses.disputed()
            return {} if disputed else {"probe_asn": self.helper_asn}
        if self.asn is None or not public:
            return {}
        asn, org = self.asn.asn(public[0])
        country = self.asn.country(public[0])
        return {
            "probe_asn": f"AS{asn}" if asn else "AS0",
            "probe_cc": country or "ZZ",
            "probe_network_name": org,
        }


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


def packet_plan(
    endpoints: list[EndpointResult], settings: Settings, silent_hosts: list[str]
) -> PacketPlan:
    """Return the packet probes worth running for a blocked target's endpoints.

    DNS-level blocking: the name asked again of the resolvers the measurement used (over UDP)
    and of the silent hosts, and a DNS trace toward the resolver. Blocking after DNS: a TCP
    probe and a trace with the trigger (SYN, ClientHello or HTTP request) toward the address
    the blocked connection used — the target's own, never a forged answer (HTTP is traced only
    in cleartext, an https page's trigger being the ClientHello). IPv4 and routable only.
    """
    routable = settings.network.routable
    dns: dict[tuple[str, str], DnsProbeSpec] = {}
    tcp: dict[tuple[str, int, Trigger, str], TcpProbeSpec] = {}
    for result in endpoints:
        if result.verdict is not Verdict.BLOCKED or result.blocking is None:
            continue
        if result.blocking in DNS_BLOCKING:
            for query in result.test_keys.queries:
                if query.engine not in _UDP_ENGINES:
                    continue
                try:
                    address, port = split_address(query.resolver_address, 53)
                except ValueError:
                    continue
                # A local stub (systemd-resolved's 127.0.0.53) hides what happens upstream.
                if _usable(address) and not (query.engine == "system" and _loopback(address)):
                    dns.setdefault(
                        (query.hostname, address),
                        DnsProbeSpec(query.hostname, address, DnsProbeRole.RESOLVER, port),
                    )
        spec = _tcp_spec(result, _TRIGGERS.get(result.blocking))
        if spec is not None and _usable(spec.address, routable):
            tcp.setdefault((spec.address, spec.port, spec.trigger, spec.name), spec)
    return _assemble(list(dns.values()), list(tcp.values()), settings, silent_hosts)


def _usable(address: str, routable: Sequence[IPNetwork] | None = None) -> bool:
    """Return whether packet probes may go to `address`: IPv4, and not a bogon unless
    `routable` is None (a resolver, which may well have a private address)."""
    if not address or is_ipv6(address) or not is_ip_address(address):
        return False
    return routable is None or not is_bogon(address, routable)


def _loopback(address: str) -> bool:
    return address.startswith("127.")


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


def _assemble(
    resolvers: list[DnsProbeSpec],
    tcp: list[TcpProbeSpec],
    settings: Settings,
    silent_hosts: list[str],
) -> PacketPlan:
    """Return the plan: at most two names per resolver probe set, traces within the limits."""
    packets = settings.packets
    limit = packets.traces_per_target
    resolvers = resolvers[:2]
    names = list(dict.fromkeys(spec.hostname for spec in resolvers))
    silent = [
        DnsProbeSpec(name, host, DnsProbeRole.SILENT_HOST)
        for name in names[:1]
        for host in silent_hosts[:2]
    ]
    traces: list[TraceSpec] = []
    if packets.localise:
        for spec in resolvers[:limit]:
            traces += [
                TraceSpec(
                    spec.resolver_address, spec.port, Trigger.DNS_QUERY, packets.control_name, True
                ),
                TraceSpec(spec.resolver_address, spec.port, Trigger.DNS_QUERY, spec.hostname),
            ]
        for probe in tcp[:limit]:
            if probe.trigger is not Trigger.SYN:  # a SYN carries no name to compare
                traces.append(
                    TraceSpec(probe.address, probe.port, probe.trigger, packets.control_name, True)
                )
            traces.append(TraceSpec(probe.address, probe.port, probe.trigger, probe.name))
    return PacketPlan(
        dns=(*resolvers, *silent), tcp=tuple(tcp[: max(limit, 1)]), traces=tuple(traces)
    )


async def helper_addresses(helpers: list[str], timeout_s: float) -> list[str]:
    """Return the IPv4 addresses of the control helpers (literal, or looked up; best effort)."""
    found: list[str] = []
    loop = asyncio.get_running_loop()
    for url in helpers:
        host = urlsplit(url).hostname or ""
        if not host:
            continue
        if _usable(host):
            found.append(host)
            continue
        try:
            async with asyncio.timeout(timeout_s):
                infos = await loop.getaddrinfo(host, 443, family=socket.AF_INET)
        except (OSError, TimeoutError):
            continue
        found.extend(str(info[4][0]) for info in infos[:1])
    return list(dict.fromkeys(found))


def scrub(result: TargetResult, addresses: frozenset[str]) -> TargetResult:
    """Return `result` with the probe's own addresses replaced by "[scrubbed]" everywhere: every
    spelling, in text, in base64 bodies and in certificates (observe/privacy.py)."""
    if not addresses:
        return result
    text = scrub_json(result.model_dump_json(), addresses)
    return TargetResult.model_validate_json(text)


async def check_targets(
    targets: list[Target],
    settings: Settings,
    *,
    on_result: ResultCallback | None = None,
    on_status: StatusCallback | None = None,
) -> list[TargetResult]:
    """Return the result of every target (in input order), reporting each as it completes,
    and (`on_status`) what a long wait is waiting for."""
    if not targets:
        return []
    from probe.geoip import asn_db_path

    database = asn_db_path(settings)  # configured, else the one `probe geoip update` installed
    asn = AsnDatabase(database, settings.geoip.country_db) if database else None
    limit = asyncio.Semaphore(settings.measure.target_concurrency)
    try:
        async with open_context(settings) as ctx:
            checker = _Checker(settings, ctx, asn)
            checker.on_status = checker.throughput.on_status = on_status

            results: list[TargetResult | None] = [None] * len(targets)

            async def one(index: int, target: Target) -> None:
                result = results[index] = await checker.check(target, limit)
                # An outage is only an outage if nothing else loads: such a verdict waits for
                # the batch to end (a target that loads later turns it into whitelisting).
                if on_result is not None and result.verdict is not Verdict.NETWORK_OUTAGE:
                    on_result(result)

            try:
                await asyncio.gather(*(one(i, t) for i, t in enumerate(targets)))
            finally:
                await checker.sandwich.close()
                await checker.throughput.close()
                # Also when interrupted: a finished target is never lost.
                for index, held in enumerate(results):
                    if held is not None and held.verdict is Verdict.NETWORK_OUTAGE:
                        results[index] = settled = checker.settle(held)
                        if on_result is not None:
                            on_result(settled)
            return [r for r in results if r is not None]
    finally:
        if asn is not None:
            asn.close()


__all__ = [
    "EndpointResult",
    "check_targets",
    "load_fingerprints",
    "scrub",
    "throughput_candidates",
]
