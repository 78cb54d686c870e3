"""Judge DNS: the probe's depth-0 lookups per resolver against the control resolvers' view.

An answer is consistent when the control resolvers (the helper's DoH and our trusted DoH) have
the same IP or an IP in the same AS; it is validated when a verified TLS handshake for the name
succeeded on it (probe or helper) or the page it served matches the control's (CERTainty, Iris:
METHODS.md §1.4, §9). Only a lookup with no consistent or validated address is inconsistent.
Timeouts are ambiguous and count only when every resolver failed; lies (NXDOMAIN, bogons,
inconsistent answers) count per resolver, consistent over attempts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from probe.decide.attempts import (
    HELPER_DNS_ANSWERS,
    NXDOMAIN_FAILURES,
    query_addresses,
    split_address,
)
from probe.decide.blockpages import Fingerprint, address_matches
from probe.decide.evidence import DnsEvidence, cite, failure_kind
from probe.decide.rules import DNS_RULES, finding, first_match
from probe.models.addresses import IPNetwork, is_bogon
from probe.models.control import IP_FLAG_VALID_FOR_DOMAIN, ControlResponse
from probe.models.failures import Failure, FailureKind, LegacyFailure
from probe.models.observations import DnsObservation
from probe.models.results import ControlSiteCheck, Finding, TestKeys
from probe.models.tags import attempt_of, depth_of
from probe.models.targets import Endpoint, EndpointKind

_HELPER_NXDOMAIN = frozenset({LegacyFailure.DNS_NAME_ERROR, *NXDOMAIN_FAILURES})


def resolver_label(query: DnsObservation) -> str:
    """Return how reasons name the resolver of `query` ("udp resolver 8.8.8.8:53")."""
    return f"{query.engine} resolver {query.resolver_address}"


def _is_nxdomain(query: DnsObservation) -> bool:
    if query.is_transport_failure():  # the way to the resolver failed: no answer at all
        return False
    return query.failure in NXDOMAIN_FAILURES or (query.rcode or "").upper() == "NXDOMAIN"


@dataclass(frozen=True)
class _Lookup:
    """One resolver's A and AAAA queries in one attempt, read together like getaddrinfo."""

    resolver: str
    addresses: tuple[str, ...]
    status: str  # answered, nxdomain, empty, failed
    failures: tuple[str, ...]


def _lookup(resolver: str, queries: list[DnsObservation]) -> _Lookup:
    addresses = tuple(dict.fromkeys(a for q in queries for a in query_addresses(q)))
    failures = tuple(q.failure for q in queries if q.failure)
    if addresses:
        status = "answered"
    elif any(_is_nxdomain(q) for q in queries):
        status = "nxdomain"
    elif all(f == Failure.DNS_NO_ANSWER for f in failures):
        status = "empty"
    else:
        status = "failed"
    return _Lookup(resolver, addresses, status, failures)


def _lookups(queries: Iterable[DnsObservation]) -> list[_Lookup]:
    groups: dict[tuple[int, str], list[DnsObservation]] = {}
    for query in queries:
        if depth_of(query.tags) == 0:
            key = (attempt_of(query.tags), resolver_label(query))
            groups.setdefault(key, []).append(query)
    return [_lookup(resolver, group) for (_, resolver), group in groups.items()]


@dataclass(frozen=True)
class _Control:
    """What the control resolvers said: the helper's DoH lookup and our trusted DoH lookups."""

    addresses: tuple[str, ...] = ()
    asns: frozenset[int] = frozenset()
    answered: bool = False
    nxdomain: bool = False
    failure: str | None = None
    tls_valid: frozenset[str] = frozenset()
    ip_asns: dict[str, int] = field(default_factory=dict)


def _control(host: str, keys: TestKeys) -> _Control:
    control = keys.control
    doh_answered = [
        q for q in keys.x_doh if q.failure in (None, Failure.DNS_NO_ANSWER) or _is_nxdomain(q)
    ]
    helper_answered = control is not None and (
        control.dns.failure is None or control.dns.failure in HELPER_DNS_ANSWERS
    )
    addresses = list(control.dns.addrs if control is not None else [])
    addresses += [a for q in keys.x_doh for a in query_addresses(q)]
    ip_asns = {
        ip: info.asn for ip, info in (control.ip_info if control else {}).items() if info.asn
    }
    asns = {ip_asns[a] for a in addresses if a in ip_asns}
    asns |= {a.asn for q in keys.x_doh for a in q.answers if a.asn}
    helper_nx = control is not None and control.dns.failure in _HELPER_NXDOMAIN
    failures = [control.dns.failure] if control is not None and control.dns.failure else []
    failures += [
        f"{q.resolver_address}: {q.failure}"
        + (" (no reply: the way to the resolver failed)" if q.is_transport_failure() else "")
        for q in keys.x_doh
        if q.failure
    ]
    unique = tuple(dict.fromkeys(addresses))
    return _Control(
        addresses=unique,
        asns=frozenset(asns),
        answered=helper_answered or bool(doh_answered),
        nxdomain=not unique and (helper_nx or any(_is_nxdomain(q) for q in keys.x_doh)),
        failure=failures[0] if failures else None,
        tls_valid=_control_tls_valid(host, control),
        ip_asns=ip_asns,
    )


def _control_tls_valid(host: str, control: ControlResponse | None) -> frozenset[str]:
    """Return the IPs on which the helper's handshake found a valid certificate for `host`."""
    if control is None:
        return frozenset()
    valid = {
        split_address(address)[0]
        for address, handshake in control.tls_handshake.items()
        if handshake.status and handshake.server_name.lower() in ("", host)
    }
    valid |= {ip for ip, info in control.ip_info.items() if info.flags & IP_FLAG_VALID_FOR_DOMAIN}
    return frozenset(valid)


# The probe's handshake on an answer failed in a way a public service can also fail for an
# unknown client (reset, timeout, a certificate for other names), unlike a chain to an unknown
# root, which no public service presents.
_AMBIGUOUS_HANDSHAKE_KINDS = frozenset(
    {FailureKind.RESET, FailureKind.EOF, FailureKind.TIMEOUT, FailureKind.OTHER}
)
_AMBIGUOUS_CERTIFICATE_FAILURES = frozenset({Failure.SSL_INVALID_HOSTNAME})


def _refused_everywhere(host: str, keys: TestKeys) -> dict[str, str]:
    """Return the IPs where the probe's handshake for `host` connected and failed ambiguously
    and the helper's handshake connected and failed the same way, with both failures: a
    handshake that fails alike on both sides proves nothing about the answer (an anycast relay
    or a CDN refusing unknown clients, issue 17)."""
    control = keys.control
    if control is None:
        return {}
    connected = {(attempt_of(c.tags), c.ip, c.port) for c in keys.tcp_connect if c.status.success}
    helper_connected = {split_address(k) for k, v in control.tcp_connect.items() if v.status}
    helper_failed = {
        split_address(k): v.failure or "failed"
        for k, v in control.tls_handshake.items()
        if not v.status and split_address(k) in helper_connected
    }
    found: dict[str, str] = {}
    for handshake in keys.tls_handshakes:
        if handshake.server_name.lower() != host or handshake.failure is None:
            continue
        ip, port = split_address(handshake.address)
        ambiguous = (
            failure_kind(handshake.failure) in _AMBIGUOUS_HANDSHAKE_KINDS
            or handshake.failure in _AMBIGUOUS_CERTIFICATE_FAILURES
        )
        attempt = attempt_of(handshake.tags)
        theirs = helper_failed.get((ip, port))
        # The same failure on both sides is the server's; a different one here (a reset where
        # the control got the server's certificate for other names) is the probe's path.
        same = theirs is not None and failure_kind(theirs) == failure_kind(handshake.failure)
        if ambiguous and same and (attempt, ip, port) in connected:
            found[ip] = f"{handshake.address} {handshake.failure} here, {theirs} for the control"
    return found


def _probe_tls(host: str, keys: TestKeys) -> tuple[frozenset[str], frozenset[str]]:
    """Return the IPs where a verified handshake for `host` succeeded on the probe, and those
    where a handshake connected and then failed (reset, timeout, untrusted chain)."""
    connected = {(attempt_of(c.tags), c.ip, c.port) for c in keys.tcp_connect if c.status.success}
    valid: set[str] = set()
    failed: set[str] = set()
    for handshake in keys.tls_handshakes:
        if handshake.server_name.lower() != host:
            continue
        ip, port = split_address(handshake.address)
        if handshake.failure is None and not handshake.no_tls_verify:
            valid.add(ip)
        elif (attempt_of(handshake.tags), ip, port) in connected:
            failed.add(ip)
    return frozenset(valid), frozenset(failed)


@dataclass(frozen=True)
class _Judge:
    """Classifies one answer IP: consistent, validated (and how), or neither.

    The probe's own evidence about an IP comes first: a cleartext page from it that differs
    from the control's (or is a block page) outweighs a certificate (a proxy may pass TLS
    through and still rewrite cleartext, §11 #16); the helper's valid handshake on an IP counts
    only where the probe's own handshake did not connect and then fail (§11 #12: a proxy that
    forwards the helper's TLS while the probe's is reset).
    """

    host: str
    control: _Control
    probe_asns: dict[str, int]
    probe_tls: frozenset[str]
    probe_tls_failed: frozenset[str]
    content: frozenset[str]
    content_invalid: frozenset[str]
    refused_everywhere: dict[str, str] = field(default_factory=dict)

    def consistent(self, ip: str) -> bool:
        if ip in self.control.addresses:
            return True
        asn = self.probe_asns.get(ip) or self.control.ip_asns.get(ip)
        return asn is not None and asn in self.control.asns

    def validation(self, ip: str) -> str | None:
        if ip in self.content_invalid:
            return None
        if ip in self.probe_tls:
            return f"a verified TLS handshake for {self.host} succeeded there"
        if ip in self.control.tls_valid and ip not in self.probe_tls_failed:
            return f"the control's TLS handshake there found a valid certificate for {self.host}"
        if ip in self.content:
            return "the page served there matches the control's"
        return None

    def good(self, ip: str) -> bool:
        return self.consistent(ip) or self.validation(ip) is not None


def _late_replies(
    queries: Iterable[DnsObservation], judge: _Judge | None, routable: tuple[IPNetwork, ...]
) -> tuple[tuple[str, ...], bool]:
    """Return descriptions of queries answered twice differently, and whether one reply was
    consistent with the control while the other was not."""
    found: list[str] = []
    inconsistent = False
    for query in queries:
        if depth_of(query.tags) != 0:
            continue
        first = frozenset(query_addresses(query))
        for late in query.x_late_replies:
            again = frozenset(a.ipv4 or a.ipv6 or "" for a in late.answers) - {""}
            rcodes_differ = bool(query.rcode) and query.rcode != late.rcode
            if again == first and not rcodes_differ:
                continue
            shown = [
                cite(sorted(s), empty=r or "no address")
                for s, r in ((first, query.rcode), (again, late.rcode))
            ]
            found.append(
                f"{resolver_label(query)} answered {query.hostname} {query.query_type}"
                f" with {shown[0]}, then with {shown[1]}"
            )
            if judge is not None and judge.control.addresses:
                verdicts = {_reply_good(s, judge, routable) for s in (first, again)}
                inconsistent = inconsistent or verdicts == {True, False}
    return tuple(found), inconsistent


def _reply_good(addresses: frozenset[str], judge: _Judge, routable: tuple[IPNetwork, ...]) -> bool:
    return bool(addresses) and all(
        judge.good(ip) and not is_bogon(ip, routable) for ip in addresses
    )


def _sites_resolve(controls: tuple[ControlSiteCheck, ...]) -> bool | None:
    if not controls:
        return None
    return any(c.success or c.step != "dns" for c in controls)


def _first(lookups: list[_Lookup], wanted: set[str]) -> str:
    return next((lk.resolver for lk in lookups if set(lk.addresses) & wanted), "")


def _every(lookups: list[_Lookup], statuses: set[str]) -> tuple[str, ...]:
    """Return the resolvers whose every lookup had a status in `statuses`."""
    by_resolver: dict[str, set[str]] = {}
    for lookup in lookups:
        by_resolver.setdefault(lookup.resolver, set()).add(lookup.status)
    return tuple(r for r, seen in by_resolver.items() if seen <= statuses)


@dataclass(frozen=True)
class _Answers:
    """The probe's answers sorted into the categories the rules test."""

    bogons: tuple[str, ...] = ()
    bogons_in_control: tuple[str, ...] = ()
    blockpage: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    unverifiable: tuple[str, ...] = ()  # invalid answers whose handshake failed for both sides
    validated: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _classify(
    lookups: list[_Lookup],
    judge: _Judge,
    routable: tuple[IPNetwork, ...],
    fingerprints: tuple[Fingerprint, ...],
) -> _Answers:
    control = judge.control
    answers = list(dict.fromkeys(a for lk in lookups for a in lk.addresses))
    bogon_all = [ip for ip in answers if is_bogon(ip, routable) and judge.validation(ip) is None]
    control_bogon = any(is_bogon(a, routable) for a in control.addresses)
    in_control = [ip for ip in bogon_all if control_bogon or ip in control.addresses]
    matches = [(ip, fp) for ip in answers for fp in address_matches(ip, fingerprints)]
    blockpage = [
        f"{ip} ({fp.name})" for ip, fp in matches if fp.is_strong and ip not in control.addresses
    ]
    notes = [
        f"the answer {ip} resembles block-page address {fp.name} (confidence"
        f" {fp.confidence_no_fp}/10, not enough alone)"
        for ip, fp in matches
        if not fp.is_strong and not fp.is_benign
    ]
    invalid: list[str] = []
    validated: list[str] = []
    if control.addresses or control.nxdomain:  # else there is nothing to be unlike
        invalid, mixed = _invalid(lookups, judge)
        notes += [f"{r} answered inconsistently in some attempts only" for r in mixed]
        validated = [ip for ip in answers if not judge.consistent(ip) and judge.validation(ip)]
    refused = judge.refused_everywhere
    return _Answers(
        bogons=tuple(ip for ip in bogon_all if ip not in in_control),
        bogons_in_control=tuple(in_control),
        blockpage=tuple(blockpage),
        invalid=tuple(invalid),
        unverifiable=tuple(
            f"{ip} ({refused[ip]})" for ip in invalid if ip in refused and ip not in bogon_all
        )
        if invalid and all(ip in refused for ip in invalid)
        else (),
        validated=tuple(ip for ip in validated if ip not in invalid),
        notes=tuple(notes),
    )


def _invalid(lookups: list[_Lookup], judge: _Judge) -> tuple[list[str], list[str]]:
    """Return the addresses of resolvers whose every answer was bad, and the resolvers whose
    answers were bad in some attempts only."""
    seen: dict[str, list[bool]] = {}
    bad: dict[str, list[str]] = {}
    for lookup in lookups:
        if lookup.status != "answered":
            continue
        good = any(judge.good(ip) for ip in lookup.addresses)
        seen.setdefault(lookup.resolver, []).append(good)
        if not good:
            bad.setdefault(lookup.resolver, []).extend(lookup.addresses)
    invalid = [ip for r, oks in seen.items() if not any(oks) for ip in bad.get(r, [])]
    mixed = [r for r, oks in seen.items() if any(oks) and not all(oks)]
    return list(dict.fromkeys(invalid)), mixed


def _failed_resolver_notes(lookups: list[_Lookup]) -> tuple[str, ...]:
    if not any(lk.status == "answered" for lk in lookups):
        return ()
    failing = _every(lookups, {"failed"})
    return tuple(
        f"{r} failed ({cite(f for lk in lookups if lk.resolver == r for f in lk.failures)})"
        " while other resolvers answered"
        for r in failing
    )


def _resolver(lookups: list[_Lookup], answers: _Answers) -> str:
    for ips in (answers.blockpage, answers.bogons, answers.bogons_in_control):
        if ips:
            return _first(lookups, {ip.split(" ")[0] for ip in ips})
    for statuses in ({"nxdomain", "empty"}, {"empty"}, {"failed"}):
        if resolvers := _every(lookups, statuses):
            return resolvers[0]
    for ips in (answers.invalid, answers.validated):
        if ips:
            return _first(lookups, set(ips))
    return lookups[0].resolver if lookups else ""


def _judge(
    host: str,
    keys: TestKeys,
    content_validated: frozenset[str],
    content_invalidated: frozenset[str],
) -> _Judge:
    probe_asns = {(a.ipv4 or a.ipv6 or ""): a.asn for q in keys.queries for a in q.answers if a.asn}
    probe_tls, probe_tls_failed = _probe_tls(host, keys)
    return _Judge(
        host=host,
        control=_control(host, keys),
        probe_asns=probe_asns,
        probe_tls=probe_tls,
        probe_tls_failed=probe_tls_failed,
        content=content_validated,
        content_invalid=content_invalidated,
        refused_everywhere=_refused_everywhere(host, keys),
    )


def dns_evidence(
    endpoint: Endpoint,
    keys: TestKeys,
    *,
    routable: tuple[IPNetwork, ...] = (),
    fingerprints: tuple[Fingerprint, ...] = (),
    controls: tuple[ControlSiteCheck, ...] = (),
    content_validated: frozenset[str] = frozenset(),
    content_invalidated: frozenset[str] = frozenset(),
) -> tuple[DnsEvidence, tuple[str, ...]]:
    """Return the DNS evidence for `endpoint`'s host, and notes worth keeping in reasons."""
    host = endpoint.host.lower().rstrip(".")
    lookups = _lookups(keys.queries)
    judge = _judge(host, keys, content_validated, content_invalidated)
    control = judge.control
    answers = _classify(lookups, judge, routable, fingerprints)
    late, late_inconsistent = _late_replies(keys.queries, judge, routable)
    nx_or_empty = _every(lookups, {"nxdomain", "empty"})
    empty = _every(lookups, {"empty"})
    connected = {c.ip for c in keys.tcp_connect if c.status.success}
    evidence = DnsEvidence(
        host=host,
        is_tcp_service=endpoint.kind is EndpointKind.TCP,
        has_lookups=bool(lookups),
        resolved=any(lk.status == "answered" for lk in lookups),
        answers=tuple(dict.fromkeys(a for lk in lookups for a in lk.addresses)),
        has_control=control.answered,
        control_addresses=control.addresses,
        control_nxdomain=control.nxdomain,
        control_failure=control.failure,
        control_tls_valid=bool(control.tls_valid & set(control.addresses)),
        resolver=_resolver(lookups, answers),
        late_replies=late,
        late_reply_inconsistent=late_inconsistent,
        blockpage_answers=answers.blockpage,
        bogons=answers.bogons,
        bogons_in_control=answers.bogons_in_control,
        nxdomain_resolvers=tuple(r for r in nx_or_empty if r not in empty),
        empty_resolvers=empty,
        failures=tuple(dict.fromkeys(f for lk in lookups for f in lk.failures)),
        sites_resolve=_sites_resolve(controls),
        invalid_answers=answers.invalid,
        unverifiable_answers=answers.unverifiable,
        invalid_connected=bool(connected & set(answers.invalid)),
        validated_answers=answers.validated,
        validation=next((v for ip in answers.validated if (v := judge.validation(ip))), ""),
    )
    return evidence, answers.notes + _failed_resolver_notes(lookups)


def dns_finding(
    endpoint: Endpoint,
    keys: TestKeys,
    *,
    routable: tuple[IPNetwork, ...] = (),
    fingerprints: tuple[Fingerprint, ...] = (),
    controls: tuple[ControlSiteCheck, ...] = (),
    content_validated: frozenset[str] = frozenset(),
    content_invalidated: frozenset[str] = frozenset(),
) -> Finding:
    """Return the DNS finding for `endpoint`'s host (depth 0, every attempt, every resolver)."""
    evidence, notes = dns_evidence(
        endpoint,
        keys,
        routable=routable,
        fingerprints=fingerprints,
        controls=controls,
        content_validated=content_validated,
        content_invalidated=content_invalidated,
    )
    return finding(first_match(DNS_RULES, evidence), evidence.facts(), notes)
