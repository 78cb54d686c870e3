"""What each layer's rules look at: small frozen summaries built from the observations.

Each evidence class carries the facts its rules test and `facts()`, the strings its reason
templates cite. Layer modules (dns.py, tcp.py, tls.py, http.py, verdict.py) build them; rules.py
judges them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from probe.decide.identity import PageIdentity
from probe.models.failures import FailedOperation, Failure, FailureKind, HopStage, OoniFailure

_LIST_LIMIT = 4


def cite(items: Iterable[str], empty: str = "none") -> str:
    """Return a short comma-separated list ("a, b, c, d and 3 more")."""
    unique = list(dict.fromkeys(i for i in items if i))
    if not unique:
        return empty
    shown = ", ".join(unique[:_LIST_LIMIT])
    rest = len(unique) - _LIST_LIMIT
    return f"{shown} and {rest} more" if rest > 0 else shown


class _Facts(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def fill(reason: str, facts: Mapping[str, str]) -> str:
    """Return the reason template with the evidence's facts filled in ("?" for a missing one)."""
    return reason.format_map(_Facts(facts))


def failure_kind(failure: str | None) -> FailureKind:
    """Return the class of a failure string: timeout, refused, reset, eof, unreachable,
    untrusted (certificate), nxdomain, dns or other."""
    text = failure or ""
    if "timeout" in text or text == Failure.TIMED_OUT:
        return FailureKind.TIMEOUT
    if text.startswith(Failure.CONNECTION_REFUSED):
        return FailureKind.REFUSED
    if text in (Failure.CONNECTION_RESET, Failure.CONNECTION_ABORTED, Failure.NETWORK_RESET):
        return FailureKind.RESET
    if text in (Failure.EOF_ERROR, Failure.CONNECTION_ALREADY_CLOSED):
        return FailureKind.EOF
    if text in (Failure.HOST_UNREACHABLE, Failure.NETWORK_UNREACHABLE, Failure.NETWORK_DOWN):
        return FailureKind.UNREACHABLE
    if text in (
        Failure.SSL_UNKNOWN_AUTHORITY,
        Failure.SSL_INVALID_HOSTNAME,
        Failure.SSL_INVALID_CERTIFICATE,
    ):
        return FailureKind.UNTRUSTED
    if text in (
        Failure.DNS_NXDOMAIN_ERROR,
        OoniFailure.ANDROID_DNS_CACHE_NO_DATA,
        Failure.DNS_NO_ANSWER,
    ):
        return FailureKind.NXDOMAIN
    if text.startswith("dns_"):
        return FailureKind.DNS
    return FailureKind.OTHER


@dataclass(frozen=True)
class DnsEvidence:
    """Depth-0 DNS: the probe's lookups per resolver, against the control resolvers' view."""

    host: str = ""
    is_tcp_service: bool = False
    has_lookups: bool = False
    resolved: bool = False
    answers: tuple[str, ...] = ()
    has_control: bool = False
    control_addresses: tuple[str, ...] = ()
    control_nxdomain: bool = False
    control_failure: str | None = None
    control_tls_valid: bool = False
    resolver: str = ""
    late_replies: tuple[str, ...] = ()
    late_reply_inconsistent: bool = False
    blockpage_answers: tuple[str, ...] = ()
    bogons: tuple[str, ...] = ()
    bogons_in_control: tuple[str, ...] = ()
    nxdomain_resolvers: tuple[str, ...] = ()
    empty_resolvers: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    sites_resolve: bool | None = None
    invalid_answers: tuple[str, ...] = ()
    # Invalid answers where the handshake failed from the probe and from the control alike.
    unverifiable_answers: tuple[str, ...] = ()
    invalid_connected: bool = False
    validated_answers: tuple[str, ...] = ()
    validation: str = ""

    def control_view(self) -> str:
        """Return what the control resolvers said, as a clause."""
        if self.control_addresses:
            valid = f" and its TLS certificate is valid for {self.host}"
            return f"the control resolved {cite(self.control_addresses)}" + (
                valid if self.control_tls_valid else ""
            )
        if self.control_nxdomain:
            return "the control resolver answered NXDOMAIN too"
        if self.has_control:
            return f"the control got no address either ({self.control_failure or 'no answer'})"
        return "no control resolver answered"

    def facts(self) -> dict[str, str]:
        """Return the strings the DNS reason templates cite."""
        return {
            "host": self.host,
            "resolver": self.resolver or "the resolver",
            "answers": cite(self.answers),
            "control_view": self.control_view(),
            "control_addresses": cite(self.control_addresses),
            "late_replies": "; ".join(self.late_replies) or "none",
            "blockpage_answers": cite(self.blockpage_answers),
            "bogons": cite(self.bogons or self.bogons_in_control),
            "nxdomain_resolvers": cite(self.nxdomain_resolvers),
            "empty_resolvers": cite(self.empty_resolvers),
            "failures": cite(self.failures, "no failure recorded"),
            "control_failure": self.control_failure or "no answer",
            "invalid_answers": cite(self.invalid_answers),
            "unverifiable_answers": "; ".join(self.unverifiable_answers) or "none",
            "validated_answers": cite(self.validated_answers),
            "validation": self.validation or "it was validated",
        }


@dataclass(frozen=True)
class TcpEvidence:
    """Connects to the endpoint's port: the probe's failures against the control's connects."""

    endpoint: str = ""
    failed: bool = False
    failures: tuple[str, ...] = ()
    kind: FailureKind = FailureKind.OTHER
    only_ignored: bool = False
    ignored: tuple[str, ...] = ()
    control_reached: tuple[str, ...] = ()
    control_failed: tuple[str, ...] = ()
    connected: tuple[str, ...] = ()

    def facts(self) -> dict[str, str]:
        """Return the strings the TCP reason templates cite."""
        return {
            "endpoint": self.endpoint,
            "failures": cite(self.failures),
            "ignored": cite(self.ignored),
            "control_reached": cite(self.control_reached, "nothing"),
            "control_failed": cite(self.control_failed),
            "connected": cite(self.connected),
        }


@dataclass(frozen=True)
class TlsEvidence:
    """Handshakes with SNI = host: failures, chains, and the control's handshakes."""

    host: str = ""
    reached: bool = False
    failed: bool = False
    failures: tuple[str, ...] = ()
    kind: FailureKind = FailureKind.OTHER
    interception: tuple[str, ...] = ()
    control_ok: tuple[str, ...] = ()
    control_failed: tuple[str, ...] = ()
    # The control connected to these addresses, kept no handshake, and its fetch failed so.
    control_fetch_failure: str = ""
    certificate_mismatch: tuple[str, ...] = ()
    verified: tuple[str, ...] = ()
    residual: tuple[str, ...] = ()  # later attempts refused at TCP after this one was cut

    def facts(self) -> dict[str, str]:
        """Return the strings the TLS reason templates cite."""
        return {
            "residual": cite(self.residual),
            "host": self.host,
            "failures": cite(self.failures),
            "interception": cite(self.interception),
            "control_ok": cite(self.control_ok, "nothing"),
            "control_failed": cite(self.control_failed),
            "control_fetch_failure": self.control_fetch_failure or "none",
            "certificate_mismatch": "; ".join(self.certificate_mismatch) or "none",
            "verified": cite(self.verified),
        }


@dataclass(frozen=True)
class HopEvidence:
    """The step of the fetch chain that failed (a request, or a redirect target's lookup)."""

    url: str = ""
    depth: int = 0
    failure: str = ""
    kind: FailureKind = FailureKind.OTHER
    is_dns: bool = False
    is_https: bool = False
    has_control: bool = False
    control_ok: bool = False
    control_failure: str = ""
    operation: str | None = None  # the transaction's x_failed_operation, when recorded
    response_code: int | None = None  # the response had begun: its status line came
    body_bytes: int = 0  # body bytes received before the failure

    @property
    def stage(self) -> HopStage:
        """Return where the request failed: connect, tls or http.

        From the recorded operation when there is one; records without it (older ones, OONI's)
        fall back on the scheme: an https hop after a redirect did its own handshake, so a cut
        there is read as TLS.
        """
        if self.operation == FailedOperation.CONNECT:
            return HopStage.CONNECT
        if self.operation == FailedOperation.TLS_HANDSHAKE:
            return HopStage.TLS
        if self.operation in (FailedOperation.WRITE, FailedOperation.READ):
            return HopStage.HTTP
        return HopStage.TLS if self.is_https and self.depth > 0 else HopStage.HTTP

    def facts(self) -> dict[str, str]:
        """Return the strings the fetch-chain reason templates cite."""
        hop = "the URL" if self.depth == 0 else f"redirect {self.depth}"
        return {
            "url": self.url,
            "hop": hop,
            "failure": self.failure,
            "control_failure": self.control_failure or "no page",
            "code": str(self.response_code),
            "body_bytes": str(self.body_bytes),
        }


@dataclass(frozen=True)
class PageEvidence:
    """The final response of a successful attempt against the control's fetch."""

    url: str = ""
    status: int = 0
    is_https: bool = False
    strong_matches: tuple[str, ...] = ()
    weak_matches: tuple[str, ...] = ()
    server_side_matches: tuple[str, ...] = ()
    benign_matches: tuple[str, ...] = ()
    chain_unfinished: bool = False
    control_answered: bool = False
    has_control: bool = False
    control_status: int = -1
    control_failure: str = ""
    status_match: bool | None = None
    differences: tuple[str, ...] = ()
    identity: PageIdentity = field(default_factory=PageIdentity)

    @property
    def is_success_status(self) -> bool:
        """Return whether the probe's final status is 2xx (a chain ending on 3xx got no page)."""
        return 200 <= self.status < 300

    @property
    def same_content(self) -> bool:
        """Return whether the page is the control's by its content: the same status and the
        same body or visible text."""
        return (
            self.has_control
            and self.status == self.control_status
            and (self.identity.same_body or self.identity.same_text)
        )

    @property
    def same_signs(self) -> bool:
        """Return whether the page shows the control's page's signs (title, resources, media
        type, an empty body) with the same status."""
        if not (self.has_control and self.status == self.control_status):
            return False
        page = self.identity
        return bool(
            page.title_agrees or page.same_resources or page.same_media_type or page.site_headers
        ) or (page.both_empty)

    @property
    def differs(self) -> bool:
        """Return whether nothing shows the page is the target's: no content evidence, and no
        other sign without a sign against it."""
        if self.same_content:
            return False
        return not self.same_signs or bool(self.identity.not_target_signs)

    def facts(self) -> dict[str, str]:
        """Return the strings the page reason templates cite."""
        page = self.identity
        redirects = page.foreign_redirects or page.unconfirmed_redirects
        return {
            "url": self.url,
            "status": str(self.status),
            "control_status": str(self.control_status),
            "control_failure": self.control_failure or "no page",
            "strong_matches": cite(self.strong_matches),
            "weak_matches": cite(self.weak_matches),
            "server_side_matches": cite(self.server_side_matches),
            # " (fingerprint, …)" when a benign fingerprint matched, else nothing at all.
            "benign_note": f" ({cite(self.benign_matches)})" if self.benign_matches else "",
            "differences": "; ".join(self.differences) or "none",
            "identity": page.shown() or "nothing",
            "phrases": cite(page.phrases),
            "foreign_redirects": cite(page.foreign_redirects),
            "control_final": page.control_final or "its own URL",
            "new_forms": cite(page.new_forms),
            "own_server": page.own_server or "none",
            "not_target_signs": cite(
                page.not_target_signs + tuple(f"a redirect to {r}" for r in page.suspect_redirects)
            ),
            "redirect_note": f"; redirected to {cite(redirects)}" if redirects else "",
        }


@dataclass(frozen=True)
class NetworkEvidence:
    """The probe's own network: attempts, and the control sites before and after (sandwich)."""

    has_observations: bool = False
    succeeded: bool = False
    attempts: int = 0
    complete: int = 0
    failed_layers: tuple[str, ...] = ()
    sites: int = 0
    sites_failed: int = 0
    all_sites_failed: bool = False
    all_failed_at_dns: bool = False
    all_failed_on_certificates: bool = False
    sandwich: str = ""

    def facts(self) -> dict[str, str]:
        """Return the strings the network reason templates cite."""
        return {
            "attempts": str(self.attempts),
            "complete": str(self.complete),
            "failed_layers": cite(self.failed_layers),
            "sites": str(self.sites),
            "sites_failed": str(self.sites_failed),
            "sandwich": self.sandwich or "unchanged",
        }


@dataclass(frozen=True)
class TargetEvidence:
    """A target's endpoint verdicts, counted."""

    total: int = 0
    blocked: tuple[str, ...] = ()
    blocked_methods: tuple[str, ...] = ()
    throttled: tuple[str, ...] = ()
    accessible: int = 0
    outage: int = 0
    down: int = 0
    inconclusive: tuple[str, ...] = ()
    # Inconclusive only because a cleartext page had no control, while the same host's https://
    # endpoint verified and loaded.
    unverifiable_twins: tuple[str, ...] = ()
    # The run's network state (decide/network.py) and what it means here.
    network_state: str = ""
    network_reason: str = ""
    verified_https: int = 0  # https:// endpoints accessible over a verified chain
    known_interception: bool = False  # a blocked endpoint's chain came from a known MITM issuer

    def facts(self) -> dict[str, str]:
        """Return the strings the target reason templates cite."""
        return {
            "unverifiable_twins": cite(self.unverifiable_twins),
            "network_reason": self.network_reason or "no account of the network",
            "total": str(self.total),
            "blocked_count": str(len(self.blocked)),
            "blocked": cite(self.blocked),
            "methods": cite(self.blocked_methods),
            "throttled": cite(self.throttled),
            "accessible": str(self.accessible),
            "outage": str(self.outage),
            "down": str(self.down),
            "inconclusive": cite(self.inconclusive),
            "inconclusive_count": str(len(self.inconclusive)),
        }


def rate_text(bits_per_second: float | None) -> str:
    """Return a rate for people: "143 kbit/s", "52.1 Mbit/s"."""
    if bits_per_second is None:
        return "not measured"
    if bits_per_second >= 1e9:
        return f"{bits_per_second / 1e9:.2f} Gbit/s"
    if bits_per_second >= 1e6:
        return f"{bits_per_second / 1e6:.1f} Mbit/s"
    return f"{bits_per_second / 1e3:.0f} kbit/s"


def _ratio_text(ratio: float | None) -> str:
    """Return a ratio with two significant digits, never in exponent form ("0.000047")."""
    if ratio is None:
        return "not measured"
    if ratio >= 0.1:
        return f"{ratio:.2f}"
    digits = max(3, 1 - math.floor(math.log10(ratio))) if ratio > 0 else 3
    return f"{ratio:.{digits}f}"


def _seconds_text(seconds: float | None) -> str:
    return "not measured" if seconds is None else f"{seconds * 1000:.0f} ms"


@dataclass(frozen=True)
class ThroughputEvidence:
    """One object's downloads against its references, summarised per repeat (medians)."""

    object: str = ""
    skipped: str | None = None
    measured_targets: int = 0  # target downloads long enough to judge
    judged: int = 0  # repeats with a measured target and at least one measured reference
    slow: int = 0  # judged repeats where the target ran at most THROTTLE_RATIO × the references
    flat: int = 0  # slow repeats whose target download showed a flat plateau
    needed: int = 2  # judged repeats a verdict needs
    target_bps: float | None = None
    reference_bps: float | None = None  # per repeat, the faster reference
    same_address_bps: float | None = None
    control_bps: float | None = None
    ratio: float | None = None  # target / the faster reference
    same_ratio: float | None = None  # target / same address with the innocuous SNI
    same_vs_control: float | None = None  # same address / control sites
    plateau_bps: float | None = None
    plateau_variation: float | None = None
    target_handshake_s: float | None = None
    same_handshake_s: float | None = None
    innocuous_sni: str = ""
    slow_network_bps: float = 0.0

    def facts(self) -> dict[str, str]:
        """Return the strings the throughput reason templates cite."""
        spread = self.plateau_variation
        variation = "not measured" if spread is None else f"{spread:.2f}"
        return {
            "object": self.object,
            "skipped": self.skipped or "",
            "judged": str(self.judged),
            "slow": str(self.slow),
            "needed": str(self.needed),
            "target_rate": rate_text(self.target_bps),
            "reference_rate": rate_text(self.reference_bps),
            "same_rate": rate_text(self.same_address_bps),
            "control_rate": rate_text(self.control_bps),
            "ratio": _ratio_text(self.ratio),
            "same_ratio": _ratio_text(self.same_ratio),
            "plateau": rate_text(self.plateau_bps),
            "variation": variation,
            "handshake": _seconds_text(self.target_handshake_s),
            "same_handshake": _seconds_text(self.same_handshake_s),
            "innocuous": self.innocuous_sni or "none",
            "slow_network": rate_text(self.slow_network_bps),
        }


@dataclass(frozen=True)
class NetworkStateEvidence:
    """The run's control sites, foreign and domestic, and the targets that loaded in it."""

    foreign: int = 0
    foreign_loaded: tuple[str, ...] = ()
    foreign_failed: tuple[str, ...] = ()
    domestic: int = 0
    domestic_loaded: tuple[str, ...] = ()
    domestic_failed: tuple[str, ...] = ()
    certificate_failures: tuple[str, ...] = ()  # failed sites, each with its failure
    failed_elsewhere: tuple[str, ...] = ()  # failed sites that failed otherwise
    all_failed_at_dns: bool = False
    loaded_targets: tuple[str, ...] = ()

    @property
    def foreign_cut(self) -> bool:
        """Return whether every foreign control site was measured and none loaded."""
        return self.foreign > 0 and not self.foreign_loaded

    def facts(self) -> dict[str, str]:
        """Return the strings the network-state reason templates cite."""
        return {
            "foreign": str(self.foreign),
            "foreign_loaded": cite(self.foreign_loaded),
            "foreign_failed": cite(self.foreign_failed),
            "domestic": str(self.domestic),
            "domestic_loaded": cite(self.domestic_loaded),
            "domestic_failed": cite(self.domestic_failed),
            "certificate_failures": cite(self.certificate_failures),
            "loaded_targets": cite(self.loaded_targets),
        }
