"""Claims files, and the finding the evidence supports for each claim: pure functions.

The finding rules (docs/reports.md "Claims"), first match wins:
1. no measurement in the claim's window and network → insufficient_data;
2. at least MIN_BLOCKED measurements blocked by whitelisting (failed as every control site
   abroad did while domestic sites or other targets loaded) → contradicted_by_blocking: the
   network admitted only allow-listed destinations, a deliberate cut, never an outage;
3. at least MIN_BLOCKED measurements blocked or throttled by a method of their own whose
   control sites loaded, or such blocked measurements while other platforms loaded →
   contradicted_by_blocking;
4. network_outage measurements (control sites failed too) at least as many as service_down
   ones → consistent_with_outage;
5. service_down measurements (the control vantage point failed too) → platform_outage;
6. anything else (everything loaded, or too little blocking) → insufficient_data.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from probe.errors import ClaimsError
from probe.models.reports import (
    LIST_SEPARATOR,
    AssessedClaim,
    BlockedPlatform,
    Claim,
    ClaimEvidence,
    ClaimFinding,
)
from probe.models.results import Blocking, NetworkState, Verdict

MIN_BLOCKED = 2  # one blocked measurement is a sign; two are a pattern a statement must explain
MAX_CLAIMS_BYTES = 4 * 1024 * 1024
_AFFECTED = frozenset({Verdict.BLOCKED.value, Verdict.THROTTLED.value})
_WHITELISTING = Blocking.WHITELISTING.value
_LISTED = 5  # sites and platforms named in a summary; the evidence lists them all


def parse_claims(text: str, where: str = "claims") -> list[Claim]:
    """Return the claims of a TOML document (`[[claim]]` tables), or raise ClaimsError."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ClaimsError(f"{where}: not valid TOML: {exc}") from exc
    unknown = sorted(set(document) - {"claim"})
    if unknown:
        raise ClaimsError(f"{where}: unknown top-level key(s) {unknown}: write [[claim]] tables")
    raw = document.get("claim", [])
    if not isinstance(raw, list):
        raise ClaimsError(f"{where}: `claim` must be an array of tables ([[claim]])")
    claims = []
    for number, table in enumerate(raw, start=1):
        try:
            claim = Claim.model_validate(table)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'claim'}: {e['msg']}" for e in exc.errors()
            )
            raise ClaimsError(f"{where}: claim {number}: {problems}") from exc
        if claim.start.tzinfo is None or claim.end.tzinfo is None:
            raise ClaimsError(
                f"{where}: claim {number}: give start and end with a time zone"
                ' ("2016-12-16T08:00:00Z")'
            )
        if claim.end <= claim.start:
            raise ClaimsError(f"{where}: claim {number}: end must be after start")
        claims.append(claim)
    return claims


def load_claims(path: Path) -> list[Claim]:
    """Return the claims of a TOML file, or raise ClaimsError naming the file."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_CLAIMS_BYTES + 1)
    except OSError as exc:
        raise ClaimsError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_CLAIMS_BYTES:
        raise ClaimsError(f"{path}: larger than {MAX_CLAIMS_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClaimsError(f"{path}: not UTF-8 text") from exc
    return parse_claims(text, str(path))


def _split(joined: object) -> list[str]:
    return [part for part in str(joined).split(LIST_SEPARATOR) if part]


@dataclass
class _Tally:
    """The evidence being counted, row by row."""

    verdicts: Counter[str] = field(default_factory=Counter)
    blocked: dict[str, Counter[str]] = field(default_factory=dict)
    accessible: set[str] = field(default_factory=set)
    down: set[str] = field(default_factory=set)
    networks: set[str] = field(default_factory=set)
    probes: set[str] = field(default_factory=set)
    sites: set[str] = field(default_factory=set)
    domestic: set[str] = field(default_factory=set)
    whitelisted: set[str] = field(default_factory=set)
    loaded_whitelisted: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, row: Sequence[Any]) -> None:
        network, platform, verdict, blocking, sites, failed, up, state, n, probe_ids = row
        n = int(n)
        self.verdicts[verdict] += n
        self.networks.add(network)
        self.probes.update(_split(probe_ids))
        if verdict in _AFFECTED:
            self.blocked.setdefault(platform, Counter())[blocking or verdict] += n
        if verdict in _AFFECTED and blocking == _WHITELISTING:
            self.counts["whitelisting"] += n
            self.whitelisted.add(platform)
            self.domestic.update(_split(sites))
        elif verdict in _AFFECTED:
            self.sites.update(_split(sites))
            self.counts["blocked_up"] += n if int(up) else 0
        elif verdict == Verdict.ACCESSIBLE.value:
            self.accessible.add(platform)
            if state == NetworkState.WHITELISTED.value:
                self.loaded_whitelisted.add(platform)
        elif verdict == Verdict.SERVICE_DOWN.value:
            self.down.add(platform)
        elif verdict == Verdict.NETWORK_OUTAGE.value:
            self.counts["outage_down"] += n if int(failed) else 0
            self.counts["outage_state"] += n if state == NetworkState.OUTAGE.value else 0


def evidence_of(rows: Iterable[Sequence[Any]]) -> ClaimEvidence:
    """Return the evidence counted from the rows of `sql.claim_query`."""
    tally = _Tally()
    for row in rows:
        tally.add(row)
    return ClaimEvidence(
        measurements=sum(tally.verdicts.values()),
        probes=len(tally.probes),
        networks=sorted(tally.networks),
        verdicts=dict(sorted(tally.verdicts.items())),
        blocked=[
            BlockedPlatform(platform=p, measurements=m.total(), methods=dict(m.most_common()))
            for p, m in sorted(tally.blocked.items())
        ],
        accessible_platforms=sorted(tally.accessible - set(tally.blocked)),
        down_platforms=sorted(tally.down),
        control_sites_reachable=sorted(tally.sites),
        blocked_with_controls_up=tally.counts["blocked_up"],
        outage_with_controls_down=tally.counts["outage_down"],
        outage_in_outage_state=tally.counts["outage_state"],
        whitelisting=tally.counts["whitelisting"],
        whitelisted_platforms=sorted(tally.whitelisted),
        domestic_sites_loaded=sorted(tally.domestic),
        loaded_while_whitelisted=sorted(tally.loaded_whitelisted),
    )


def _where(claim: Claim) -> str:
    return f" on {claim.network}" if claim.network else ""


def _listed(values: Sequence[str]) -> str:
    return ", ".join(values[:_LISTED]) + (", …" if len(values) > _LISTED else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _blocking_summary(evidence: ClaimEvidence) -> str:
    parts = [
        f"{b.platform} ({', '.join(b.methods)}; {b.measurements} measurements)"
        for b in evidence.blocked
    ]
    text = "blocked: " + "; ".join(parts)
    sites = evidence.control_sites_reachable
    if sites:
        text += (
            f", while {_plural(len(sites), 'control site')} on the same path"
            f" stayed reachable ({_listed(sites)})"
        )
    if evidence.accessible_platforms:
        text += f"; loading normally at the same time: {', '.join(evidence.accessible_platforms)}"
    return text


def _whitelisting_summary(evidence: ClaimEvidence, who: str) -> str:
    """Say that the network admitted only allow-listed destinations, with the evidence."""
    cut = [
        f"{b.platform} ({b.methods[_WHITELISTING]})"
        for b in evidence.blocked
        if _WHITELISTING in b.methods
    ]
    loaded = []
    if evidence.domestic_sites_loaded:
        sites = evidence.domestic_sites_loaded
        loaded.append(f"domestic control sites loaded ({_listed(sites)})")
    if evidence.loaded_while_whitelisted:
        platforms = evidence.loaded_while_whitelisted
        loaded.append(f"{_listed(platforms)} loaded{' too' * bool(loaded)}")
    home = " and ".join(loaded) or "destinations at home loaded in the same runs"
    text = (
        "whitelisting: the network admitted only allow-listed destinations —"
        f" {evidence.whitelisting} of {evidence.measurements} measurements from {who} failed"
        f" as every control site abroad did ({'; '.join(cut)}) while {home}"
    )
    own = evidence.blocked_with_controls_up
    if own:
        text += f"; {own} measurements were also blocked by a method of their own"
    outage = evidence.verdicts.get(Verdict.NETWORK_OUTAGE.value, 0)
    if outage:
        text += f"; {outage} measurements also saw the whole network fail"
    return text + ". A deliberate cut, not technical problems or an outage"


def _outage_summary(evidence: ClaimEvidence, who: str, blocked: int) -> str:
    outage = evidence.verdicts.get(Verdict.NETWORK_OUTAGE.value, 0)
    text = (
        f"{outage} of {evidence.measurements} measurements from {who} failed together with the"
        " control sites (network_outage): the failures were not selective"
    )
    if evidence.outage_in_outage_state:
        text += (
            f"; {evidence.outage_in_outage_state} of them in runs whose network state was"
            " outage (domestic control sites, where measured, failed too)"
        )
    if blocked:
        text += f"; {blocked} blocked measurement(s) too few to show selectivity"
    return text


def judge(claim: Claim, evidence: ClaimEvidence) -> AssessedClaim:
    """Return the finding for `claim` from the evidence in its window (module docstring)."""
    verdicts = evidence.verdicts
    total = evidence.measurements
    # Blocked by a method of the platform's own: whitelisting is the network's, counted apart.
    blocked_total = sum(b.measurements for b in evidence.blocked) - evidence.whitelisting
    outage = verdicts.get(Verdict.NETWORK_OUTAGE.value, 0)
    down = verdicts.get(Verdict.SERVICE_DOWN.value, 0)
    who = _plural(evidence.probes, "probe")
    if total == 0:
        finding = ClaimFinding.INSUFFICIENT_DATA
        summary = f"no measurement{_where(claim)} in the claim's window"
    elif evidence.whitelisting >= MIN_BLOCKED:
        finding = ClaimFinding.CONTRADICTED_BY_BLOCKING
        summary = _whitelisting_summary(evidence, who)
    elif evidence.blocked_with_controls_up >= MIN_BLOCKED or (
        blocked_total >= MIN_BLOCKED and evidence.accessible_platforms
    ):
        finding = ClaimFinding.CONTRADICTED_BY_BLOCKING
        summary = f"selective blocking, {blocked_total} of {total} measurements from {who}: "
        summary += _blocking_summary(evidence)
        if outage:
            summary += f"; {outage} measurements also saw the whole network fail"
    elif outage and outage >= down:
        finding = ClaimFinding.CONSISTENT_WITH_OUTAGE
        summary = _outage_summary(evidence, who, blocked_total + evidence.whitelisting)
    elif down:
        finding = ClaimFinding.PLATFORM_OUTAGE
        summary = (
            f"{', '.join(evidence.down_platforms)} failed from the control vantage point too"
            f" ({down} of {total} measurements from {who}): the platform itself was down"
        )
    else:
        finding = ClaimFinding.INSUFFICIENT_DATA
        accessible = verdicts.get(Verdict.ACCESSIBLE.value, 0)
        summary = (
            f"{total} measurements from {who}, {accessible} accessible,"
            f" {blocked_total + evidence.whitelisting} blocked: nothing in the window shows an"
            " outage or selective blocking"
        )
    return AssessedClaim(claim=claim, finding=finding, summary=summary, evidence=evidence)
