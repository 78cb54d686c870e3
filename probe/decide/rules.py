"""Ordered rule tables with stable ids: the first rule that matches a layer's evidence wins.

An id (`layer.what_was_seen`) never changes meaning; new semantics get a new id. Every id is
documented in docs/methodology.md (a test checks it). `self_evident` marks the signs that stand
without a control and survive a changing network: a bogon or block-page answer, DNS injection,
a block-page fingerprint, a known interception issuer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from probe.decide.evidence import (
    DnsEvidence,
    HopEvidence,
    NetworkEvidence,
    NetworkStateEvidence,
    PageEvidence,
    TargetEvidence,
    TcpEvidence,
    ThroughputEvidence,
    TlsEvidence,
    fill,
)
from probe.decide.packet_evidence import DnsPacketEvidence, TcpPacketEvidence, TraceEvidence
from probe.models.failures import FailureKind, HopStage
from probe.models.packets import Reaction
from probe.models.results import Blocking, Finding, Layer, NetworkState, Verdict

E = TypeVar("E")

OK = Verdict.ACCESSIBLE
BLOCKED = Verdict.BLOCKED
DOWN = Verdict.SERVICE_DOWN
UNSURE = Verdict.INCONCLUSIVE
OUTAGE = Verdict.NETWORK_OUTAGE
THROTTLED = Verdict.THROTTLED


@dataclass(frozen=True)
class Rule(Generic[E]):
    """One row of a rule table."""

    id: str
    layer: Layer
    verdict: Verdict
    blocking: Blocking | None
    reason: str
    matches: Callable[[E], bool]
    self_evident: bool = False

    def render(self, facts: Mapping[str, str]) -> str:
        """Return the reason sentence with the evidence's facts filled in."""
        return fill(self.reason, facts)


_LAYERS = {layer.value: layer for layer in Layer}


def _rule(
    id: str,
    verdict: Verdict,
    blocking: Blocking | None,
    reason: str,
    matches: Callable[[E], bool],
    self_evident: bool = False,
) -> Rule[E]:
    """Return a rule whose layer is its id's prefix (`target.*` rules belong to the network)."""
    layer = _LAYERS.get(id.partition(".")[0], Layer.NETWORK)
    return Rule(id, layer, verdict, blocking, reason, matches, self_evident)


def first_match(table: tuple[Rule[E], ...], evidence: E) -> Rule[E]:
    """Return the first rule of `table` matching `evidence` (tables end with a catch-all)."""
    for rule in table:
        if rule.matches(evidence):
            return rule
    return table[-1]


def finding(rule: Rule[E], facts: Mapping[str, str], notes: tuple[str, ...] = ()) -> Finding:
    """Return the Finding recording that `rule` fired, with its reason and any notes."""
    return Finding(
        layer=rule.layer,
        rule_id=rule.id,
        verdict=rule.verdict,
        blocking=rule.blocking,
        reasons=[rule.render(facts), *notes],
    )


def _failed_lookups(e: DnsEvidence) -> bool:
    return e.has_lookups and not e.resolved


def _tcp_kind(kind: FailureKind) -> Callable[[TcpEvidence], bool]:
    return lambda e: e.failed and e.kind == kind


def _tls_kind(*kinds: FailureKind) -> Callable[[TlsEvidence], bool]:
    return lambda e: e.failed and e.kind in kinds


# A response that began and whose body the timeout cut: the mark of a slow (throttled) path,
# which decide/verdict.py prefers among attempts and decide/target.py sends to the throughput test.
BODY_TIMEOUT = "http.body_timeout"


def _hop_kind(*kinds: FailureKind, stage: HopStage | None = None) -> Callable[[HopEvidence], bool]:
    """Match a failed request of these kinds; `stage`: only where it failed (connect, tls or
    http, see HopEvidence.stage)."""

    def matches(e: HopEvidence) -> bool:
        return not e.is_dns and e.kind in kinds and (stage is None or e.stage == stage)

    return matches


def _net_failed(e: NetworkEvidence) -> bool:
    return e.has_observations and not e.succeeded


# fmt: off
DNS_RULES: tuple[Rule[DnsEvidence], ...] = (
    _rule("dns.no_lookups", UNSURE, None,
          "no DNS lookup of {host} was recorded",
          lambda e: not e.has_lookups),
    _rule("dns.late_reply_inconsistent", BLOCKED, Blocking.DNS_INJECTION,
          "{late_replies}: one reply agrees with the control and the other does not"
          " (on-path injection)",
          lambda e: e.late_reply_inconsistent, self_evident=True),
    _rule("dns.late_reply_differs", BLOCKED, Blocking.DNS_INJECTION,
          "{late_replies}: two different replies to one query (on-path injection)",
          lambda e: bool(e.late_replies), self_evident=True),
    _rule("dns.blockpage_ip", BLOCKED, Blocking.DNS_HIJACK,
          "{resolver} answered {blockpage_answers}, a known block-page address; {control_view}",
          lambda e: bool(e.blockpage_answers), self_evident=True),
    _rule("dns.bogon_in_control_too", DOWN, None,
          "{resolver} answered {bogons}, a bogon, and so did the control: the site's own DNS"
          " points to a private or local address",
          lambda e: bool(e.bogons_in_control) and not e.bogons),
    _rule("dns.bogon_not_in_control", BLOCKED, Blocking.DNS_HIJACK,
          "{resolver} answered {bogons}, a bogon; {control_view}",
          lambda e: bool(e.bogons), self_evident=True),
    _rule("dns.nxdomain_everywhere", DOWN, None,
          "{host} does not exist: NXDOMAIN from {nxdomain_resolvers} and from the control",
          lambda e: _failed_lookups(e) and e.control_nxdomain and bool(e.nxdomain_resolvers)),
    _rule("dns.no_answer_everywhere", DOWN, None,
          "{host} has no address for anyone: {failures} here, and {control_view}",
          lambda e: _failed_lookups(e) and e.has_control and not e.control_addresses
          and bool(e.nxdomain_resolvers or e.empty_resolvers)),
    _rule("dns.ghost_answer", BLOCKED, Blocking.DNS_HIJACK,
          "the control says {host} does not exist (NXDOMAIN) but {resolver} answered"
          " {invalid_answers} (ghost DNS)",
          lambda e: e.resolved and e.control_nxdomain and bool(e.invalid_answers)),
    _rule("dns.nxdomain_control_resolved", BLOCKED, Blocking.DNS_NXDOMAIN,
          "{resolver} answered NXDOMAIN for {host} in every attempt; {control_view}",
          lambda e: bool(e.nxdomain_resolvers and e.control_addresses)),
    _rule("dns.empty_answer_control_resolved", BLOCKED, Blocking.DNS_NXDOMAIN,
          "{resolver} returned no address for {host} in every attempt; {control_view}",
          lambda e: bool(e.empty_resolvers and e.control_addresses)),
    _rule("dns.nxdomain_no_control", UNSURE, None,
          "{resolver} answered NXDOMAIN or no address for {host} ({failures}) and no control"
          " resolver answered to compare",
          lambda e: _failed_lookups(e) and bool(e.nxdomain_resolvers or e.empty_resolvers)),
    _rule("dns.failure_everywhere", DOWN, None,
          "no lookup of {host} succeeded ({failures}) and the control failed too"
          " ({control_failure})",
          lambda e: _failed_lookups(e) and e.has_control and not e.control_addresses),
    _rule("dns.failure_other_names_resolve", BLOCKED, Blocking.DNS_FAILURE,
          "every lookup of {host} failed ({failures}) while the control sites resolved;"
          " {control_view}",
          lambda e: _failed_lookups(e) and bool(e.control_addresses)
          and e.sites_resolve is True),
    _rule("dns.failure_unverified", UNSURE, None,
          "every lookup of {host} failed ({failures}); {control_view}, but no control site"
          " shows that the resolver answers other names",
          _failed_lookups),
    _rule("dns.mismatch_service_answered", OK, None,
          "{resolver} answered {invalid_answers}, unlike the control ({control_addresses}),"
          " but the service accepted the connection there",
          lambda e: bool(e.invalid_answers) and e.is_tcp_service and e.invalid_connected),
    _rule("dns.answer_unverifiable", UNSURE, None,
          "{resolver} answered addresses unlike the control's ({control_addresses}), but the TLS"
          " handshake there failed the same way from the control ({unverifiable_answers}): a"
          " handshake that fails alike on both sides proves nothing about the answer (an"
          " anycast relay or a CDN that refuses unknown clients can do this)",
          lambda e: bool(e.unverifiable_answers and e.control_addresses)),
    _rule("dns.inconsistent_answer", BLOCKED, Blocking.DNS_HIJACK,
          "{resolver} answered {invalid_answers}: not among the control's answers"
          " ({control_addresses}), not in the same AS, and no valid certificate for {host}"
          " was seen there",
          lambda e: bool(e.invalid_answers and e.control_addresses)),
    _rule("dns.validated_by_certificate", OK, None,
          "{resolver} answered {validated_answers}, unlike the control ({control_addresses}),"
          " but {validation}: a CDN, geo-DNS or transparent proxy, not tampering",
          lambda e: bool(e.validated_answers)),
    _rule("dns.consistent", OK, None,
          "the answers for {host} agree with the control ({control_addresses})",
          lambda e: bool(e.control_addresses)),
    _rule("dns.no_control", OK, None,
          "{host} resolved to {answers}; no control resolver answered to compare",
          lambda e: True),
)

TCP_RULES: tuple[Rule[TcpEvidence], ...] = (
    _rule("tcp.connected", OK, None,
          "connected to {connected}",
          lambda e: not e.failed),
    _rule("tcp.only_ipv6_unreachable", UNSURE, None,
          "every address that failed is IPv6 without a route from this host ({ignored}): the"
          " probe has no IPv6, which says nothing about the target",
          lambda e: e.only_ignored),
    _rule("tcp.control_failed_too", DOWN, None,
          "connects failed ({failures}) and the control could not connect either"
          " ({control_failed})",
          lambda e: bool(e.control_failed) and not e.control_reached),
    _rule("tcp.no_control", UNSURE, None,
          "connects failed ({failures}); no control shows whether {endpoint} is up",
          lambda e: not e.control_reached),
    _rule("tcp.connect_timeout", BLOCKED, Blocking.TCP_TIMEOUT,
          "connects timed out ({failures}) while the control reached {control_reached}",
          _tcp_kind(FailureKind.TIMEOUT)),
    _rule("tcp.connect_refused", BLOCKED, Blocking.TCP_REFUSED,
          "connects were refused ({failures}) while the control reached {control_reached}",
          _tcp_kind(FailureKind.REFUSED)),
    _rule("tcp.connect_reset", BLOCKED, Blocking.TCP_RESET,
          "connects were reset ({failures}) while the control reached {control_reached}",
          _tcp_kind(FailureKind.RESET)),
    _rule("tcp.host_unreachable", BLOCKED, Blocking.TCP_REFUSED,
          "an ICMP unreachable answered the connects ({failures}), an active refusal on the"
          " path, while the control reached {control_reached}",
          _tcp_kind(FailureKind.UNREACHABLE)),
    _rule("tcp.other_failure", UNSURE, None,
          "connects failed ({failures}) in a way that names no blocking method; the control"
          " reached {control_reached}",
          lambda e: True),
)

TLS_RULES: tuple[Rule[TlsEvidence], ...] = (
    _rule("tls.not_reached", UNSURE, None,
          "no TLS handshake with {host} was recorded",
          lambda e: not e.reached),
    _rule("tls.known_interception_issuer", BLOCKED, Blocking.TLS_MITM,
          "the certificate chain for {host} comes from a known interception authority:"
          " {interception}",
          lambda e: bool(e.interception), self_evident=True),
    _rule("tls.control_failed_too", DOWN, None,
          "handshakes failed ({failures}) and the control's failed too ({control_failed}):"
          " the site's own TLS is broken",
          lambda e: e.failed and bool(e.control_failed) and not e.control_ok),
    _rule("tls.certificate_fails_control_fetch_failed", DOWN, None,
          "the certificate for {host} did not verify ({failures}) and the control, which"
          " connected to the same address, could not fetch the page either"
          " ({control_fetch_failure}): the site's own certificate is broken",
          lambda e: e.failed and e.kind == FailureKind.UNTRUSTED
          and bool(e.control_fetch_failure) and not e.control_ok),
    _rule("tls.no_control", UNSURE, None,
          "handshakes failed ({failures}); no control shows whether {host} serves TLS",
          lambda e: e.failed and not e.control_ok),
    _rule("tls.untrusted_chain_control_ok", BLOCKED, Blocking.TLS_MITM,
          "the chain for {host} did not verify ({failures}) while the control's handshake"
          " succeeded ({control_ok})",
          _tls_kind(FailureKind.UNTRUSTED)),
    _rule("tls.reset_then_address_refused", BLOCKED, Blocking.TLS_RESET,
          "the first handshake with SNI {host} was cut ({failures}), then later attempts could"
          " not even connect to it ({residual}) while the control's handshake succeeded"
          " ({control_ok}): residual blocking, which a censor keeps up for a while after a"
          " trigger (METHODS §11 #32)",
          lambda e: e.failed and e.kind in (FailureKind.RESET, FailureKind.EOF)
          and bool(e.residual) and bool(e.control_ok)),
    _rule("tls.handshake_reset", BLOCKED, Blocking.TLS_RESET,
          "handshakes with SNI {host} were cut ({failures}) while the control's succeeded"
          " ({control_ok})",
          _tls_kind(FailureKind.RESET, FailureKind.EOF)),
    _rule("tls.handshake_timeout", BLOCKED, Blocking.TLS_TIMEOUT,
          "handshakes with SNI {host} timed out after connecting ({failures}) while the"
          " control's succeeded ({control_ok})",
          _tls_kind(FailureKind.TIMEOUT)),
    _rule("tls.other_failure", UNSURE, None,
          "handshakes failed ({failures}) in a way that names no blocking method; the"
          " control's succeeded ({control_ok})",
          lambda e: e.failed),
    _rule("tls.certificate_differs_from_control", BLOCKED, Blocking.TLS_MITM,
          "the chain verified locally but is not the one the control saw:"
          " {certificate_mismatch} (a locally trusted interception root)",
          lambda e: bool(e.certificate_mismatch)),
    _rule("tls.verified", OK, None,
          "the chain for {host} verified ({verified})",
          lambda e: True),
)

HOP_RULES: tuple[Rule[HopEvidence], ...] = (
    _rule("http.control_failed_too", DOWN, None,
          "fetching {url} ({hop}) failed ({failure}) and the control could not fetch the page"
          " either ({control_failure})",
          lambda e: e.has_control and not e.control_ok),
    _rule("http.no_control", UNSURE, None,
          "fetching {url} ({hop}) failed ({failure}); no control fetched the page to compare"
          " ({control_failure})",
          lambda e: not e.control_ok),
    _rule("dns.redirect_nxdomain", BLOCKED, Blocking.DNS_NXDOMAIN,
          "the redirect target of {url} got NXDOMAIN or no address ({failure}) while the"
          " control followed the redirect to the page",
          lambda e: e.is_dns and e.kind == FailureKind.NXDOMAIN),
    _rule("dns.redirect_failure", BLOCKED, Blocking.DNS_FAILURE,
          "the lookup of the redirect target of {url} failed ({failure}) while the same"
          " resolver answered for the URL and the control reached the page",
          lambda e: e.is_dns),
    _rule("http.connect_refused", BLOCKED, Blocking.TCP_REFUSED,
          "the connection for {url} ({hop}) was refused ({failure}) while the control fetched"
          " the page",
          _hop_kind(FailureKind.REFUSED, FailureKind.UNREACHABLE)),
    _rule("http.hop_certificate_untrusted", BLOCKED, Blocking.TLS_MITM,
          "the certificate for {url} ({hop}) did not verify ({failure}) while the control"
          " fetched the page over TLS",
          _hop_kind(FailureKind.UNTRUSTED)),
    _rule("http.hop_connect_timeout", BLOCKED, Blocking.TCP_TIMEOUT,
          "the connection for {url} ({hop}) timed out while connecting ({failure}) while the"
          " control fetched the page",
          _hop_kind(FailureKind.TIMEOUT, stage=HopStage.CONNECT)),
    _rule("http.hop_connect_reset", BLOCKED, Blocking.TCP_RESET,
          "the connection for {url} ({hop}) was reset while connecting ({failure}) while the"
          " control fetched the page",
          _hop_kind(FailureKind.RESET, FailureKind.EOF, stage=HopStage.CONNECT)),
    _rule("http.hop_tls_reset", BLOCKED, Blocking.TLS_RESET,
          "the TLS connection for {url} ({hop}) was cut ({failure}) while the control fetched"
          " the page",
          _hop_kind(FailureKind.RESET, FailureKind.EOF, stage=HopStage.TLS)),
    _rule("http.hop_tls_timeout", BLOCKED, Blocking.TLS_TIMEOUT,
          "the TLS connection for {url} ({hop}) timed out while the control fetched the page",
          _hop_kind(FailureKind.TIMEOUT, stage=HopStage.TLS)),
    _rule("http.connection_reset", BLOCKED, Blocking.HTTP_RESET,
          "the request for {url} ({hop}) was cut after it was sent ({failure}) while the"
          " control fetched the page",
          _hop_kind(FailureKind.RESET, FailureKind.EOF, stage=HopStage.HTTP)),
    _rule(BODY_TIMEOUT, UNSURE, None,
          "the response for {url} ({hop}) began (HTTP {code}) but its body was still arriving"
          " at the timeout ({body_bytes} bytes in): a slow transfer, a sign of throttling rather"
          " than of a block (the throughput test tells throttling from a slow network)",
          lambda e: e.response_code is not None
          and _hop_kind(FailureKind.TIMEOUT, stage=HopStage.HTTP)(e)),
    _rule("http.response_timeout", BLOCKED, Blocking.HTTP_TIMEOUT,
          "no response for {url} ({hop}) before the timeout while the control fetched the"
          " page",
          _hop_kind(FailureKind.TIMEOUT, stage=HopStage.HTTP)),
    _rule("http.other_failure", UNSURE, None,
          "fetching {url} ({hop}) failed ({failure}) in a way that names no blocking method",
          lambda e: True),
)

PAGE_RULES: tuple[Rule[PageEvidence], ...] = (
    _rule("http.blockpage_fingerprint", BLOCKED, Blocking.HTTP_BLOCKPAGE,
          "the response matches block-page fingerprint {strong_matches}",
          lambda e: bool(e.strong_matches), self_evident=True),
    _rule("http.https_blockpage_server_side", UNSURE, None,
          "over verified TLS the page matches block-page fingerprint {server_side_matches}: only"
          " the server or its CDN can have sent it (a geo-block), not the network",
          lambda e: bool(e.server_side_matches)),
    _rule("http.both_server_error", DOWN, None,
          "the server answered {status} here and {control_status} to the control",
          lambda e: e.status >= 500 and e.control_status >= 500),
    _rule("http.redirects_everywhere", DOWN, None,
          "the redirect chain from {url} never reached a page, and the control's failed too"
          " ({control_failure})",
          lambda e: e.chain_unfinished and e.control_answered and not e.has_control),
    _rule("http.weak_blockpage_and_diff", BLOCKED, Blocking.HTTP_BLOCKPAGE,
          "the page differs from the control's ({differences}) and matches the vague"
          " block-page fingerprint {weak_matches}",
          lambda e: not e.is_https and bool(e.weak_matches) and e.has_control and e.differs),
    _rule("http.https_server_refusal", UNSURE, None,
          "the server itself answered {status} over verified TLS{benign_note} while the"
          " control got {control_status}: a server-side refusal (CAPTCHA, rate limit,"
          " geo-block), not network interference",
          lambda e: e.is_https and not e.is_success_status
          and (bool(e.benign_matches) or (e.has_control and e.status != e.control_status))),
    _rule("http.https_accepted", OK, None,
          "{url} answered {status} over a verified TLS connection",
          lambda e: e.is_https),
    _rule("http.suspect_page_no_control", UNSURE, None,
          "{url} answered {status} over cleartext HTTP with signs that it is not the target's"
          " page ({not_target_signs}), but no control fetched the page to compare"
          " ({control_failure})",
          lambda e: not e.has_control
          and bool(e.identity.phrases or e.identity.suspect_redirects)),
    _rule("http.no_control_cleartext", UNSURE, None,
          "{url} answered {status} over cleartext HTTP, which anyone on the path can forge,"
          " and no control fetched the page to compare ({control_failure})",
          lambda e: not e.has_control),
    _rule("http.server_refusal", UNSURE, None,
          "the page differs from the control's ({differences}) but looks like the server's"
          " own refusal{benign_note}",
          lambda e: e.differs and (bool(e.benign_matches) or e.status == 429)),
    _rule("http.control_status_not_comparable", UNSURE, None,
          "the control got status {control_status} and the probe {status}: the pages cannot"
          " be compared",
          lambda e: e.differs and e.status_match is None),
    _rule("http.same_content", OK, None,
          "{url} answered {status} with the control's page: {identity}",
          lambda e: e.same_content),
    _rule("http.own_server_refusal", UNSURE, None,
          "the page is not the control's ({differences}) but came from the site's own server:"
          " {own_server}; the site refused this client, not the network",
          lambda e: bool(e.identity.own_server)
          and (e.status != e.control_status or not e.same_signs)),
    _rule("http.block_phrases", BLOCKED, Blocking.HTTP_BLOCKPAGE,
          "the page is not the control's ({differences}) and carries block-page phrases:"
          " {phrases}",
          lambda e: bool(e.identity.phrases)),
    _rule("http.redirect_not_in_control", BLOCKED, Blocking.HTTP_DIFF,
          "the probe was redirected to {foreign_redirects}, where the control's fetch never went"
          " (it ended at {control_final}): not the target's page ({differences})",
          lambda e: bool(e.identity.decisive_redirects)
          or (bool(e.identity.foreign_redirects) and not e.same_signs)),
    _rule("http.form_not_in_control", BLOCKED, Blocking.HTTP_DIFF,
          "the page asks for {new_forms}, which the control's page does not: a portal's or"
          " someone else's page, not the target's ({differences})",
          lambda e: bool(e.identity.new_forms)),
    _rule("http.same_page_signs", OK, None,
          "{url} answered {status} with the control's page: {identity}",
          lambda e: e.same_signs),
    _rule("http.page_not_identified", BLOCKED, Blocking.HTTP_DIFF,
          "nothing shows the page is the target's ({differences}{redirect_note})",
          lambda e: True),
)

NETWORK_RULES: tuple[Rule[NetworkEvidence], ...] = (
    _rule("network.no_observations", UNSURE, None,
          "nothing was measured for this endpoint",
          lambda e: not e.has_observations),
    _rule("network.captive_portal_suspected", UNSURE, None,
          "every control site failed on its certificate: a captive portal or a network that"
          " is not ready (pause and re-run)",
          lambda e: _net_failed(e) and e.all_sites_failed and e.all_failed_on_certificates),
    _rule("network.resolver_down", OUTAGE, None,
          "the probe's resolver failed for the {sites} control sites too: the local DNS is"
          " down",
          lambda e: _net_failed(e) and e.all_sites_failed and e.all_failed_at_dns),
    _rule("network.control_sites_failed", OUTAGE, None,
          "the {sites} control-site checks abroad failed too: the failure is not particular to"
          " this target (the run's network state tells an outage from a whitelist)",
          lambda e: _net_failed(e) and e.all_sites_failed),
    _rule("network.sandwich_changed", UNSURE, None,
          "the control sites {sandwich}: the network changed during the measurement",
          lambda e: _net_failed(e) and bool(e.sandwich)),
    _rule("network.no_complete_attempt", UNSURE, None,
          "none of the {attempts} attempts ran to a result",
          lambda e: _net_failed(e) and e.complete == 0),
    _rule("network.mixed_failures", UNSURE, None,
          "the attempts failed at different steps ({failed_layers}): an unstable path, not a"
          " consistent block",
          lambda e: _net_failed(e) and len(set(e.failed_layers)) > 1),
    _rule("network.healthy", OK, None,
          "nothing on the probe's own network explains a failure",
          lambda e: True),
)

# The network's state during a run (decide/network.py): the verdict is what the state means for
# a target that failed with the network (decide/target.py applies it).
NETWORK_STATE_RULES: tuple[Rule[NetworkStateEvidence], ...] = (
    _rule("state.no_controls", UNSURE, None,
          "no control site was measured: the network's state is unknown",
          lambda e: e.foreign == 0 and e.domestic == 0),
    _rule("state.intercepted", UNSURE, None,
          "every control site abroad failed on its certificate ({certificate_failures}): a"
          " captive portal or TLS interception answers in the sites' place, so no cleartext"
          " page can be trusted (log in or pause, then re-run)",
          lambda e: e.foreign_cut and bool(e.certificate_failures) and not e.failed_elsewhere),
    _rule("state.foreign_reachable", OK, None,
          "{foreign_loaded} loaded: the network reaches abroad",
          lambda e: bool(e.foreign_loaded)),
    _rule("state.whitelisted_domestic_loads", BLOCKED, Blocking.WHITELISTING,
          "every control site abroad failed ({foreign_failed}) while domestic sites loaded"
          " ({domestic_loaded}): the network admits only allow-listed destinations"
          " (whitelisting), a deliberate cut, not a technical failure",
          lambda e: e.foreign_cut and bool(e.domestic_loaded)),
    _rule("state.whitelisted_targets_load", BLOCKED, Blocking.WHITELISTING,
          "every control site abroad failed ({foreign_failed}) while {loaded_targets} loaded in"
          " the same run: the network admits only some destinations (whitelisting), a"
          " deliberate cut, not a technical failure",
          lambda e: e.foreign_cut and bool(e.loaded_targets)),
    _rule("state.resolver_down", OUTAGE, None,
          "the probe's resolver failed for every control site, abroad ({foreign_failed}) and"
          " domestic ({domestic_failed}): the local DNS is down",
          lambda e: e.foreign_cut and e.all_failed_at_dns),
    _rule("state.outage", OUTAGE, None,
          "every control site failed, abroad ({foreign_failed}) and domestic ({domestic_failed}),"
          " and nothing else loaded: an outage",
          lambda e: e.foreign_cut and e.domestic > 0),
    _rule("state.outage_unverified", OUTAGE, None,
          "every control site abroad failed ({foreign_failed}) and nothing else loaded; no"
          " domestic site was measured to tell a whitelist from an outage ([control] country or"
          " domestic_sites)",
          lambda e: e.foreign_cut),
    _rule("state.domestic_only_measured", OK, None,
          "no foreign control site was measured; domestic: {domestic_loaded} loaded",
          lambda e: True),
)

TARGET_RULES: tuple[Rule[TargetEvidence], ...] = (
    _rule("target.no_endpoints", UNSURE, None,
          "no endpoint was measured",
          lambda e: e.total == 0),
    _rule("target.intercepted_network", UNSURE, None,
          "the network intercepts: {network_reason}; nothing here can be called accessible or"
          " blocked but what a verified TLS chain or a known interception authority shows",
          lambda e: e.network_state == NetworkState.INTERCEPTED and not e.known_interception
          and not (e.verified_https > 0 and e.accessible == e.total)),
    _rule("target.whitelisted_network", BLOCKED, Blocking.WHITELISTING,
          "{outage} of {total} endpoints failed as the control sites abroad did, and the"
          " network is whitelisted: {network_reason}",
          lambda e: e.network_state == NetworkState.WHITELISTED and e.outage > 0 and not e.blocked
          and not e.throttled and e.accessible == 0),
    _rule("target.endpoint_blocked", BLOCKED, None,
          "{blocked_count} of {total} endpoints blocked ({methods}): {blocked}",
          lambda e: bool(e.blocked)),
    _rule("target.endpoint_throttled", THROTTLED, None,
          "{throttled} throttled",
          lambda e: bool(e.throttled)),
    _rule("target.all_network_outage", OUTAGE, None,
          "all {total} endpoints failed with the network",
          lambda e: e.outage == e.total),
    _rule("target.all_service_down", DOWN, None,
          "all {total} endpoints are down from the control vantage point too",
          lambda e: e.down == e.total),
    _rule("target.all_accessible", OK, None,
          "all {total} endpoints accessible",
          lambda e: e.accessible == e.total),
    _rule("target.accessible_rest_down", OK, None,
          "{accessible} of {total} endpoints accessible; {down} down for everyone",
          lambda e: e.accessible > 0 and e.accessible + e.down == e.total),
    _rule("target.accessible_cleartext_unverifiable", OK, None,
          "{accessible} of {total} endpoints accessible; {unverifiable_twins} could not be"
          " compared with a control, but the same host loaded over verified HTTPS",
          lambda e: e.accessible > 0 and bool(e.unverifiable_twins)
          and e.accessible + e.down + len(e.unverifiable_twins) == e.total),
    _rule("target.mixed", UNSURE, None,
          "{accessible} of {total} accessible, {inconclusive_count} inconclusive"
          " ({inconclusive}), {down} down, {outage} with network failures",
          lambda e: True),
)
# fmt: on


def _throttled(e: ThroughputEvidence) -> bool:
    """Slow against the references in every judged repeat, enough of them, mostly flat."""
    return e.judged >= e.needed and e.slow == e.judged and 2 * e.flat >= e.slow


_THROTTLING = Blocking.THROTTLING
_CEILING = 0.1  # decide/throughput.py THROTTLE_RATIO, for the technique split

# fmt: off
THROUGHPUT_RULES: tuple[Rule[ThroughputEvidence], ...] = (
    _rule("throughput.not_run", OK, None,
          "throughput not measured: {skipped}",
          lambda e: e.skipped is not None),
    _rule("throughput.too_short", OK, None,
          "throughput not judged: no download of {object} lasted long enough to measure",
          lambda e: e.measured_targets == 0),
    _rule("throughput.no_reference", OK, None,
          "throughput not judged: {object} ran at {target_rate}, but no reference (the same"
          " address with another SNI, or a control site) could be measured",
          lambda e: e.judged == 0),
    _rule("throughput.throttled_sni", THROTTLED, _THROTTLING,
          "{object} ran at a flat {plateau} (variation {variation}) in {slow} of {judged} repeats:"
          " {same_ratio}× the same address with the SNI {innocuous} ({same_rate}), control"
          " sites {control_rate}: throttling keyed on the server name (SNI); TLS handshakes"
          " {handshake} against {same_handshake}",
          lambda e: _throttled(e) and e.same_ratio is not None and e.same_ratio <= _CEILING),
    _rule("throughput.throttled_address", THROTTLED, _THROTTLING,
          "{object} ran at a flat {plateau} (variation {variation}) in {slow} of {judged} repeats,"
          " {ratio}× the control sites ({control_rate}); the same address with the SNI"
          " {innocuous} was as slow ({same_rate}): throttling of the platform's address, not"
          " keyed on the name",
          lambda e: _throttled(e) and e.same_vs_control is not None
          and e.same_vs_control <= _CEILING),
    _rule("throughput.throttled", THROTTLED, _THROTTLING,
          "{object} ran at a flat {plateau} (variation {variation}) in {slow} of {judged} repeats,"
          " {ratio}× the references ({reference_rate}; the same address with the SNI"
          " {innocuous}: {same_rate}): throttled",
          _throttled),
    _rule("throughput.slow_unshaped", OK, None,
          "{object} ran at {target_rate}, {ratio}× the references ({reference_rate}) in"
          " {slow} of {judged} repeats, but without a policer's flat plateau (variation"
          " {variation}): not called throttling (congestion or the server's pacing can do this)",
          lambda e: e.judged >= e.needed and e.slow == e.judged),
    _rule("throughput.slow_sometimes", OK, None,
          "{object} ran at most 0.1× the references in {slow} of {judged} repeats ({needed}"
          " needed, all of them): not called throttling",
          lambda e: e.slow > 0),
    _rule("throughput.network_slow", OK, None,
          "the network is slow: {object} ran at {target_rate} and the references at"
          " {reference_rate} (×{ratio}), below {slow_network}; everything slow at once is"
          " the network, not throttling",
          lambda e: e.reference_bps is not None and e.reference_bps < e.slow_network_bps),
    _rule("throughput.normal", OK, None,
          "{object} ran at {target_rate}, ×{ratio} the references ({reference_rate}): no"
          " throttling",
          lambda e: True),
)
# fmt: on

_INJECTION = Blocking.DNS_INJECTION

# Packet evidence: each table judges one kind of probe; a target gets one finding per table.
# fmt: off
DNS_PACKET_RULES: tuple[Rule[DnsPacketEvidence], ...] = (
    _rule("packets.not_run", OK, None,
          "packet evidence not collected: {skipped}",
          lambda e: e.skipped is not None),
    _rule("packets.dns_silent_host_answered", BLOCKED, _INJECTION,
          "{silent_host} runs no DNS server, yet {silent_count} for {hostname} came"
          " \"from\" it: {silent_answer} ({silent_packet}): forged on the path (on-path DNS"
          " injection)",
          lambda e: bool(e.silent_replies), self_evident=True),
    _rule("packets.dns_two_answers", BLOCKED, _INJECTION,
          "{resolver} sent {replies} replies to one query for {hostname}, and they differ: first"
          " {first_answer} after {first_delay} ({first_packet}), then {last_answer} after"
          " {last_delay} ({last_packet}): an on-path injector answered first",
          lambda e: e.different_answers, self_evident=True),
    _rule("packets.dns_reply_too_fast", BLOCKED, _INJECTION,
          "the reply for {hostname} ({first_answer}, {first_packet}) came after {first_delay},"
          " faster than {resolver} answers a cached name ({control_rtt}): forged on the path",
          lambda e: e.too_fast, self_evident=True),
    _rule("packets.dns_resolver_answered", OK, None,
          "packets: {resolver} sent one reply for {hostname} ({first_answer}, {first_packet})"
          " and {silent_host} (no DNS server) stayed silent: no on-path injector seen; the"
          " resolver itself gave this answer",
          lambda e: bool(e.replies)),
    _rule("packets.dns_no_reply", OK, None,
          "packets: no reply for {hostname} from {resolver} within the capture",
          lambda e: True),
)

TCP_PACKET_RULES: tuple[Rule[TcpPacketEvidence], ...] = (
    _rule("packets.reset_injected", BLOCKED, None,
          "the RST after the {sent} to {endpoint} had {reaction_packet}, where"
          " the server's SYN-ACK had {syn_ack}: sent {distance}, by a device on the path, not"
          " the server",
          lambda e: e.reaction == Reaction.RESET and e.mismatch, self_evident=True),
    _rule("packets.response_injected", BLOCKED, None,
          "the response to the {sent} from {endpoint} had {reaction_packet},"
          " where the server's SYN-ACK had {syn_ack}: sent {distance}, injected by a device on"
          " the path",
          lambda e: e.reaction in (Reaction.DATA, Reaction.FIN) and e.mismatch, self_evident=True),
    _rule("packets.reaction_like_server", OK, None,
          "packets: the {reaction} after the {sent} to {endpoint} came with the"
          " SYN-ACK's TTL ({reaction_packet}): from the server's distance (the server itself, or"
          " a device at the same hop)",
          lambda e: e.syn_ack is not None and e.reaction_packet is not None),
    _rule("packets.reset_to_syn", OK, None,
          "packets: the SYN to {endpoint} was answered by a RST ({reaction_packet})",
          lambda e: e.syn_ack is None and e.reaction == Reaction.RESET),
    _rule("packets.no_reaction", OK, None,
          "packets: nothing but the SYN-ACK ({syn_ack}) came back from {endpoint} after the"
          " {sent}",
          lambda e: True),
)

TRACE_RULES: tuple[Rule[TraceEvidence], ...] = (
    _rule("packets.censor_on_path", BLOCKED, None,
          "trace: with IP TTL {reaction_ttl} the {sent} expired at hop"
          " {reaction_ttl} ({router}), yet {reaction} came back: an on-path device at hop"
          " {reaction_ttl} ({router}) watches the traffic and injects the answer",
          lambda e: e.reaction_ttl is not None and e.icmp_at_reaction is not None),
    _rule("packets.censor_in_path", BLOCKED, None,
          "trace: the {sent} toward {address} first provoked {reaction} at IP"
          " TTL {reaction_ttl} (sent from hop {reaction_hop}), {short_because}: the censor"
          " sits at hop {censor_hop} ({hop_before}) or just past it, before the server",
          lambda e: e.before_destination),
    _rule("packets.dropped_after_hop", BLOCKED, None,
          "trace: the {sent} toward {address} got no reaction and no ICMP"
          " past hop {last_icmp_ttl} ({last_icmp_from}), while {control_name} went on to the"
          " destination (TTL {destination_ttl}): a censor just past hop {last_icmp_ttl} drops it",
          lambda e: e.died_early),
    _rule("packets.reaction_at_destination", OK, None,
          "trace: {reaction} to the {sent} came at IP TTL {reaction_ttl},"
          " from the destination's distance: the server itself, or a device beside it",
          lambda e: e.reaction_ttl is not None),
    _rule("packets.trace_unfinished", OK, None,
          "trace: the {sent} toward {address} found no reaction up to IP TTL"
          " {last_icmp_ttl} ({stopped})",
          lambda e: True),
)
# fmt: on

ALL_RULES: tuple[Rule[Any], ...] = (
    *DNS_RULES,
    *TCP_RULES,
    *TLS_RULES,
    *HOP_RULES,
    *PAGE_RULES,
    *NETWORK_RULES,
    *NETWORK_STATE_RULES,
    *TARGET_RULES,
    *THROUGHPUT_RULES,
    *DNS_PACKET_RULES,
    *TCP_PACKET_RULES,
    *TRACE_RULES,
)
RULES_BY_ID: dict[str, Rule[Any]] = {rule.id: rule for rule in ALL_RULES}
