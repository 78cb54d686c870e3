"""Build a report from the facts an engine holds: run the portable queries, then the pure
functions of windows.py and claims.py over their (small) results."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from probe.models.reports import (
    AssessedClaim,
    Claim,
    FailureWindow,
    Report,
    ReportScope,
    TimelineCell,
    WindowKind,
)
from probe.report import sql
from probe.report.claims import evidence_of, judge
from probe.report.engines import Engine
from probe.report.facts import Skipped
from probe.report.windows import Span, failure_windows, incidents, moment, span_of

# Timeline bucket widths, the narrowest that gives at most MAX_BUCKETS columns is chosen.
BUCKETS = (300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400, 28 * 86400)
MAX_BUCKETS = 200
_FAR_FUTURE = 2**62
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def bucket_width(seconds: int, at_least: float = 0) -> int:
    """Return the narrowest bucket width that splits `seconds` into at most MAX_BUCKETS and is
    at least `at_least` seconds (the mean time between one lane's measurements: narrower
    buckets would draw a schedule's gaps as stripes of "no measurement")."""
    for width in BUCKETS:
        if seconds <= width * MAX_BUCKETS and width >= at_least:
            return width
    return BUCKETS[-1]


def _epoch(value: datetime | None, default: int, *, upper: bool = False) -> int:
    """Return whole milliseconds; facts keep whole milliseconds (floored), so an exclusive
    upper bound rounds up to keep a measurement made in the bound's own millisecond."""
    if value is None:
        return default
    exact = (value - _EPOCH) / _MILLISECOND
    return math.ceil(exact) if upper else math.floor(exact)


def _spans(engine: Engine, spec: sql.WindowSpec, since: int, until: int) -> list[Span]:
    # Most periods have no whitelisting and many no outage: skip the window query's sorts then.
    ((found,),) = engine.query(sql.any_bad_query(engine.dialect, spec, since, until))
    if not int(found):
        return []
    rows = engine.query(sql.windows_query(engine.dialect, spec, since, until))
    return [span_of(row, len(spec.partition)) for row in rows]


def assess_claims(engine: Engine, claims: Sequence[Claim]) -> list[AssessedClaim]:
    """Return each claim with its finding, from the facts inside its own window."""
    assessed = []
    for claim in claims:
        query = sql.claim_query(
            engine.dialect,
            _epoch(claim.start, 0),
            _epoch(claim.end, 0, upper=True),
            claim.network,
            tuple(claim.platforms),
        )
        assessed.append(judge(claim, evidence_of(engine.query(query))))
    return assessed


def _timeline(engine: Engine, start: int, stop: int, width: int) -> list[TimelineCell]:
    """Return the timeline's cells: counts per network, platform and bucket, with the times of
    each bucket's first and last measurement."""
    cells: dict[tuple[str, str, int], dict[str, int]] = {}
    times: dict[tuple[str, str, int], tuple[int, int]] = {}
    query = sql.timeline_query(engine.dialect, start, stop, width, with_times=True)
    for network, platform, bucket, shown, n, first, last in engine.query(query):
        key = (str(network), str(platform), int(bucket))
        cells.setdefault(key, {})[str(shown)] = int(n)
        low, high = times.get(key, (int(first), int(last)))
        times[key] = (min(low, int(first)), max(high, int(last)))
    return [
        TimelineCell(
            network=n,
            platform=p,
            start=moment(b),
            counts=c,
            first_at=moment(times[n, p, b][0]),
            last_at=moment(times[n, p, b][1]),
        )
        for (n, p, b), c in sorted(cells.items())
    ]


def build_report(
    engine: Engine,
    *,
    source: str,
    software_version: str,
    generated_at: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    claims: Sequence[Claim] = (),
    skipped: Skipped | None = None,
) -> Report:
    """Return the report of the facts in [since, until) (all of them when unbounded)."""
    start, stop = _epoch(since, 0), _epoch(until, _FAR_FUTURE, upper=True)
    dialect = engine.dialect
    count, probes, first, last = engine.query(sql.scope_query(dialect, start, stop))[0]
    names_rows = engine.query(sql.names_query(dialect, start, stop))
    names = {str(network): str(name) for network, name, _p, _n in names_rows if name}
    count = int(count or 0)
    skipped = skipped or Skipped()
    scope = ReportScope(
        source=source,
        since=since,
        until=until,
        first_measurement=moment(int(first)) if count else None,
        last_measurement=moment(int(last)) if count else None,
        measurements=count,
        probes=int(probes or 0),
        networks=sorted({str(r[0]) for r in names_rows}),
        network_names=dict(sorted(names.items())),
        platforms=sorted({str(r[2]) for r in names_rows}),
        skipped_records=skipped.count,
        skipped_reasons=list(skipped.reasons),
    )
    span_start = start if since is not None else int(first or 0)
    span_stop = stop if until is not None else int(last or 0) + 1
    span_s = max(1, (span_stop - span_start) // 1000)
    lanes = len({(r[0], r[2]) for r in names_rows})
    width = bucket_width(span_s, span_s * lanes / count if count else 0)

    def windows(spec: sql.WindowSpec, kind: WindowKind) -> list[FailureWindow]:
        return failure_windows(_spans(engine, spec, start, stop), kind) if count else []

    return Report(
        generated_at=generated_at,
        software_version=software_version,
        engine=dialect.name,
        scope=scope,
        bucket_seconds=width,
        incidents=incidents(_spans(engine, sql.INCIDENTS, start, stop), names) if count else [],
        outages=windows(sql.OUTAGES, WindowKind.NETWORK_OUTAGE),
        platform_down=windows(sql.PLATFORM_DOWN, WindowKind.PLATFORM_DOWN),
        whitelisting=windows(sql.WHITELISTING, WindowKind.WHITELISTING),
        claims=assess_claims(engine, claims),
        timeline=_timeline(engine, start, stop, width) if count else [],
    )
