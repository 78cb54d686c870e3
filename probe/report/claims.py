"""Claims files, and the finding the evidence supports for each claim: pure functions.

The finding rules (docs/reports.md "Claims"), first match wins:
1. no measurement in the claim's window and network → insufficient_data;
2. at least MIN_BLOCKED blocked/throttled measurements whose own control sites loaded, or
   blocked measurements while other platforms loaded → contradicted_by_blocking;
3. network_outage measurements (control sites failed too) at least as many as service_down
   ones → consistent_with_outage;
4. service_down measurements (the control vantage point failed too) → platform_outage;
5. anything else (everything loaded, or too little blocking) → insufficient_data.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
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
from probe.models.results import Verdict

MIN_BLOCKED = 2  # one blocked measurement is a sign; two are a pattern a statement must explain
MAX_CLAIMS_BYTES = 4 * 1024 * 1024
_AFFECTED = frozenset({Verdict.BLOCKED.value, Verdict.THROTTLED.value})


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


def evidence_of(rows: Iterable[Sequence[Any]]) -> ClaimEvidence:
    """Return the evidence counted from the rows of `sql.claim_query`."""
    verdicts: Counter[str] = Counter()
    blocked: dict[str, Counter[str]] = {}
    blocked_n: Counter[str] = Counter()
    accessible: set[str] = set()
    down: set[str] = set()
    networks: set[str] = set()
    probes: set[str] = set()
    sites: set[str] = set()
    blocked_up = outage_down = 0
    for network, platform, verdict, blocking, site_list, failed, up, n, probe_ids in rows:
        n = int(n)
        verdicts[verdict] += n
        networks.add(network)
        probes.update(p for p in str(probe_ids).split(LIST_SEPARATOR) if p)
        if verdict in _AFFECTED:
            blocked.setdefault(platform, Counter())[blocking or verdict] += n
            blocked_n[platform] += n
            sites.update(s for s in str(site_list).split(LIST_SEPARATOR) if s)
            blocked_up += n if int(up) else 0
        elif verdict == Verdict.ACCESSIBLE.value:
            accessible.add(platform)
        elif verdict == Verdict.SERVICE_DOWN.value:
            down.add(platform)
        elif verdict == Verdict.NETWORK_OUTAGE.value:
            outage_down += n if int(failed) else 0
    return ClaimEvidence(
        measurements=sum(verdicts.values()),
        probes=len(probes),
        networks=sorted(networks),
        verdicts=dict(sorted(verdicts.items())),
        blocked=[
            BlockedPlatform(platform=p, measurements=blocked_n[p], methods=dict(m.most_common()))
            for p, m in sorted(blocked.items())
        ],
        accessible_platforms=sorted(accessible - set(blocked)),
        down_platforms=sorted(down),
        control_sites_reachable=sorted(sites),
        blocked_with_controls_up=blocked_up,
        outage_with_controls_down=outage_down,
    )


def _where(claim: Claim) -> str:
    return f" on {claim.network}" if claim.network else ""


def _blocking_summary(evidence: ClaimEvidence) -> str:
    parts = [
        f"{b.platform} ({', '.join(b.methods)}; {b.measurements} measurements)"
        for b in evidence.blocked
    ]
    text = "blocked: " + "; ".join(parts)
    sites = evidence.control_sites_reachable
    if sites:
        text += (
            f", while {len(sites)} control site{'s' * (len(sites) != 1)} on the same path"
            f" stayed reachable ({', '.join(sites[:5])}{', …' * (len(sites) > 5)})"
        )
    if evidence.accessible_platforms:
        text += f"; loading normally at the same time: {', '.join(evidence.accessible_platforms)}"
    return text


def judge(claim: Claim, evidence: ClaimEvidence) -> AssessedClaim:
    """Return the finding for `claim` from the evidence in its window (module docstring)."""
    verdicts = evidence.verdicts
    total = evidence.measurements
    blocked_total = sum(b.measurements for b in evidence.blocked)
    outage = verdicts.get(Verdict.NETWORK_OUTAGE.value, 0)
    down = verdicts.get(Verdict.SERVICE_DOWN.value, 0)
    who = f"{evidence.probes} probe{'s' * (evidence.probes != 1)}"
    if total == 0:
        finding = ClaimFinding.INSUFFICIENT_DATA
        summary = f"no measurement{_where(claim)} in the claim's window"
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
        summary = (
            f"{outage} of {total} measurements from {who} failed together with the control"
            " sites (network_outage): the failures were not selective"
        )
        if blocked_total:
            summary += f"; {blocked_total} blocked measurement(s) too few to show selectivity"
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
            f" {blocked_total} blocked: nothing in the window shows an outage or selective"
            " blocking"
        )
    return AssessedClaim(claim=claim, finding=finding, summary=summary, evidence=evidence)
