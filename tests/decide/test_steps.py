"""The combining steps as rule rows (decide/steps.py, issue 22): one case per id, and the
invariants of the step tables. A case names the step row it reaches, the decision's verdict and
method after it, and (for a row that adds a sentence) the reason."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from probe.decide import Decision, DecisionContext, target_verdict
from probe.decide.packets import sharpen
from probe.decide.steps import ALL_STEP_RULES, STEP_RULES_BY_ID, STEP_TABLES, StepRule
from probe.decide.verdict import _combine
from probe.models.packets import PacketEvidence
from probe.models.results import (
    Blocking,
    ControlSiteCheck,
    EndpointResult,
    Finding,
    Layer,
    TestKeys,
    Verdict,
)
from probe.models.targets import Endpoint, Target, TargetKind

from . import test_packets, test_rules, test_throughput
from .builders import context, http, https, judge, tcp

A, B, D, U, N, T = (
    Verdict.ACCESSIBLE,
    Verdict.BLOCKED,
    Verdict.SERVICE_DOWN,
    Verdict.INCONCLUSIVE,
    Verdict.NETWORK_OUTAGE,
    Verdict.THROTTLED,
)


@dataclass(frozen=True)
class Case:
    decide: Callable[[], Decision]
    verdict: Verdict
    blocking: Blocking | None
    reason: str = ""  # a sentence the row adds, for rows that add one


# Endpoints --------------------------------------------------------------------------------


def _measured(case_id: str) -> Callable[[], Decision]:
    """Return the decision of a measured endpoint from test_rules' cases."""

    def decide() -> Decision:
        case = test_rules.CASES[case_id]
        result = judge(case.endpoint, case.keys, case.ctx)
        return Decision(result.verdict, result.blocking, tuple(result.reasons), tuple(result.rules))

    return decide


def _finding(rule_id: str, verdict: Verdict, blocking: Blocking | None = None) -> Finding:
    layer = Layer(rule_id.partition(".")[0])
    return Finding(
        layer=layer, rule_id=rule_id, verdict=verdict, blocking=blocking, reasons=[rule_id]
    )


def _combined(findings: list[Finding], network: Finding, succeeded: bool) -> Callable[[], Decision]:
    return lambda: _combine(findings, network, succeeded)


SANDWICH = _finding("network.sandwich_changed", U)
HEALTHY = _finding("network.healthy", A)

# Targets ----------------------------------------------------------------------------------


def result(
    endpoint: Endpoint, verdict: Verdict, blocking: Blocking | None = None
) -> EndpointResult:
    return EndpointResult(
        endpoint=endpoint, verdict=verdict, blocking=blocking, reasons=[f"{verdict.value}"],
        test_keys=TestKeys(),
    )  # fmt: skip


def _target(
    *results: EndpointResult,
    controls: tuple[ControlSiteCheck, ...] = (),
    packets: PacketEvidence | None = None,
    throughput: Any = None,
) -> Callable[[], Decision]:
    target = Target(
        input="t", kind=TargetKind.PLATFORM, name="t", endpoints=[r.endpoint for r in results]
    )
    ctx = DecisionContext(controls=controls) if controls else context()
    return lambda: target_verdict(target, list(results), ctx, throughput, packets)


def _site(url: str, success: bool) -> ControlSiteCheck:
    return ControlSiteCheck(
        url=url, phase="before", success=success, step=None if success else "tcp",
        failure=None if success else "generic_timeout_error", elapsed_s=0.1,
    )  # fmt: skip


def _sharpened(blocking: Blocking | None, verdict: Verdict, packets: str) -> Callable[[], Decision]:
    evidence = test_packets.CASES[packets]
    return lambda: sharpen(Decision(verdict, blocking, ("first", "second")), evidence)


RESET_TO_SYN = PacketEvidence.model_validate(
    json.loads((test_packets.RECORDED / "reset_to_syn.json").read_text(encoding="utf-8"))["packets"]
)
THROTTLED_TEST = test_throughput.THROTTLED_TEST
SLOW_BODY = test_throughput._endpoint(U, slow_body=True)

CASES: dict[str, Case] = {
    "endpoint.network_outage": Case(_measured("network.control_sites_failed"), N, None),
    "endpoint.blocked_on_unfit_network": Case(_measured("network.sandwich_changed"), U, None),
    "endpoint.self_evident_on_unfit_network": Case(
        _combined(
            [
                _finding("tcp.connect_timeout", B, Blocking.TCP_TIMEOUT),
                _finding("dns.bogon_not_in_control", B, Blocking.DNS_HIJACK),
            ],
            SANDWICH,
            succeeded=False,
        ),
        B,
        Blocking.DNS_HIJACK,
    ),
    "endpoint.first_blocked": Case(_measured("tls.handshake_reset"), B, Blocking.TLS_RESET),
    "endpoint.succeeded": Case(_measured("dns.consistent"), A, None),
    "endpoint.unverifiable_answer": Case(_measured("dns.answer_unverifiable"), U, None),
    "endpoint.control_failed_too": Case(_measured("tls.control_failed_too"), D, None),
    "endpoint.body_cut": Case(_measured("http.body_timeout"), U, None),
    "endpoint.network_inconclusive": Case(_measured("network.mixed_failures"), U, None),
    "endpoint.first_inconclusive": Case(_measured("tcp.no_control"), U, None),
    "endpoint.unexplained": Case(
        _combined([_finding("dns.consistent", A)], HEALTHY, succeeded=False),
        U,
        None,
        "the target failed but no step explains how",
    ),
    "target.port_fallback": Case(
        _target(result(tcp(port=5222), B, Blocking.TCP_TIMEOUT), result(tcp(port=443), A)),
        A,
        None,
        "e1.whatsapp.net:5222 is blocked (tcp_timeout) but another port of the host works",
    ),
    "target.first_blocked_method": Case(
        _target(result(https(), B, Blocking.DNS_HIJACK), result(http(), B, Blocking.HTTP_DIFF)),
        B,
        Blocking.DNS_HIJACK,
    ),
    "target.blocked_without_method": Case(
        _target(result(https(), B)), U, None, "no blocked endpoint names a method"
    ),
    "target.first_throttled_method": Case(
        _target(result(https(), T, Blocking.THROTTLING), result(http(), A)), T, Blocking.THROTTLING
    ),
    "target.throttled_without_method": Case(
        _target(result(https(), T), result(http(), A)), T, Blocking.THROTTLING
    ),
    "target.control_sites_failed_too": Case(
        _target(
            result(https(), B, Blocking.TCP_TIMEOUT),
            controls=(_site("https://a.example/", True), _site("https://b.example/", False)),
        ),
        B,
        Blocking.TCP_TIMEOUT,
        "1 of 2 control sites failed too (https://b.example/): if the network admits only"
        " allow-listed destinations (whitelisting), far more than this target is blocked",
    ),
    "target.packets_not_run": Case(
        _sharpened(Blocking.TLS_RESET, B, "packets.not_run"), B, Blocking.TLS_RESET
    ),
    "target.packets_not_blocked": Case(_sharpened(None, U, "packets.dns_two_answers"), U, None),
    "target.packets_dns_injection": Case(
        _sharpened(Blocking.DNS_NXDOMAIN, B, "packets.dns_two_answers"),
        B,
        Blocking.DNS_INJECTION,
    ),
    "target.packets_reset_to_syn": Case(
        _target(result(https(), B, Blocking.TCP_REFUSED), packets=RESET_TO_SYN),
        B,
        Blocking.TCP_RESET,
    ),
    "target.packets_method_kept": Case(
        _sharpened(Blocking.TLS_RESET, B, "packets.censor_in_path"), B, Blocking.TLS_RESET
    ),
    "target.throughput_throttled_pages_cut": Case(
        _target(SLOW_BODY, throughput=THROTTLED_TEST),
        T,
        Blocking.THROTTLING,
        "pages cut by the timeout while arriving: https://abs.twimg.com/",
    ),
    "target.throughput_throttled": Case(
        _target(result(https(), A), throughput=THROTTLED_TEST), T, Blocking.THROTTLING
    ),
    "target.throughput_not_throttled": Case(
        _target(result(https(), A), throughput=test_throughput.SLOW_NETWORK_TEST), A, None
    ),
}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_step_rule(rule_id: str) -> None:
    case = CASES[rule_id]
    decision = case.decide()
    assert rule_id in decision.rules, f"{rule_id}: expected among rules, got {decision.rules}"
    assert decision.verdict is case.verdict, (
        f"{rule_id}: verdict expected {case.verdict}, got {decision.verdict} {decision.reasons}"
    )
    assert decision.blocking is case.blocking, (
        f"{rule_id}: blocking expected {case.blocking}, got {decision.blocking}"
    )
    rule = STEP_RULES_BY_ID[rule_id]
    if rule.adds_reason:
        assert case.reason in decision.reasons, (
            f"{rule_id}: reasons expected {case.reason!r}, got {decision.reasons}"
        )
    assert decision.reasons, f"{rule_id}: reasons expected non-empty"


def test_every_step_rule_has_a_case() -> None:
    ids = {r.id for r in ALL_STEP_RULES}
    assert ids == set(CASES), (
        f"step rules without a case: {sorted(ids - set(CASES))};"
        f" cases for unknown ids: {sorted(set(CASES) - ids)}"
    )


def test_the_decisive_rules_come_in_the_order_applied() -> None:
    decision = _target(
        result(tcp(port=5222), B, Blocking.TCP_REFUSED),
        result(tcp("e2.whatsapp.net", 443), B, Blocking.TCP_REFUSED),
        result(tcp(port=443), A),
        controls=(_site("https://a.example/", True), _site("https://b.example/", False)),
        packets=RESET_TO_SYN,
    )()
    assert decision.rules == (
        "target.port_fallback",
        "target.endpoint_blocked",
        "target.first_blocked_method",
        "target.control_sites_failed_too",
        "packets.reset_to_syn",
        "packets.censor_in_path",
        "target.packets_reset_to_syn",
    ), decision.rules


def test_the_throughput_finding_precedes_its_row() -> None:
    decision = CASES["target.throughput_throttled"].decide()
    assert decision.rules[-2:] == ("throughput.throttled_sni", "target.throughput_throttled"), (
        decision.rules
    )


def test_an_endpoint_records_the_finding_it_adopted() -> None:
    decision = _measured("tls.handshake_reset")()
    assert decision.rules[-2:] == ("tls.handshake_reset", "endpoint.first_blocked"), decision


# Invariants over the step tables (unique ids and documentation: test_invariants.py) -------


@pytest.mark.parametrize("rule", ALL_STEP_RULES, ids=lambda r: r.id)
def test_step_rule_shape(rule: StepRule[Any]) -> None:
    assert re.fullmatch(r"(endpoint|target)\.[a-z0-9_]+", rule.id), (
        f"{rule.id}: id expected endpoint.* or target.*"
    )
    assert rule.reason.strip(), f"{rule.id}: reason expected non-empty"
    if rule.blocking is not None:
        assert rule.verdict in (B, T), f"{rule.id}: sets {rule.blocking} with {rule.verdict}"
    fields = {f for _, f, _, _ in string.Formatter().parse(rule.reason) if f}
    if not rule.adds_reason:  # said only by --explain, which has no evidence to fill in
        assert not fields, f"{rule.id}: a row that adds no reason cites no facts, got {fields}"


@pytest.mark.parametrize("name", sorted(STEP_TABLES))
def test_step_templates_cite_known_facts(name: str) -> None:
    table, evidence_type = STEP_TABLES[name]
    facts = set(evidence_type().facts())
    for rule in table:
        fields = {f for _, f, _, _ in string.Formatter().parse(rule.reason) if f}
        assert fields <= facts, f"{rule.id}: unknown facts {sorted(fields - facts)}"
