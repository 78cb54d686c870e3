"""Combine a target's endpoint verdicts (a platform has many: URLs, and TCP services such as
WhatsApp's e1–e16.whatsapp.net on 443 and 5222) into the target's verdict."""

from __future__ import annotations

from probe.decide.evidence import TargetEvidence, cite
from probe.decide.packets import sharpen
from probe.decide.rules import BODY_TIMEOUT, TARGET_RULES, first_match
from probe.decide.throughput import throughput_finding
from probe.decide.verdict import DecisionContext
from probe.models.observations import ThroughputTest
from probe.models.packets import PacketEvidence
from probe.models.results import (
    Blocking,
    EndpointResult,
    NetworkAssessment,
    SiteScope,
    Verdict,
)
from probe.models.targets import EndpointKind, Target


def _effective(endpoints: list[EndpointResult]) -> tuple[list[Verdict], list[str]]:
    """Return each endpoint's verdict as the target counts it, and notes.

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
        if (
            result.verdict is Verdict.BLOCKED
            and endpoint.kind is EndpointKind.TCP
            and endpoint.host in open_hosts
        ):
            method = result.blocking.value if result.blocking else "blocked"
            notes.append(
                f"{endpoint.label} is blocked ({method}) but another port of the host works"
            )
            verdicts.append(Verdict.ACCESSIBLE)
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
) -> tuple[Verdict, Blocking | None, list[str]]:
    """Return the target's verdict, blocking method and reasons from its endpoints' results,
    its throughput test (a target that loads, if slowly), its packet evidence (a blocked
    target) and the run's network state (decide/network.py).

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
    verdict, blocking, reasons = decision
    if throughput is None or not may_be_throttled(endpoints):
        return verdict, blocking, reasons
    finding = throughput_finding(throughput)
    if finding.verdict is Verdict.THROTTLED:
        slow = [e.endpoint.label for e in endpoints if cut_while_arriving(e)]
        note = [f"pages cut by the timeout while arriving: {cite(slow)}"] if slow else []
        return Verdict.THROTTLED, finding.blocking, [*finding.reasons, *note, *reasons]
    return verdict, blocking, [*reasons, *finding.reasons]


_KNOWN_INTERCEPTION = "tls.known_interception_issuer"


def _endpoints_verdict(
    target: Target,
    endpoints: list[EndpointResult],
    context: DecisionContext,
    network: NetworkAssessment | None = None,
) -> tuple[Verdict, Blocking | None, list[str]]:
    """Return the target's verdict, blocking method and reasons from its endpoints' results.

    Any blocked endpoint makes the target blocked, with the method of the first blocked endpoint
    in order; all network_outage → network_outage; all service_down → service_down; accessible
    endpoints with the rest down for everyone → accessible; anything else → inconclusive.
    """
    verdicts, notes = _effective(endpoints)
    pairs = list(zip(endpoints, verdicts, strict=True))
    blocked = [e for e, v in pairs if v is Verdict.BLOCKED]
    throttled = [e for e, v in pairs if v is Verdict.THROTTLED]
    evidence = TargetEvidence(
        total=len(endpoints),
        blocked=tuple(e.endpoint.label for e in blocked),
        blocked_methods=tuple(e.blocking.value for e in blocked if e.blocking),
        throttled=tuple(e.endpoint.label for e in throttled),
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
    rule = first_match(TARGET_RULES, evidence)
    summary = [rule.render(evidence.facts())]
    if rule.id in _STATE:
        failing = next((e for e, v in pairs if v is not Verdict.ACCESSIBLE), endpoints[0])
        shown = [f"{failing.endpoint.label}: {r}" for r in failing.reasons[:2]]
        return rule.verdict, rule.blocking, [*summary, *shown, *notes]
    if rule.verdict is Verdict.BLOCKED:
        decisive = next((e for e in blocked if e.blocking is not None), None)
        if decisive is None:  # hand-made results: blocked without a method is not evidence
            return Verdict.INCONCLUSIVE, None, [*summary, "no blocked endpoint names a method"]
        reasons = [*_cite(endpoints, decisive, summary), *notes, *_allow_list_note(context)]
        return Verdict.BLOCKED, decisive.blocking, reasons
    if rule.verdict is Verdict.THROTTLED:
        reasons = _cite(endpoints, throttled[0], summary)
        return Verdict.THROTTLED, throttled[0].blocking or Blocking.THROTTLING, [*reasons, *notes]
    if not endpoints:
        return rule.verdict, None, [*summary, *notes]
    return rule.verdict, None, [*_cite(endpoints, endpoints[0], summary), *notes]


_NO_CONTROL_CLEARTEXT = "http.no_control_cleartext"
# Target rules that come from the run's network state, not from the endpoints' methods.
_STATE = frozenset({"target.intercepted_network", "target.whitelisted_network"})


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


def _allow_list_note(context: DecisionContext) -> list[str]:
    """Return a note when some control sites failed too: the mark of whitelisting (§11 #29)."""
    foreign = [c for c in context.controls if c.scope is SiteScope.FOREIGN]
    sites = list(dict.fromkeys(c.url for c in foreign))
    loaded = {c.url for c in foreign if c.success}
    failed = [url for url in sites if url not in loaded]
    if not failed or len(failed) == len(sites):
        return []
    return [
        f"{len(failed)} of {len(sites)} control sites failed too ({', '.join(failed)}): if the"
        " network admits only allow-listed destinations (whitelisting), far more than this"
        " target is blocked"
    ]


def _cite(
    endpoints: list[EndpointResult], decisive: EndpointResult, summary: list[str]
) -> list[str]:
    """Return the reasons to show: the evidence first for one endpoint, else the summary first."""
    if len(endpoints) == 1:
        return [*decisive.reasons, *summary] if decisive.reasons else summary
    return [*summary, *(f"{decisive.endpoint.label}: {r}" for r in decisive.reasons[:2])]
