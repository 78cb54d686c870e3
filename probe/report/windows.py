"""From the engine's per-probe spans to incidents and failure windows: pure functions.

A span is what one probe saw: consecutive bad measurements of one partition (a platform on a
network, a network, or a platform) with no good measurement between them, and the good
measurements that bound it. Spans of several probes that overlap in time are one window: the
same block seen from several vantage points.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from probe.models.reports import (
    LIST_SEPARATOR,
    Confidence,
    FailureWindow,
    Incident,
    WindowKind,
)
from probe.models.results import Blocking, Verdict
from probe.report.sql import METHODS

# An incident seen this many times, by one method or from two probes, is well established.
HIGH_CONFIDENCE_MEASUREMENTS = 3


@dataclass(frozen=True)
class Span:
    """One probe's run of bad measurements in one partition (times in Unix milliseconds)."""

    key: tuple[str, ...]
    probe_id: str
    start: int
    end: int
    measurements: int
    throttled: int = 0
    methods: dict[str, int] = field(default_factory=dict)
    endpoint_methods: frozenset[str] = frozenset()
    endpoints: frozenset[str] = frozenset()
    members: frozenset[str] = frozenset()
    good_before: int | None = None
    good_after: int | None = None
    first_seen_good: int = 0  # good measurements of the partition, every probe, up to start
    last_seen_good: int = 0  # … up to end


def _split(joined: object) -> frozenset[str]:
    if not isinstance(joined, str):
        return frozenset()
    return frozenset(part for value in joined.split(LIST_SEPARATOR) if (part := value.strip()))


def _optional_int(value: object) -> int | None:
    return None if value is None else int(str(value))


def span_of(row: Sequence[Any], width: int) -> Span:
    """Return the span of one row of `sql.windows_query` whose partition has `width` columns."""
    key = tuple(str(v) for v in row[:width])
    probe_id, _island, start, end, n, throttled = row[width : width + 6]
    counts = row[width + 6 : width + 6 + len(METHODS)]
    rest = row[width + 6 + len(METHODS) :]
    all_methods, all_endpoints, members, good_before, good_after, first_seen, last_seen = rest
    return Span(
        key=key,
        probe_id=str(probe_id),
        start=int(start),
        end=int(end),
        measurements=int(n),
        throttled=int(throttled),
        methods={m: int(c) for m, c in zip(METHODS, counts, strict=True) if int(c)},
        endpoint_methods=_split(all_methods),
        endpoints=_split(all_endpoints),
        members=_split(members),
        good_before=_optional_int(good_before),
        good_after=_optional_int(good_after),
        first_seen_good=int(first_seen),
        last_seen_good=int(last_seen),
    )


def merge_overlapping(spans: Iterable[Span]) -> list[list[Span]]:
    """Return groups of spans of the same key whose time ranges overlap (chained)."""
    groups: list[list[Span]] = []
    by_key: dict[tuple[str, ...], list[Span]] = {}
    for span in spans:
        by_key.setdefault(span.key, []).append(span)
    for key in sorted(by_key):
        current: list[Span] = []
        current_end = 0
        for span in sorted(by_key[key], key=lambda s: (s.start, s.end, s.probe_id)):
            if current and span.start <= current_end:
                current.append(span)
                current_end = max(current_end, span.end)
            else:
                if current:
                    groups.append(current)
                current, current_end = [span], span.end
        if current:
            groups.append(current)
    return groups


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def moment(milliseconds: int) -> datetime:
    """Return the UTC datetime of a Unix time in milliseconds (exact: no float on the way)."""
    return _EPOCH + timedelta(milliseconds=milliseconds)


def _iso(milliseconds: int) -> str:
    return moment(milliseconds).strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Bounds:
    """A merged window's extent and the good measurements around it."""

    start: int
    end: int
    onset_after: int | None
    ended_before: int | None


def good_meanwhile(group: Sequence[Span]) -> int:
    """Return how many good measurements of the partition (any probe) fell inside the merged
    window: another probe that still loaded the platform (or reached the network) meanwhile."""
    return max(s.last_seen_good for s in group) - min(s.first_seen_good for s in group)


def bounds(group: Sequence[Span]) -> Bounds:
    """Return the merged extent, the last good before it and the first good after it."""
    start = min(s.start for s in group)
    end = max(s.end for s in group)
    before = [s.good_before for s in group if s.good_before is not None and s.good_before < start]
    after = [s.good_after for s in group if s.good_after is not None and s.good_after > end]
    return Bounds(start, end, max(before, default=None), min(after, default=None))


def confidence(
    measurements: int,
    probes: int,
    methods: dict[str, int],
    extent: Bounds,
    good: str,
    meanwhile: int = 0,
) -> tuple[Confidence, list[str]]:
    """Return how far a window can be trusted, and the facts behind that.

    high: at least three measurements, and either two or more probes or one consistent method,
    and no good measurement from the same partition inside the window; low: a single
    measurement; medium: anything between.
    """
    reasons = [
        f"{measurements} measurement{'s' * (measurements != 1)} from {probes}"
        f" probe{'s' * (probes != 1)}"
    ]
    if len(methods) == 1:
        (method,) = methods
        reasons.append(f"every one by {method}" if measurements > 1 else f"by {method}")
    elif methods:
        shares = ", ".join(f"{m} {n}" for m, n in Counter(methods).most_common())
        reasons.append(f"methods varied: {shares}")
    if extent.onset_after is None:
        reasons.append(f"nothing {good} before it in the period: it may have begun earlier")
    else:
        reasons.append(
            f"began between {_iso(extent.onset_after)} ({good}) and {_iso(extent.start)}"
        )
    if extent.ended_before is None:
        reasons.append(f"nothing {good} after it in the period: it may still be going on")
    else:
        reasons.append(f"ended between {_iso(extent.end)} and {_iso(extent.ended_before)} ({good})")
    if meanwhile:
        reasons.append(
            f"inside the window {meanwhile} other measurement{'s' * (meanwhile != 1)} found it"
            f" {good}: not seen from every vantage point (regional, or per-probe)"
        )
    if (
        measurements >= HIGH_CONFIDENCE_MEASUREMENTS
        and (probes >= 2 or len(methods) <= 1)
        and not meanwhile
    ):
        level = Confidence.HIGH
    elif measurements == 1:
        level = Confidence.LOW
    else:
        level = Confidence.MEDIUM
    return level, reasons


def _main_method(methods: dict[str, int]) -> Blocking | None:
    if not methods:
        return None
    order = {m: i for i, m in enumerate(METHODS)}
    best = max(methods, key=lambda m: (methods[m], -order.get(m, 99)))
    return Blocking(best) if best in order else None


UNKNOWN_NETWORK = "AS0"


def _window_fields(
    group: Sequence[Span], methods: dict[str, int], good: str, networks: Sequence[str]
) -> dict[str, Any]:
    """Return the fields every merged window has: extent, bounds, counts and confidence."""
    extent = bounds(group)
    n = sum(s.measurements for s in group)
    probes = len({s.probe_id for s in group})
    meanwhile = good_meanwhile(group)
    level, reasons = confidence(n, probes, methods, extent, good, meanwhile)
    if UNKNOWN_NETWORK in networks:
        # Issue 20: a "high" confidence outage of "AS0" from a probe with no ASN database.
        level = Confidence.LOW
        reasons.append(
            "the network is unknown (AS0: the probe had no ASN database; `probe geoip update`"
            " fetches one): it cannot be told which network this happened on"
        )
    return {
        "start": moment(extent.start),
        "end": moment(extent.end),
        "onset_after": None if extent.onset_after is None else moment(extent.onset_after),
        "ended_before": None if extent.ended_before is None else moment(extent.ended_before),
        "measurements": n,
        "probes": probes,
        "good_meanwhile": meanwhile,
        "confidence": level,
        "confidence_reasons": reasons,
    }


def incidents(spans: Iterable[Span], names: dict[str, str]) -> list[Incident]:
    """Return the incidents of spans keyed (network, platform); `names` maps ASN → name."""
    found = []
    for group in merge_overlapping(spans):
        network, platform = group[0].key
        methods: Counter[str] = Counter()
        for span in group:
            methods.update(span.methods)
        common = _window_fields(group, dict(methods), "accessible", [network])
        also = sorted(set().union(*(s.endpoint_methods for s in group)) - set(methods))
        if also:
            common["confidence_reasons"].append(f"other endpoints' methods: {', '.join(also)}")
        throttled_only = sum(s.throttled for s in group) == common["measurements"]
        found.append(
            Incident(
                platform=platform,
                network=network,
                network_name=names.get(network, ""),
                verdict=Verdict.THROTTLED if throttled_only else Verdict.BLOCKED,
                blocking=_main_method(dict(methods)),
                methods=dict(methods.most_common()),
                endpoints=sorted(set().union(*(s.endpoints for s in group))),
                **common,
            )
        )
    return sorted(found, key=lambda i: (i.start, i.network, i.platform))


# The word for a partition's good measurements, as the confidence reasons say it.
_GOOD_WORDS = {
    WindowKind.NETWORK_OUTAGE: "working",
    WindowKind.PLATFORM_DOWN: "up",
    WindowKind.WHITELISTING: "reaching abroad",
}


def failure_windows(spans: Iterable[Span], kind: WindowKind) -> list[FailureWindow]:
    """Return merged failure (or whitelisting) windows.

    For outages and whitelisting a span's key is (network,) and its members the platforms that
    failed (for whitelisting its endpoints are the control sites that loaded: the domestic
    ones); for a platform down the key is (platform,) and the members the networks that saw it.
    """
    by_network = kind is not WindowKind.PLATFORM_DOWN
    found = []
    for group in merge_overlapping(spans):
        (key,) = group[0].key
        seen = sorted(set().union(*(s.members for s in group)))
        sites = set().union(*(s.endpoints for s in group))
        found.append(
            FailureWindow(
                kind=kind,
                network=key if by_network else ("*" if len(seen) != 1 else seen[0]),
                platform="*" if by_network else key,
                networks=[key] if by_network else seen,
                platforms=seen if by_network else [key],
                sites_loaded=sorted(sites) if kind is WindowKind.WHITELISTING else [],
                **_window_fields(group, {}, _GOOD_WORDS[kind], [key] if by_network else seen),
            )
        )
    return sorted(found, key=lambda w: (w.start, w.network, w.platform))
