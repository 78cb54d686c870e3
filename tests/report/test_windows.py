"""Windows: the SQL's per-probe spans against a plain-Python reference on random histories
(on both engines), and the pure merging, bounds and confidence rules."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe.models.reports import Confidence
from probe.report import sql
from probe.report.engines import ClickHouseEngine, DuckDbEngine, Engine
from probe.report.facts import FactRow
from probe.report.sources import load_facts
from probe.report.windows import Bounds, Span, bounds, confidence, merge_overlapping, span_of

# (verdict, blocking, network state): what a measurement can be, whitelisting included.
KINDS = (("accessible", "", "normal"), ("accessible", "", "whitelisted"), ("accessible", "", ""),
         ("blocked", "tls_reset", "normal"), ("blocked", "tls_reset", "whitelisted"),
         ("throttled", "throttling", ""), ("network_outage", "", "outage"),
         ("service_down", "", "normal"), ("inconclusive", "", "intercepted"),
         ("blocked", "whitelisting", "whitelisted"))  # fmt: skip
SPECS = {"incidents": sql.INCIDENTS, "outages": sql.OUTAGES, "platform_down": sql.PLATFORM_DOWN,
         "whitelisting": sql.WHITELISTING}  # fmt: skip
VERDICT, BLOCKING, STATE = 8, 9, 15  # columns of a fact row


def _fact(i: int, probe: str, t: int, network: str, platform: str,
          kind: tuple[str, str, str]) -> FactRow:  # fmt: skip
    verdict, blocking, state = kind
    return (f"m{i:05d}", probe, t, network, "", "KZ", platform, platform, verdict, blocking,
            blocking, "", 2, 2, "", state)  # fmt: skip


def _bad(row: FactRow, spec: sql.WindowSpec) -> bool:
    return spec.bad.matches(str(row[VERDICT]), str(row[BLOCKING]), str(row[STATE]))


def _good(row: FactRow, spec: sql.WindowSpec) -> bool:
    return spec.good.matches(str(row[VERDICT]), str(row[BLOCKING]), str(row[STATE]))


histories = st.lists(
    st.tuples(
        st.sampled_from(["p1", "p2"]),
        st.integers(0, 40),  # few distinct times: ties must be broken by the id, as in SQL
        st.sampled_from(["AS1", "AS2"]),
        st.sampled_from(["twitter", "vk"]),
        st.sampled_from(KINDS),
    ),
    max_size=60,
)


@dataclass
class _Open:
    start: int
    good_before: int | None
    end: int = 0
    n: int = 0
    ids: list[str] = field(default_factory=list)


def _seen_good(rows: list[FactRow], spec: sql.WindowSpec) -> dict[str, int]:
    """For every row: the good measurements of its partition, every probe, up to it."""
    columns = {"network": 3, "platform": 6}
    seen: dict[str, int] = {}
    counts: dict[tuple[object, ...], int] = {}
    for row in sorted(rows, key=lambda r: (r[2], r[0])):
        if _bad(row, spec) or _good(row, spec):
            key = tuple(row[columns[c]] for c in spec.partition)
            counts[key] = counts.get(key, 0) + _good(row, spec)
            seen[str(row[0])] = counts[key]
    return seen


def reference_spans(rows: list[FactRow], spec: sql.WindowSpec) -> set[tuple[object, ...]]:
    """The windows, the obvious way: walk each probe's history in (t, id) order."""
    columns = {"network": 3, "platform": 6}
    seen = _seen_good(rows, spec)
    groups: dict[tuple[object, ...], list[FactRow]] = {}
    for row in rows:
        if _bad(row, spec) or _good(row, spec):
            key = (*(row[columns[c]] for c in spec.partition), row[1])
            groups.setdefault(key, []).append(row)
    found = set()

    def close(key: tuple[object, ...], span: _Open, after: int | None) -> None:
        counts = [seen[i] for i in span.ids]
        found.add((*key, span.start, span.end, span.n, span.good_before, after,
                   min(counts), max(counts)))  # fmt: skip

    for key, group in groups.items():
        last_good: int | None = None
        current: _Open | None = None
        for row in sorted(group, key=lambda r: (r[2], r[0])):
            t = int(row[2])
            if _good(row, spec):
                if current is not None:
                    close(key, current, t)
                    current = None
                last_good = t
            else:
                current = current or _Open(start=t, good_before=last_good)
                current.end, current.n = t, current.n + 1
                current.ids.append(str(row[0]))
        if current is not None:
            close(key, current, None)
    return found


def sql_spans(engine: Engine, spec: sql.WindowSpec) -> set[tuple[object, ...]]:
    rows = engine.query(sql.windows_query(engine.dialect, spec, 0, 10**9))
    spans = [span_of(row, len(spec.partition)) for row in rows]
    return {(*s.key, s.probe_id, s.start, s.end, s.measurements, s.good_before, s.good_after,
             s.first_seen_good, s.last_seen_good) for s in spans}  # fmt: skip


@pytest.fixture(scope="module", params=["duckdb", "clickhouse"])
def engine_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


def _engine(kind: str) -> Engine:
    return DuckDbEngine() if kind == "duckdb" else ClickHouseEngine()


SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@settings(max_examples=40, deadline=None, suppress_health_check=SLOW)
@given(history=histories)
def test_sql_windows_match_the_reference(
    engine_kind: str, history: list[tuple[object, ...]]
) -> None:
    rows = [_fact(i, *item) for i, item in enumerate(history)]  # type: ignore[arg-type]
    engine = _engine(engine_kind)
    try:
        load_facts(engine, rows)
        for name, spec in SPECS.items():
            assert sql_spans(engine, spec) == reference_spans(rows, spec), name
    finally:
        engine.close()


def _span(probe: str, start: int, end: int, before: int | None, after: int | None) -> Span:
    return Span(key=("AS1", "twitter"), probe_id=probe, start=start, end=end, measurements=2,
                good_before=before, good_after=after)  # fmt: skip


def test_overlapping_spans_of_two_probes_are_one_window() -> None:
    spans = [_span("p1", 100, 200, 90, 210), _span("p2", 150, 300, 140, None),
             _span("p1", 400, 500, 300, 510)]  # fmt: skip
    groups = merge_overlapping(spans)
    assert [[s.start for s in g] for g in groups] == [[100, 150], [400]]
    # The onset is bounded by the last good before the first block; p2 is still blocked.
    assert bounds(groups[0]) == Bounds(start=100, end=300, onset_after=90, ended_before=None)
    assert bounds(groups[1]) == Bounds(start=400, end=500, onset_after=300, ended_before=510)


def test_chained_overlaps_merge_transitively() -> None:
    spans = [_span("p1", 0, 10, None, 11), _span("p2", 10, 20, None, 21),
             _span("p3", 20, 30, None, 31), _span("p4", 31, 40, None, None)]  # fmt: skip
    assert [len(g) for g in merge_overlapping(spans)] == [3, 1]


@pytest.mark.parametrize(
    ("n", "probes", "methods", "level"),
    [(1, 1, {"tls_reset": 1}, Confidence.LOW), (2, 1, {"tls_reset": 2}, Confidence.MEDIUM),
     (3, 1, {"tls_reset": 3}, Confidence.HIGH),
     (4, 1, {"tls_reset": 2, "tcp_timeout": 2}, Confidence.MEDIUM),
     (4, 2, {"tls_reset": 2, "tcp_timeout": 2}, Confidence.HIGH)],
)  # fmt: skip
def test_confidence(n: int, probes: int, methods: dict[str, int], level: Confidence) -> None:
    got, reasons = confidence(n, probes, methods, Bounds(0, 60, None, 120), "accessible")
    assert got is level, reasons
    assert reasons[0].startswith(f"{n} measurement")
    assert any("may have begun earlier" in r for r in reasons)
    assert any(r.startswith("ended between") for r in reasons)


# What opens (bad) and closes (good) each kind of window, as docs/reports.md "Windows" says;
# every other kind of measurement is neutral. By index into KINDS.
OPENS_AND_CLOSES = {
    "incidents": ({3, 4, 5}, {0, 1, 2}),  # whitelisting is the network's, not an incident
    "outages": ({6}, {0, 1, 2, 3, 4, 5, 7, 9}),  # whitelisting: the network carried traffic
    "platform_down": ({7}, {0, 1, 2, 3, 4, 5}),  # whitelisting says nothing of the platform
    "whitelisting": ({9}, {0, 3, 7}),  # lifted when a site abroad loaded (state normal)
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_what_opens_and_closes_each_window(name: str) -> None:
    spec = SPECS[name]
    bad = {i for i, kind in enumerate(KINDS) if spec.bad.matches(*kind)}
    good = {i for i, kind in enumerate(KINDS) if spec.good.matches(*kind)}
    assert (bad, good) == OPENS_AND_CLOSES[name]
    assert not bad & good


def test_an_unknown_network_is_never_high_confidence() -> None:
    """Issue 20: a default install filed everything under AS0, and the report gave a "high"
    confidence outage of "AS0"; the same evidence on a named network stays high."""
    from probe.models.reports import WindowKind
    from probe.report.windows import failure_windows, incidents

    def spans(network: str, key: tuple[str, ...]) -> list[Span]:
        return [Span(key=key, probe_id="p1", start=0, end=600_000, measurements=6,
                     methods={"tls_reset": 6}, members=frozenset({"twitter"}),
                     good_before=None, good_after=700_000)]  # fmt: skip

    (named,) = failure_windows(spans("AS9198", ("AS9198",)), WindowKind.NETWORK_OUTAGE)
    (unknown,) = failure_windows(spans("AS0", ("AS0",)), WindowKind.NETWORK_OUTAGE)
    assert named.confidence is Confidence.HIGH
    assert unknown.confidence is Confidence.LOW
    assert any("network is unknown" in r for r in unknown.confidence_reasons)
    (incident,) = incidents(spans("AS0", ("AS0", "twitter")), {})
    assert incident.confidence is Confidence.LOW
