"""target_verdict: a target's endpoints (a platform has many) combined into one verdict."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from probe.decide import DecisionContext, target_verdict
from probe.decide.rules import TARGET_RULES
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

from .builders import context, http, https, tcp

A, B, D, U, N, T = (
    Verdict.ACCESSIBLE,
    Verdict.BLOCKED,
    Verdict.SERVICE_DOWN,
    Verdict.INCONCLUSIVE,
    Verdict.NETWORK_OUTAGE,
    Verdict.THROTTLED,
)


def result(
    endpoint: Endpoint, verdict: Verdict, blocking: Blocking | None = None
) -> EndpointResult:
    reasons = [f"{verdict.value} because of the evidence"]
    return EndpointResult(
        endpoint=endpoint, verdict=verdict, blocking=blocking, reasons=reasons, test_keys=TestKeys()
    )


def uncompared(endpoint: Endpoint) -> EndpointResult:
    """Return a cleartext endpoint that was inconclusive for want of a control."""
    finding = Finding(
        layer=Layer.HTTP, rule_id="http.no_control_cleartext", verdict=U, reasons=["no control"]
    )
    return EndpointResult(
        endpoint=endpoint, verdict=U, reasons=["no control"], findings=[finding],
        test_keys=TestKeys(),
    )  # fmt: skip


def whatsapp(*results: EndpointResult) -> Target:
    return Target(
        input="whatsapp",
        kind=TargetKind.PLATFORM,
        name="whatsapp",
        platform="whatsapp",
        endpoints=[r.endpoint for r in results],
    )


@dataclass(frozen=True)
class Case:
    results: tuple[EndpointResult, ...]
    verdict: Verdict
    blocking: Blocking | None
    reason: str


CASES: dict[str, Case] = {
    "target.no_endpoints": Case((), U, None, "no endpoint was measured"),
    "target.endpoint_blocked": Case(
        (
            result(https(), A),
            result(tcp("e1.whatsapp.net", 5222), B, Blocking.TCP_TIMEOUT),
            result(tcp("e1.whatsapp.net", 443), B, Blocking.TCP_RESET),
            result(tcp("e2.whatsapp.net", 443), A),
        ),
        B,
        Blocking.TCP_TIMEOUT,
        "2 of 4 endpoints blocked (tcp_timeout, tcp_reset):"
        " e1.whatsapp.net:5222, e1.whatsapp.net:443",
    ),
    "target.endpoint_throttled": Case(
        (result(https(), T, Blocking.THROTTLING), result(http(), A)),
        T,
        Blocking.THROTTLING,
        "https://example.com/ throttled",
    ),
    "target.all_network_outage": Case(
        (result(https(), N), result(http(), N)), N, None, "all 2 endpoints failed with the network"
    ),
    "target.all_service_down": Case(
        (result(https(), D),), D, None, "down from the control vantage"
    ),
    "target.all_accessible": Case(
        (result(https(), A), result(http(), A)), A, None, "all 2 endpoints accessible"
    ),
    "target.accessible_rest_down": Case(
        (result(https(), A), result(http(), D)),
        A,
        None,
        "1 of 2 endpoints accessible; 1 down for everyone",
    ),
    "target.accessible_cleartext_unverifiable": Case(
        (result(https(), A), uncompared(http())),
        A,
        None,
        "http://example.com/ could not be compared with a control, but the same host loaded over"
        " verified HTTPS",
    ),
    "target.mixed": Case(
        (result(https(), A), result(http(), U)), U, None, "1 inconclusive (http://example.com/)"
    ),
}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_target_rule(rule_id: str) -> None:
    case = CASES[rule_id]
    decision = target_verdict(whatsapp(*case.results), list(case.results), context())
    verdict, blocking, reasons = decision.verdict, decision.blocking, list(decision.reasons)
    assert verdict is case.verdict, (
        f"{rule_id}: verdict expected {case.verdict}, got {verdict} {reasons}"
    )
    assert blocking is case.blocking, (
        f"{rule_id}: blocking expected {case.blocking}, got {blocking}"
    )
    # A one-endpoint target leads with that endpoint's evidence; the summary follows.
    assert any(case.reason in reason for reason in reasons), (
        f"{rule_id}: reasons expected {case.reason!r}, got {reasons!r}"
    )


def test_every_target_rule_has_a_case() -> None:
    from .test_network import TARGET_CASES  # the rules that apply the run's network state

    covered = set(CASES) | {rule for *_, rule in TARGET_CASES.values()}
    missing = {r.id for r in TARGET_RULES} - covered
    assert not missing, f"target rules without a unit test: {sorted(missing)}"


def test_one_open_port_keeps_a_whatsapp_host_accessible() -> None:
    # OONI's WhatsApp rule (probe#2383): a host is blocked only if both its ports fail.
    results = [
        result(tcp("e1.whatsapp.net", 5222), B, Blocking.TCP_TIMEOUT),
        result(tcp("e1.whatsapp.net", 443), A),
    ]
    decision = target_verdict(whatsapp(*results), results, context())
    verdict, blocking, reasons = decision.verdict, decision.blocking, list(decision.reasons)
    assert (verdict, blocking) == (A, None), (
        f"port 5222 only: expected accessible, got {verdict} {reasons}"
    )
    assert any("another port of the host works" in r for r in reasons), (
        f"note expected, got {reasons}"
    )


def test_blocked_uses_the_first_blocked_endpoint_in_order() -> None:
    results = [result(https(), B, Blocking.DNS_HIJACK), result(http(), B, Blocking.HTTP_DIFF)]
    decision = target_verdict(whatsapp(*results), results, context())
    blocking, reasons = decision.blocking, list(decision.reasons)
    assert blocking is Blocking.DNS_HIJACK, (
        f"first blocked endpoint: expected dns_hijack, got {blocking}"
    )
    assert any(r.startswith("https://example.com/: ") for r in reasons), f"got {reasons}"


def test_blocked_without_a_method_is_not_trusted() -> None:
    results = [result(https(), B, None)]
    decision = target_verdict(whatsapp(*results), results, context())
    verdict, blocking = decision.verdict, decision.blocking
    assert (verdict, blocking) == (U, None), f"blocked without blocking: got {verdict} {blocking}"


def test_single_endpoint_keeps_its_reasons() -> None:
    results = [result(https(), D)]
    decision = target_verdict(whatsapp(*results), results, context())
    reasons = list(decision.reasons)
    assert "service_down because of the evidence" in reasons, f"got {reasons}"


def _site(url: str, success: bool, phase: str = "before") -> ControlSiteCheck:
    return ControlSiteCheck(
        url=url,
        phase=phase,
        success=success,
        step=None if success else "tcp",
        failure=None if success else "generic_timeout_error",
        elapsed_s=0.1,
    )


def _blocked_reasons(*, b_loaded_after: bool) -> list[str]:
    """Return the reasons of a blocked domain; control site a loaded, b failed before."""
    results = [result(https(), B, Blocking.TCP_TIMEOUT)]
    target = Target(
        input="example.com",
        kind=TargetKind.DOMAIN,
        name="example.com",
        endpoints=[r.endpoint for r in results],
    )
    sites = (
        _site("https://a.example/", True),
        _site("https://b.example/", False),
        _site("https://b.example/", b_loaded_after, "after"),
    )
    return list(target_verdict(target, results, DecisionContext(controls=sites)).reasons)


def test_blocked_with_some_control_sites_failing_notes_whitelisting() -> None:
    # §11 #29, lab scenario whitelist_allow_list: allow-listed sites load, the rest time out.
    reasons = _blocked_reasons(b_loaded_after=False)
    assert any("1 of 2 control sites failed too (https://b.example/)" in r for r in reasons), (
        f"whitelisting note: expected among reasons, got {reasons}"
    )


def test_no_whitelisting_note_when_every_site_loaded_once() -> None:
    # A site that failed before the targets and loaded after is flaky, not outside an allow list.
    reasons = _blocked_reasons(b_loaded_after=True)
    assert not any("control sites failed too" in r for r in reasons), (
        f"whitelisting note: expected absent, got {reasons}"
    )


def test_an_uncompared_cleartext_page_of_another_host_stays_inconclusive() -> None:
    # The https:// endpoint vouches only for its own host.
    results = [result(https(), A), uncompared(http("other.example"))]
    decision = target_verdict(whatsapp(*results), results, context())
    verdict, reasons = decision.verdict, list(decision.reasons)
    assert verdict is U, f"another host's cleartext page: expected inconclusive, got {verdict}"
    assert any("inconclusive" in r for r in reasons), reasons
