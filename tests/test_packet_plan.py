"""Which packet probes the runner asks for: only for blocked endpoints, only toward the target's
own (routable, IPv4) addresses or the resolvers the measurement used, within the limits."""

from __future__ import annotations

from decide.builders import HOST, IP, connect, fetch, handshake, http, https, query

from probe.config import Settings
from probe.models.packets import DnsProbeRole, Trigger
from probe.models.results import Blocking, EndpointResult, TestKeys, Verdict
from probe.runner import packet_plan

BOGON = "10.10.34.35"
SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


def result(keys: TestKeys, blocking: Blocking | None, url: str = "https") -> EndpointResult:
    return EndpointResult(
        endpoint=https() if url == "https" else http(),
        verdict=Verdict.BLOCKED if blocking else Verdict.ACCESSIBLE,
        blocking=blocking,
        test_keys=keys,
    )


def tls_reset() -> EndpointResult:
    keys = TestKeys(
        queries=[query()], tcp_connect=[connect()],
        tls_handshakes=[handshake(failure="connection_reset")],
    )  # fmt: skip
    return result(keys, Blocking.TLS_RESET)


def test_accessible_targets_get_no_probe() -> None:
    plan = packet_plan([result(TestKeys(queries=[query()]), None)], SETTINGS, ["203.0.113.80"])
    assert (plan.dns, plan.tcp, plan.traces) == ((), (), ())


def test_a_reset_handshake_gets_a_clienthello_probe_and_a_control_trace_first() -> None:
    plan = packet_plan([tls_reset()], SETTINGS, [])
    assert [(p.address, p.port, p.trigger, p.name) for p in plan.tcp] == [
        (IP, 443, Trigger.TLS_CLIENT_HELLO, HOST)
    ]
    assert [(t.control, t.name) for t in plan.traces] == [(True, "example.com"), (False, HOST)]
    assert plan.dns == ()


def test_dns_blocking_asks_the_resolver_and_the_silent_hosts() -> None:
    keys = TestKeys(queries=[query([BOGON]), query([BOGON], engine="doh", resolver="https://x/")])
    plan = packet_plan([result(keys, Blocking.DNS_HIJACK)], SETTINGS, ["203.0.113.80"])
    assert [(p.resolver_address, p.port, p.role) for p in plan.dns] == [
        ("10.0.0.53", 53, DnsProbeRole.RESOLVER),
        ("203.0.113.80", 53, DnsProbeRole.SILENT_HOST),
    ]
    assert [(t.address, t.trigger, t.control) for t in plan.traces] == [
        ("10.0.0.53", Trigger.DNS_QUERY, True), ("10.0.0.53", Trigger.DNS_QUERY, False)
    ]  # fmt: skip
    assert plan.tcp == ()  # the forged answer is never probed


def test_bogon_and_ipv6_addresses_are_never_probed() -> None:
    keys = TestKeys(tcp_connect=[connect(BOGON, failure="connection_refused")])
    v6 = TestKeys(tcp_connect=[connect("2001:db8::1", failure="connection_refused")])
    plan = packet_plan(
        [result(keys, Blocking.TCP_REFUSED), result(v6, Blocking.TCP_REFUSED)], SETTINGS, []
    )
    assert plan.tcp == () and plan.traces == ()


def test_a_syn_trace_has_no_control_run_and_cleartext_http_is_traced_with_its_host() -> None:
    refused = result(
        TestKeys(tcp_connect=[connect(failure="connection_refused")]), Blocking.TCP_REFUSED
    )
    page = result(
        TestKeys(requests=[fetch(f"http://{HOST}/", failure="connection_reset")]),
        Blocking.HTTP_RESET,
        url="http",
    )
    plan = packet_plan([refused, page], SETTINGS, [])
    assert [(p.trigger, p.name) for p in plan.tcp] == [(Trigger.SYN, "")]  # traces_per_target 1
    assert [(t.trigger, t.control) for t in plan.traces] == [(Trigger.SYN, False)]
    wider = SETTINGS.model_copy(
        update={"packets": SETTINGS.packets.model_copy(update={"traces_per_target": 2})}
    )
    plan = packet_plan([refused, page], wider, [])
    assert (Trigger.HTTP_REQUEST, HOST) in [(p.trigger, p.name) for p in plan.tcp]
    assert [(t.trigger, t.control) for t in plan.traces][-2:] == [
        (Trigger.HTTP_REQUEST, True), (Trigger.HTTP_REQUEST, False)
    ]  # fmt: skip


def test_localise_off_means_no_trace() -> None:
    quiet = SETTINGS.model_copy(
        update={"packets": SETTINGS.packets.model_copy(update={"localise": False})}
    )
    plan = packet_plan([tls_reset()], quiet, [])
    assert plan.traces == () and len(plan.tcp) == 1
