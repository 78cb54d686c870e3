"""Judge TLS: handshakes with SNI = host, their chains, and the helper's view of the same ip:port.

Interception shows three ways (METHODS.md §8 "MITM rule"): a chain that does not verify while the
control's does; a chain from a known interception authority (Kazakhstan's roots, self-evident);
or a chain that verifies locally (the interception root was installed, KZ 2019) but differs from
the certificate the helper saw on the same ip:port (our `x_certificate` extension).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from probe.decide.attempts import split_address
from probe.decide.evidence import TlsEvidence, failure_kind
from probe.decide.rules import TLS_RULES, finding, first_match
from probe.models.control import ControlResponse, ControlTlsHandshake
from probe.models.failures import FailureKind
from probe.models.observations import CertificateSummary, TlsObservation
from probe.models.results import Finding

# Issuers of Kazakhstan's interception certificates (METHODS.md §8, IMC 2020, OONI 2021–24).
# An entry with "=" lists attributes that must all appear in a distinguished name; an entry
# without is a case-insensitive substring of it.
DEFAULT_INTERCEPTION_ISSUERS: tuple[str, ...] = (
    "Qaznet Trust Network",
    "CN=Security Certificate,C=KZ",
    "Information Security Certification Authority",
    "НЕГІЗГІ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ",
)

_ATTRIBUTE = re.compile(r"([A-Za-z][A-Za-z0-9.]*)\s*=\s*((?:\\.|[^,/+])*)")


def dn_attributes(dn: str) -> frozenset[tuple[str, str]]:
    """Return the (KEY, value) pairs of a distinguished name, RFC 4514 or OpenSSL style."""
    return frozenset(
        (key.upper(), value.strip().casefold()) for key, value in _ATTRIBUTE.findall(dn)
    )


def issuer_matches(dn: str, entry: str) -> bool:
    """Return whether the distinguished name `dn` matches one interception-issuer entry."""
    if "=" not in entry:
        return entry.casefold() in dn.casefold()
    wanted = dn_attributes(entry)
    return bool(wanted) and wanted <= dn_attributes(dn)


def _interception(
    handshakes: Iterable[TlsObservation], issuers: tuple[str, ...]
) -> tuple[str, ...]:
    found: list[str] = []
    for handshake in handshakes:
        for cert in handshake.x_certificates:
            for dn in (cert.issuer, cert.subject):
                if any(issuer_matches(dn, entry) for entry in issuers):
                    found.append(f"{dn} at {handshake.address}")
    return tuple(dict.fromkeys(found))


def _organization(dn: str) -> str:
    return next((v for k, v in dn_attributes(dn) if k == "O"), "")


def _same_authority(
    leaf: CertificateSummary, chain: list[CertificateSummary], control: ControlTlsHandshake
) -> bool:
    theirs = control.x_certificate
    if theirs is None:
        return True
    if leaf.spki_sha256 == theirs.spki_sha256 or leaf.sha256 == theirs.sha256:
        return True
    if dn_attributes(leaf.issuer) == dn_attributes(theirs.issuer):
        return True
    organization = _organization(leaf.issuer)
    if organization and organization == _organization(theirs.issuer):
        return True
    control_issuers = {dn_attributes(i) for i in [*control.x_chain_issuers, theirs.issuer]}
    return any(dn_attributes(c.issuer) in control_issuers for c in chain)


def _control_entries(control: ControlResponse | None) -> dict[tuple[str, int], ControlTlsHandshake]:
    if control is None:
        return {}
    return {split_address(k): v for k, v in control.tls_handshake.items()}


def _mismatches(
    handshakes: Iterable[TlsObservation], control: ControlResponse | None
) -> tuple[str, ...]:
    entries = _control_entries(control)
    found: list[str] = []
    for handshake in handshakes:
        entry = entries.get(split_address(handshake.address))
        if handshake.failure is not None or entry is None or not handshake.x_certificates:
            continue
        leaf = handshake.x_certificates[0]
        if entry.status and not _same_authority(leaf, handshake.x_certificates, entry):
            theirs = entry.x_certificate.issuer if entry.x_certificate else "?"
            found.append(
                f"at {handshake.address} the certificate was issued by '{leaf.issuer}' here"
                f" and by '{theirs}' to the control"
            )
    return tuple(dict.fromkeys(found))


def _control_view(
    failing: list[TlsObservation], control: ControlResponse | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return (what the control's handshakes reached, where they failed) for these addresses."""
    entries = _control_entries(control)
    results = {h.address: entries[k] for h in failing if (k := split_address(h.address)) in entries}
    reached = tuple(a for a, e in results.items() if e.status)
    failed = tuple(f"{a} {e.failure}" for a, e in results.items() if not e.status)
    if not results and control is not None:
        page = control.http_request
        others = [k for k, e in control.tls_handshake.items() if e.status]
        if page.failure is None and page.status_code > 0:
            others.append(f"the page (HTTP {page.status_code})")
        reached = tuple(others)
    return reached, failed


def _control_fetch_failure(failing: list[TlsObservation], control: ControlResponse | None) -> str:
    """Return the control's fetch failure when it connected to the failing addresses but
    recorded no handshake there (OONI's helpers before 0.4.2 keep none): its failed fetch of the
    page over those addresses is then the control's view of their TLS."""
    if control is None or not failing or control.http_request.failure is None:
        return ""
    entries = _control_entries(control)
    connected = {split_address(k) for k, v in control.tcp_connect.items() if v.status}
    addresses = {split_address(h.address) for h in failing}
    if addresses & set(entries) or not addresses <= connected:
        return ""
    return control.http_request.failure


def tls_finding(
    host: str,
    handshakes: list[TlsObservation],
    control: ControlResponse | None,
    *,
    failed: bool,
    issuers: tuple[str, ...] = DEFAULT_INTERCEPTION_ISSUERS,
    residual: tuple[str, ...] = (),
) -> Finding:
    """Return the TLS finding for `handshakes` with SNI `host`.

    `failed`: the attempts ended at TLS, and `handshakes` are those that connected and failed;
    otherwise `handshakes` are the successful ones, checked for interception. `residual`: the
    later attempts that then failed to connect at all (residual blocking), if any.
    """
    failing = [h for h in handshakes if h.failure is not None] if failed else []
    reached, control_failed = _control_view(failing, control)
    kinds = list(dict.fromkeys(failure_kind(h.failure) for h in failing))
    evidence = TlsEvidence(
        host=host,
        reached=bool(handshakes),
        failed=failed,
        failures=tuple(f"{h.address} {h.failure}" for h in failing),
        kind=kinds[0] if kinds else FailureKind.OTHER,
        interception=_interception(handshakes, issuers),
        control_ok=reached,
        control_failed=control_failed,
        control_fetch_failure=_control_fetch_failure(failing, control),
        certificate_mismatch=() if failed else _mismatches(handshakes, control),
        verified=tuple(h.address for h in handshakes if h.failure is None),
        residual=residual,
    )
    notes = (
        (f"the handshakes failed in different ways ({', '.join(kinds)})",) if len(kinds) > 1 else ()
    )
    return finding(first_match(TLS_RULES, evidence), evidence.facts(), notes)
