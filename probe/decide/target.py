"""Combine a target's endpoint verdicts (a platform has many: URLs, and TCP services such as
WhatsApp's e1–e16.whatsapp.net on 443 and 5222) into the target's verdict."""

from __future__ import annotations

from probe.decide.decision import Decision, decided, said, stepped
from probe.decide.evidence import TargetEvidence
from probe.decide.packets import sharpen
from probe.decide.rules import BODY_TIMEOUT, TARGET_RULES, first_match
from probe.decide.steps import (
    CONTROL_SITE_RULES,
    METHOD_RULES,
    PORT_RULES,
    THROUGHPUT_STEP_RULES,
    ControlSitesEvidence,
    MethodEvidence,
    PortEvidence,
    ThroughputStepEvidence,
    first_step,
)
from probe.decide.throughput import throughput_finding
from probe.decide.verdict import DecisionContext
from probe.models.observations import ThroughputTest
from probe.models.packets import PacketEvidence
from probe.models.results import (
    EndpointResult,
    NetworkAssessment,
    SiteScope,
    Verdict,
)
from probe.models.targets import EndpointKind, Target


def _effective(endpoints: list[EndpointResult]) -> tuple[list[Verdict], list[str]]:
    """Return each endpoint's verdict as the target counts it, and notes (`target.port_fallback`).

    A TCP service host counts as blocked only if none of its ports is accessible (OONI's
    WhatsApp rule, probe#2383): an app falls back from 5222 to 443, so one open port serves it.
    """
    open_hosts = {
        e.endpoint.host
        for e in endpoints
        if e.endpoint.kind is EndpointKind.TCP and e.verdict is Verdict.ACCESSIBLE
    }
    verdicts: list[Verdict] = []
    notes: list[str] = []
    for result in endpoints:
        endpoint = result.endpoint
        evidence = PortEvidence(
            endpoint=endpoint.label,
            method=result.blocking.value if result.blocking else "",
            blocked=result.verdict is Verdict.BLOCKED,
            is_tcp=endpoint.kind is EndpointKind.TCP,
            other_port_open=endpoint.host in open_hosts,
        )
        rule = first_step(PORT_RULES, evidence)
        if rule is not None and rule.verdict is not None:
            notes += said(rule, evidence.facts())
            verdicts.append(rule.verdict)
        else:
            verdicts.append(result.verdict)
    return verdicts, notes


_MAY_BE_SLOW = frozenset({Verdict.ACCESSIBLE, Verdict.SERVICE_DOWN, Verdict.INCONCLUSIVE})


def may_be_throttled(endpoints: list[EndpointResult]) -> bool:
    """Return whether the target loads, if slowly: an endpoint loaded or was cut by the timeout
    while its body was arriving, and none is blocked or failed with the network.

    Inconclusive endpoints are allowed: on a path a policer starves, the overlapping attempts
    of some endpoints get no response at all. The runner measures throughput only for such
    targets; a blocked one has its verdict.
    """
    verdicts, _ = _effective(endpoints)
    loads = any(
        v is Verdict.ACCESSIBLE or cut_while_arriving(e)
        for e, v in zip(endpoints, verdicts, strict=True)
    )
    return loads and all(v in _MAY_BE_SLOW for v in verdicts)


def cut_while_arriving(result: EndpointResult) -> bool:
    """Return whether the endpoint's page was cut by the timeout while its body was arriving."""
    return result.verdict is Verdict.INCONCLUSIVE and any(
        f.rule_id == BODY_TIMEOUT for f in result.findings
    )


def target_verdict(
    target: Target,
    endpoints: list[EndpointResult],
    context: DecisionContext,
    throughput: ThroughputTest | None = None,
    packets: PacketEvidence | None = None,
    network: NetworkAssessment | None = None,
) -> Decision:
    """Return the target's decision (verdict, blocking method, reasons and the rules applied)
    from its endpoints' results, its throughput test (a target that loads, if slowly), its
    packet evidence (a blocked target) and the run's network state (decide/network.py).

    A whitelisted network makes a target that failed with the network blocked (whitelisting),
    never network_outage; an intercepted one leaves nothing accessible but what a verified
    chain shows (docs/methodology.md "Network state").

    A throughput finding of `throttled` makes the target throttled; any other finding adds its
    reason (why it is not throttling: a slow network, too few repeats…). Packet evidence
    sharpens a blocked target's method and reasons (decide/packets.py).
    """
    decision = _endpoints_verdict(target, endpoints, context, network)
    if packets is not None:
        decision = sharpen(decision, packets)
    if throughput is None or not may_be_throttled(endpoints):
        return decision
    finding = throughput_finding(throughput)
    evidence = ThroughputStepEvidence(
        throttled=finding.verdict is Verdict.THROTTLED,
        cut_pages=tuple(e.endpoint.label for e in endpoints if cut_while_arriving(e)),
    )
    rule = first_step(THROUGHPUT_STEP_RULES, evidence) or THROUGHPUT_STEP_RULES[-1]
    cited = [finding.rule_id]
    if rule.verdict is Verdict.THROTTLED:
        reasons = [*finding.reasons, *said(rule, evidence.facts()), *decision.reasons]
        return stepped(decision, rule, reasons, blocking=finding.blocking, cited=cited)
    reasons = [*decision.reasons, *finding.reasons]
    return stepped(decision, rule, reasons, blocking=decision.blocking, cited=cited)


_KNOWN_INTERCEPTION = "tls.known_interception_issuer"


def _target_evidence(
    pairs: list[tuple[EndpointResult, Verdict]], network: NetworkAssessment | None
) -> TargetEvidence:
    """Return what the target table tests: the endpoints' verdicts (as the target counts them),
    counted, and the run's network state."""
    blocked = [e for e, v in pairs if v is Verdict.BLOCKED]
    verdicts = [v for _, v in pairs]
    return TargetEvidence(
        total=len(pairs),
        blocked=tuple(e.endpoint.label for e in blocked),
        blocked_methods=tuple(e.blocking.value for e in blocked if e.blocking),
        throttled=tuple(e.endpoint.label for e, v in pairs if v is Verdict.THROTTLED),
        accessible=sum(v is Verdict.ACCESSIBLE for v in verdicts),
        outage=sum(v is Verdict.NETWORK_OUTAGE for v in verdicts),
        down=sum(v is Verdict.SERVICE_DOWN for v in verdicts),
        inconclusive=tuple(e.endpoint.label for e, v in pairs if v is Verdict.INCONCLUSIVE),
        unverifiable_twins=_unverifiable_twins(pairs),
        network_state=network.state.value if network is not None else "",
        network_reason="; ".join(network.reasons) if network is not None else "",
        verified_https=sum(
            v is Verdict.ACCESSIBLE and (e.endpoint.url or "").startswith("https://")
            for e, v in pairs
        ),
        known_interception=any(
            f.rule_id == _KNOWN_INTERCEPTION for e in blocked for f in e.findings
        ),
    )


def _endpoints_verdict(
    target: Target,
    endpoints: list[EndpointResult],
    context: DecisionContext,
    network: NetworkAssessment | None = None,
) -> Decision:
    """Return the target's decision from its endpoints' results.

    Any blocked endpoint makes the target blocked, with the method of the first blocked endpoint
    in order; all network_outage → network_outage; all service_down → service_down; accessible
    endpoints with the rest down for everyone → accessible; anything else → inconclusive.
    """
    verdicts, notes = _effective(endpoints)
    pairs = list(zip(endpoints, verdicts, strict=True))
    evidence = _target_evidence(pairs, network)
    rule = first_match(TARGET_RULES, evidence)
    summary = [rule.render(evidence.facts())]
    ported = [PORT_RULES[0].id] if notes else []
    if rule.id in _STATE:
        failing = next((e for e, v in pairs if v is not Verdict.ACCESSIBLE), endpoints[0])
        shown = [f"{failing.endpoint.label}: {r}" for r in failing.reasons[:2]]
        return decided(rule, [*summary, *shown, *notes], cited=ported)
    if rule.verdict in (Verdict.BLOCKED, Verdict.THROTTLED):
        return _method(decided(rule, summary, cited=ported), pairs, notes, context)
    if not endpoints:
        return decided(rule, [*summary, *notes], cited=ported)
    return decided(rule, [*_cite(endpoints, endpoints[0], summary), *notes], cited=ported)


def _method(
    decision: Decision,
    pairs: list[tuple[EndpointResult, Verdict]],
    notes: list[str],
    context: DecisionContext,
) -> Decision:
    """Return a blocked or throttled target's decision with its method: the first blocked (or
    throttled) endpoint's, cited; a blocked one also notes the control sites that failed too."""
    endpoints = [e for e, _ in pairs]
    blocked = [e for e, v in pairs if v is Verdict.BLOCKED and e.blocking is not None]
    throttled = [e for e, v in pairs if v is Verdict.THROTTLED]
    evidence = MethodEvidence(
        verdict=decision.verdict,
        first_blocked=blocked[0].endpoint.label if blocked else "",
        first_throttled_method=throttled[0].blocking or "" if throttled else "",
    )
    rule = first_step(METHOD_RULES, evidence) or METHOD_RULES[-1]
    summary = list(decision.reasons)
    if rule.id == _BLOCKED_WITHOUT_METHOD:  # hand-made results: not evidence
        return stepped(decision, rule, [*summary, *said(rule, {})], blocking=None)
    if rule.verdict is Verdict.THROTTLED:
        reasons = [*_cite(endpoints, throttled[0], summary), *notes]
        return stepped(decision, rule, reasons, blocking=throttled[0].blocking)
    reasons = [*_cite(endpoints, blocked[0], summary), *notes]
    decision = stepped(decision, rule, reasons, blocking=blocked[0].blocking)
    return _control_sites(decision, context)


def _control_sites(decision: Decision, context: DecisionContext) -> Decision:
    """Return a blocked target's decision with a note when some control sites failed too: the
    mark of whitelisting (§11 #29)."""
    foreign = [c for c in context.controls if c.scope is SiteScope.FOREIGN]
    sites = tuple(dict.fromkeys(c.url for c in foreign))
    loaded = {c.url for c in foreign if c.success}
    evidence = ControlSitesEvidence(sites=sites, failed=tuple(u for u in sites if u not in loaded))
    rule = first_step(CONTROL_SITE_RULES, evidence)
    if rule is None:
        return decision
    reasons = [*decision.reasons, *said(rule, evidence.facts())]
    return stepped(decision, rule, reasons, blocking=decision.blocking)


_NO_CONTROL_CLEARTEXT = "http.no_control_cleartext"
# Target rules that come from the run's network state, not from the endpoints' methods.
_STATE = frozenset({"target.intercepted_network", "target.whitelisted_network"})
_BLOCKED_WITHOUT_METHOD = "target.blocked_without_method"


def _unverifiable_twins(pairs: list[tuple[EndpointResult, Verdict]]) -> tuple[str, ...]:
    """Return the http:// endpoints inconclusive only for want of a control, whose host loaded
    over verified https:// (a domain target's two URLs with the helper unreachable)."""
    verified_hosts = {
        e.endpoint.host
        for e, v in pairs
        if v is Verdict.ACCESSIBLE and (e.endpoint.url or "").startswith("https://")
    }
    return tuple(
        e.endpoint.label
        for e, v in pairs
        if v is Verdict.INCONCLUSIVE
        and e.endpoint.host in verified_hosts
        and any(f.rule_id == _NO_CONTROL_CLEARTEXT for f in e.findings)
    )


def _cite(
    endpoints: list[EndpointResult], decisive: EndpointResult, summary: list[str]
) -> list[str]:
    """Return the reasons to show: the evidence first for one endpoint, else the summary first."""
    if len(endpoints) == 1:
        return [*decisive.reasons, *summary] if decisive.reasons else summary
    return [*summary, *(f"{decisive.endpoint.label}: {r}" for r in decisive.reasons[:2])]
