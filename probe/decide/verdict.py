"""Combine the layer findings of one endpoint into a verdict, and a target's endpoints into one.

Order of judgement for an endpoint (docs/methodology.md "Combining"):
1. no attempt succeeded and the control sites failed too → network_outage;
2. the first `blocked` finding in layer order (DNS, TCP, TLS, HTTP) → blocked with its method,
   unless the control sites changed between before and after (sandwich) and the sign is not
   self-evident → inconclusive;
3. an attempt succeeded → accessible (or inconclusive for a page the server refused);
4. otherwise service_down if the control failed the same way, else inconclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

from probe.decide.attempts import (
    Attempt,
    Outcome,
    group_attempts,
    is_redirect,
    is_validation,
    outcome,
    split_address,
    url_scheme,
)
from probe.decide.blockpages import Fingerprint
from probe.decide.decision import Decision, said, stepped
from probe.decide.dns import dns_finding
from probe.decide.evidence import NetworkEvidence, cite, failure_kind
from probe.decide.http import content_evidence, hop_finding, page_finding
from probe.decide.rules import BODY_TIMEOUT, NETWORK_RULES, RULES_BY_ID, finding, first_match
from probe.decide.steps import COMBINE_RULES, CombineEvidence, StepRule, first_step
from probe.decide.tcp import tcp_finding
from probe.decide.tls import DEFAULT_INTERCEPTION_ISSUERS, tls_finding
from probe.models.addresses import IPNetwork, is_ip_address
from probe.models.failures import FailureKind
from probe.models.observations import TlsObservation
from probe.models.results import (
    ControlSiteCheck,
    EndpointResult,
    Finding,
    Layer,
    SiteScope,
    TestKeys,
    Verdict,
)
from probe.models.targets import Endpoint, EndpointKind

# The network itself was not fit to judge: only a self-evident sign survives.
_UNFIT_RULES = frozenset({"network.sandwich_changed", "network.captive_portal_suspected"})
_HEALTHY_RULE = "network.healthy"
_UNVERIFIABLE_ANSWER = "dns.answer_unverifiable"
_BLOCKPAGE_RULE = "http.blockpage_fingerprint"
_ACCESSIBLE_NOTES = ("dns.validated_by_certificate", "dns.mismatch_service_answered")
_EVIDENT_ON_UNFIT = "endpoint.self_evident_on_unfit_network"
_SUCCEEDED = "endpoint.succeeded"
_UNDECIDED = Decision(Verdict.INCONCLUSIVE)


@dataclass(frozen=True)
class DecisionContext:
    """What the verdict functions need besides the measurement: lab ranges, fingerprints,
    the control-site sandwich and the interception issuers."""

    routable: tuple[IPNetwork, ...] = ()
    fingerprints: tuple[Fingerprint, ...] = ()
    controls: tuple[ControlSiteCheck, ...] = ()
    known_interception_issuers: tuple[str, ...] = DEFAULT_INTERCEPTION_ISSUERS


def _sandwich(controls: tuple[ControlSiteCheck, ...]) -> str:
    before = [c.success for c in controls if c.phase == "before"]
    after = [c.success for c in controls if c.phase == "after"]
    if not before or not after or any(before) == any(after):
        return ""
    if any(before):
        return "loaded before the targets and failed after"
    return "failed before the targets and loaded after"


def network_evidence(
    outcomes: list[Outcome], keys: TestKeys, controls: tuple[ControlSiteCheck, ...]
) -> NetworkEvidence:
    """Return the evidence about the probe's own network for one endpoint.

    Only the foreign control sites count here: they share the target's way abroad. Domestic
    sites tell a whitelist from an outage once per run (decide/network.py).
    """
    controls = tuple(c for c in controls if c.scope is SiteScope.FOREIGN)
    failed_sites = [c for c in controls if not c.success]
    all_failed = bool(controls) and len(failed_sites) == len(controls)
    return NetworkEvidence(
        has_observations=bool(outcomes),
        succeeded=any(o.succeeded for o in outcomes),
        attempts=max(keys.attempts, len(outcomes)),
        complete=sum(o.complete for o in outcomes),
        failed_layers=tuple(o.layer.value for o in outcomes if o.failed and o.layer),
        sites=len(controls),
        sites_failed=len(failed_sites),
        all_sites_failed=all_failed,
        all_failed_at_dns=all_failed and all(c.step == "dns" for c in controls),
        all_failed_on_certificates=all_failed
        and all(failure_kind(c.failure) == FailureKind.UNTRUSTED for c in controls),
        sandwich=_sandwich(controls),
    )


def _failing_handshakes(attempts: list[Attempt]) -> list[TlsObservation]:
    """Return the handshakes that connected and then failed, in `attempts`."""
    found = []
    for attempt in attempts:
        failed_tcp = {
            (c.ip, c.port)
            for c in attempt.connects
            if not c.status.success and not is_validation(c)
        }
        found += [
            h
            for h in attempt.handshakes
            if h.failure is not None
            and not is_validation(h)
            and split_address(h.address) not in failed_tcp
        ]
    return found


def _succeeded_handshakes(attempts: list[Attempt]) -> list[TlsObservation]:
    return [h for a in attempts for h in a.handshakes if h.failure is None and not is_validation(h)]


def _decisive_success(outcomes: list[Outcome]) -> Outcome:
    """Return the successful attempt to judge: the first whose chain ended on a page."""
    succeeded = [o for o in outcomes if o.succeeded]
    finished = [o for o in succeeded if o.final is not None and not is_redirect(o.final)]
    return (finished or succeeded)[0]


def _blockpage_finding(keys: TestKeys, context: DecisionContext) -> Finding | None:
    """Return a page finding when a failed chain still carried a fingerprinted response."""
    answered = [t for t in keys.requests if t.response is not None]
    if not answered:
        return None
    found = page_finding(answered[0], keys.requests, keys.control, context.fingerprints)
    return found if found.rule_id == _BLOCKPAGE_RULE else None


def _success_findings(
    endpoint: Endpoint,
    keys: TestKeys,
    context: DecisionContext,
    attempts: list[Attempt],
    outcomes: list[Outcome],
) -> list[Finding]:
    if endpoint.kind is EndpointKind.TCP:
        return [tcp_finding(endpoint, attempts, keys.control)]
    found = []
    if url_scheme(endpoint.url or "") == "https":
        handshakes = _succeeded_handshakes(attempts)
        issuers = context.known_interception_issuers
        found.append(
            tls_finding(endpoint.host, handshakes, keys.control, failed=False, issuers=issuers)
        )
    final = _decisive_success(outcomes).final
    if final is not None:
        found.append(
            page_finding(
                final, keys.requests, keys.control, context.fingerprints, keys.control_failure
            )
        )
    return found


def _failure_findings(
    endpoint: Endpoint,
    keys: TestKeys,
    context: DecisionContext,
    attempts: list[Attempt],
    outcomes: list[Outcome],
) -> list[Finding]:
    failed = [o for o in outcomes if o.failed]
    if cut := [o for o in failed if _cut_while_arriving(o)]:
        # The response began in these attempts: the path carries the target's data, slowly.
        # The others' silence (a timeout before any response, a handshake that never ended) is
        # that same starved path, not a block of its own (a policer shares its rate between
        # the overlapping attempts).
        failed = cut
    layers = {o.layer for o in failed}
    issuers = context.known_interception_issuers
    if len(layers) != 1:
        return _residual_findings(endpoint, keys, attempts, failed, issuers)
    layer = layers.pop()
    numbers = {o.attempt for o in failed}
    failing = [a for a in attempts if a.number in numbers]
    is_https = url_scheme(endpoint.url or "") == "https"
    if layer is Layer.TCP:
        return [tcp_finding(endpoint, failing, keys.control)]
    if layer is Layer.TLS:
        handshakes = _failing_handshakes(failing)
        return [tls_finding(endpoint.host, handshakes, keys.control, failed=True, issuers=issuers)]
    if layer is Layer.DNS and failed[0].depth == 0:
        return []
    found = []
    if is_https and (handshakes := _succeeded_handshakes(failing)):
        found.append(
            tls_finding(endpoint.host, handshakes, keys.control, failed=False, issuers=issuers)
        )
    if (blockpage := _blockpage_finding(keys, context)) is not None:
        found.append(blockpage)
    found.append(hop_finding(failed[0], keys.control, keys.control_failure))
    return found


def _cut_while_arriving(ended: Outcome) -> bool:
    """Return whether the attempt's response began and its body was cut by a timeout."""
    final = ended.final
    return (
        ended.layer is Layer.HTTP
        and final is not None
        and final.response is not None
        and failure_kind(ended.failure) == FailureKind.TIMEOUT
    )


def _residual_findings(
    endpoint: Endpoint,
    keys: TestKeys,
    attempts: list[Attempt],
    failed: list[Outcome],
    issuers: tuple[str, ...],
) -> list[Finding]:
    """Return a TLS finding for residual blocking, or nothing for an unstable path.

    The signature (METHODS §11 #32): the first attempt's handshake was cut, and every later
    attempt was refused or reset at the TCP connect, because the censor now blocks the address.
    """
    if not failed:
        return []
    first, *later = sorted(failed, key=lambda o: o.attempt)
    cut_kinds = (FailureKind.RESET, FailureKind.EOF)
    refused_kinds = (FailureKind.REFUSED, FailureKind.RESET)
    cut = first.layer is Layer.TLS and failure_kind(first.failure) in cut_kinds
    refused = bool(later) and all(
        o.layer is Layer.TCP and failure_kind(o.failure) in refused_kinds for o in later
    )
    if not (cut and refused):
        return []
    trigger = [a for a in attempts if a.number == first.attempt]
    return [
        tls_finding(
            endpoint.host,
            _failing_handshakes(trigger),
            keys.control,
            failed=True,
            issuers=issuers,
            residual=tuple(f"attempt {o.attempt} {o.failure}" for o in later),
        )
    ]


def _attempts_note(outcomes: list[Outcome]) -> tuple[str, ...]:
    """Return a note on retries when there were several attempts and some failed."""
    failed = [o for o in outcomes if o.failed]
    if not failed or len(outcomes) < 2:
        return ()
    steps = cite(f"{o.layer.value if o.layer else '?'} {o.failure}" for o in failed)
    if any(o.succeeded for o in outcomes):
        return (
            f"{len(failed)} of {len(outcomes)} attempts failed ({steps}) but another"
            " succeeded: a flaky path, not a block",
        )
    return (f"{len(failed)} of {len(outcomes)} attempts failed ({steps})",)


def _combine_evidence(
    findings: list[Finding], network: Finding, succeeded: bool
) -> CombineEvidence:
    """Return what the combining rows test: the endpoint's findings sorted by what they imply."""
    blocked = [f for f in findings if f.verdict is Verdict.BLOCKED]
    return CombineEvidence(
        succeeded=succeeded,
        network_outage=network.verdict is Verdict.NETWORK_OUTAGE,
        network_unfit=network.rule_id in _UNFIT_RULES,
        network_inconclusive=network.verdict is Verdict.INCONCLUSIVE,
        blocked=bool(blocked),
        self_evident=any(RULES_BY_ID[f.rule_id].self_evident for f in blocked),
        down=any(f.verdict is Verdict.SERVICE_DOWN for f in findings),
        unverifiable_answer=any(f.rule_id == _UNVERIFIABLE_ANSWER for f in findings),
        body_cut=any(f.rule_id == BODY_TIMEOUT for f in findings),
        inconclusive=any(f.verdict is Verdict.INCONCLUSIVE for f in findings),
    )


def _adopt_blocked(rule: StepRule[CombineEvidence], findings: list[Finding]) -> Decision:
    """Return the decision of a blocked row: the decisive finding's method and reasons, and
    the first reasons of up to two other blocked findings."""
    blocked = [f for f in findings if f.verdict is Verdict.BLOCKED]
    evident = [f for f in blocked if RULES_BY_ID[f.rule_id].self_evident]
    decisive = evident[0] if rule.id == _EVIDENT_ON_UNFIT else blocked[0]
    also = [f.reasons[0] for f in blocked if f is not decisive and f.reasons][:2]
    reasons = [*decisive.reasons, *also]
    return stepped(_UNDECIDED, rule, reasons, blocking=decisive.blocking, cited=[decisive.rule_id])


def _adopt_succeeded(rule: StepRule[CombineEvidence], findings: list[Finding]) -> Decision:
    """Return the decision of a successful endpoint: the page (or, for a TCP service, the
    connect) has the last word: accessible, a server-side refusal (inconclusive) or an error
    for everyone (service_down)."""
    last = [f for f in findings if f.layer in (Layer.HTTP, Layer.TCP)]
    notes = [
        r
        for f in findings[:-1]
        for r in (f.reasons if f.rule_id in _ACCESSIBLE_NOTES else f.reasons[1:])
    ]
    verdict = last[-1].verdict if last else Verdict.ACCESSIBLE
    reasons = [*(last[-1].reasons if last else []), *notes]
    cited = [last[-1].rule_id] if last else []
    return stepped(_UNDECIDED, rule, reasons, blocking=None, verdict=verdict, cited=cited)


def _first(
    findings: list[Finding], verdict: Verdict | None = None, *, rule_id: str | None = None
) -> list[Finding]:
    """Return the first finding with `verdict` (or fired by `rule_id`): a list of at most one."""
    return [f for f in findings if f.verdict is verdict or f.rule_id == rule_id][:1]


def _combine(findings: list[Finding], network: Finding, succeeded: bool) -> Decision:
    """Return the endpoint's decision: the combining row that matches its findings, with the
    findings it adopts (docs/methodology.md "Combining an endpoint's findings")."""
    evidence = _combine_evidence(findings, network, succeeded)
    rule = first_step(COMBINE_RULES, evidence) or COMBINE_RULES[-1]
    if rule.verdict is Verdict.BLOCKED:
        return _adopt_blocked(rule, findings)
    if rule.id == _SUCCEEDED:
        return _adopt_succeeded(rule, findings)
    down = _first(findings, verdict=Verdict.SERVICE_DOWN)
    adopted = {
        "endpoint.network_outage": [network],
        "endpoint.blocked_on_unfit_network": [network, *_first(findings, Verdict.BLOCKED)],
        "endpoint.unverifiable_answer": [*_first(findings, rule_id=_UNVERIFIABLE_ANSWER), *down],
        "endpoint.control_failed_too": down,
        "endpoint.body_cut": [*_first(findings, rule_id=BODY_TIMEOUT), network],
        "endpoint.network_inconclusive": [network],
        "endpoint.first_inconclusive": _first(findings, Verdict.INCONCLUSIVE),
    }.get(rule.id, [])
    reasons = [r for f in adopted for r in f.reasons] + said(rule, evidence.facts())
    cited = [f.rule_id for f in adopted]
    return stepped(_UNDECIDED, rule, reasons, blocking=None, cited=cited)


def endpoint_verdict(
    endpoint: Endpoint, keys: TestKeys, context: DecisionContext
) -> EndpointResult:
    """Return the endpoint's verdict, blocking method, reasons and per-layer findings."""
    attempts = group_attempts(keys)
    outcomes = [outcome(endpoint, attempt) for attempt in attempts]
    succeeded = any(o.succeeded for o in outcomes)
    evidence = network_evidence(outcomes, keys, context.controls)
    network = finding(first_match(NETWORK_RULES, evidence), evidence.facts())
    findings: list[Finding] = []
    if not is_ip_address(endpoint.host):
        valid, invalid = content_evidence(
            outcomes, keys.requests, keys.control, context.fingerprints
        )
        findings.append(
            dns_finding(
                endpoint,
                keys,
                routable=context.routable,
                fingerprints=context.fingerprints,
                controls=context.controls,
                content_validated=valid,
                content_invalidated=invalid,
            )
        )
    if succeeded:
        findings += _success_findings(endpoint, keys, context, attempts, outcomes)
    else:
        findings += _failure_findings(endpoint, keys, context, attempts, outcomes)
    decision = _combine(findings, network, succeeded)
    reasons = list(decision.reasons)
    reasons += [n for n in _attempts_note(outcomes) if n not in reasons]
    if network.rule_id != _HEALTHY_RULE:
        findings.insert(0, network)
    return EndpointResult(
        endpoint=endpoint,
        verdict=decision.verdict,
        blocking=decision.blocking,
        reasons=list(dict.fromkeys(reasons)),
        rules=list(decision.rules),
        findings=findings,
        test_keys=keys,
    )
