"""The report engine on a hand-made day, on DuckDB and on ClickHouse (chdb): the same SQL must
give the same incidents, windows, claims and timeline on both, and the right ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from probe.models.reports import (
    ClaimFinding,
    Confidence,
    Report,
    WindowKind,
)
from probe.models.results import Blocking, Verdict
from probe.report.build import bucket_width, build_report
from probe.report.claims import parse_claims
from probe.report.engines import ClickHouseEngine, DuckDbEngine, Engine
from probe.report.facts import FactRow, fact_row
from probe.report.sources import load_facts

from .records import START, Day, day
from .records import result as made_result

LAYOUT = Day()
PROBES = {"AS9198": "probe-a", "AS29355": "probe-b"}


def day_facts() -> list[FactRow]:
    rows = []
    for number, result in enumerate(day(LAYOUT)):
        record = result.model_dump(mode="json") | {"measurement_id": f"m{number:04d}"}
        rows.append(fact_row(record, PROBES[result.probe_asn]))
    return rows


def _claims_toml() -> str:
    def at(n: int, seconds: int = 0) -> str:
        return (LAYOUT.at(n) + timedelta(seconds=seconds)).isoformat()

    return f"""
[[claim]]
start = "{at(6)}"
end = "{at(12)}"
network = "AS9198"
statement = "technical reasons"
[[claim]]
start = "{at(12)}"
end = "{at(15)}"
network = "kcell"
statement = "an accident at power-supply equipment"
[[claim]]
start = "{at(18)}"
end = "{at(20)}"
platforms = ["youtube"]
statement = "a problem on our side"
[[claim]]
start = "2001-01-01T00:00:00Z"
end = "2001-01-02T00:00:00Z"
statement = "nothing measured"
[[claim]]
start = "{at(1)}"
end = "{at(5)}"
statement = "technical problems"
"""


ENGINES = {"duckdb": DuckDbEngine, "clickhouse": ClickHouseEngine}


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    made: Engine = ENGINES[request.param]()
    yield made
    made.close()


def _report(engine: Engine, rows: list[FactRow], **kwargs: Any) -> Report:
    load_facts(engine, rows)
    return build_report(
        engine, source="test", software_version="test", generated_at=START, **kwargs
    )


def test_the_day_on_each_engine(engine: Engine) -> None:
    report = _report(engine, day_facts(), claims=parse_claims(_claims_toml()))
    assert report.scope.measurements == 120 and report.scope.probes == 2
    assert report.scope.networks == ["AS29355", "AS9198"]

    (incident,) = report.incidents
    assert (incident.platform, incident.network, incident.network_name) == (
        "twitter", "AS9198", "JSC Kazakhtelecom",
    )  # fmt: skip
    assert (incident.start, incident.end) == (LAYOUT.at(6), LAYOUT.at(11))
    assert (incident.onset_after, incident.ended_before) == (LAYOUT.at(5), LAYOUT.at(12))
    assert (incident.verdict, incident.blocking) == (Verdict.BLOCKED, Blocking.TLS_RESET)
    assert incident.methods == {"tls_reset": 6} and incident.measurements == 6
    assert incident.endpoints == ["https://twitter.com/"] and incident.probes == 1
    assert incident.confidence is Confidence.HIGH, incident.confidence_reasons

    (outage,) = report.outages
    assert outage.kind is WindowKind.NETWORK_OUTAGE and outage.network == "AS29355"
    assert outage.platforms == ["twitter", "youtube"] and outage.measurements == 6
    assert outage.start == LAYOUT.at(12) + timedelta(seconds=3)
    assert outage.end == LAYOUT.at(14) + timedelta(seconds=4)
    assert outage.onset_after == LAYOUT.at(11) + timedelta(seconds=4)
    assert outage.ended_before == LAYOUT.at(15) + timedelta(seconds=3)

    assert report.whitelisting == []  # records without a network state: no whitelisting

    (down,) = report.platform_down
    assert down.kind is WindowKind.PLATFORM_DOWN and down.platform == "youtube"
    assert down.networks == ["AS29355", "AS9198"] and down.network == "*"
    assert down.probes == 2 and down.measurements == 4
    assert (down.start, down.end) == (
        LAYOUT.at(18) + timedelta(seconds=2), LAYOUT.at(19) + timedelta(seconds=4),
    )  # fmt: skip
    assert down.onset_after == LAYOUT.at(17) + timedelta(seconds=4)
    assert down.ended_before == LAYOUT.at(20) + timedelta(seconds=2)

    findings = [c.finding for c in report.claims]
    assert findings == [
        ClaimFinding.CONTRADICTED_BY_BLOCKING,
        ClaimFinding.CONSISTENT_WITH_OUTAGE,
        ClaimFinding.PLATFORM_OUTAGE,
        ClaimFinding.INSUFFICIENT_DATA,
        ClaimFinding.INSUFFICIENT_DATA,
    ], [c.summary for c in report.claims]
    contradicted = report.claims[0]
    assert contradicted.evidence.blocked_with_controls_up == 6
    assert contradicted.evidence.control_sites_reachable == [
        "https://example.com/", "https://www.wikipedia.org/",
    ]  # fmt: skip
    assert "twitter (tls_reset" in contradicted.summary and "vk" in contradicted.summary
    assert report.claims[1].evidence.networks == ["AS29355"]  # "kcell" matched the name
    assert "no measurement" in report.claims[3].summary
    assert report.claims[4].evidence.verdicts == {"accessible": 20}

    assert sum(sum(c.counts.values()) for c in report.timeline) == 120
    # 4 hours would fit 48 buckets of 5 minutes, but each lane is measured every 10: 15 minutes.
    assert report.bucket_seconds == 900


def test_both_engines_give_the_same_report() -> None:
    rows = day_facts()
    claims = parse_claims(_claims_toml())
    reports = []
    for name in sorted(ENGINES):
        engine = ENGINES[name]()
        try:
            reports.append(_report(engine, rows, claims=claims).model_dump(exclude={"engine"}))
        finally:
            engine.close()
    assert reports[0] == reports[1]


def test_the_period_cuts_the_windows(engine: Engine) -> None:
    # From round 8 on: the incident began before the period, so its onset is unknown.
    report = _report(engine, day_facts(), since=LAYOUT.at(8), until=LAYOUT.at(16))
    (incident,) = report.incidents
    assert incident.start == LAYOUT.at(8) and incident.onset_after is None
    assert any("may have begun earlier" in r for r in incident.confidence_reasons)
    assert report.scope.since == LAYOUT.at(8) and report.platform_down == []


def test_an_incident_still_going_on_has_no_end_bound(engine: Engine) -> None:
    layout = Day(rounds=10, twitter_blocked=range(6, 10), outage=range(0), youtube_down=range(0))
    rows = []
    for number, result in enumerate(day(layout)):
        record = result.model_dump(mode="json") | {"measurement_id": f"m{number:04d}"}
        rows.append(fact_row(record, PROBES[result.probe_asn]))
    (incident,) = _report(engine, rows).incidents
    assert incident.ended_before is None and incident.end == layout.at(9)


def test_hostile_names_survive_both_dialects(engine: Engine) -> None:
    # Quotes, backslashes and the list separator in names the SQL must carry as data.
    rows = day_facts()
    odd = "it's \\ a | 'name'"
    rows = [
        (*r[:4], odd, r[5], odd if r[6] == "vk" else r[6], *r[7:]) for r in rows
    ]  # network_name and platform
    claims = parse_claims(
        f'[[claim]]\nstart = "{LAYOUT.at(0).isoformat()}"\nend = "{LAYOUT.at(3).isoformat()}"\n'
        f"network = \"it's \\\\ a\"\nplatforms = [\"it's \\\\ a | 'name'\"]\n"
        'statement = "x"\n'
    )
    report = _report(engine, rows, claims=claims)
    assert odd in report.scope.platforms
    assert report.claims[0].evidence.accessible_platforms == [odd]


def test_overlapping_sources_count_once(engine: Engine) -> None:
    rows = day_facts()
    load_facts(engine, rows[:80])
    report = _report(engine, rows[40:])  # loads the rest, 40 of them a second time
    assert report.scope.measurements == 160
    engine.deduplicate()
    again = build_report(engine, source="t", software_version="t", generated_at=START)
    assert again.scope.measurements == 120 and len(again.incidents) == 1


def test_an_empty_source(engine: Engine) -> None:
    report = _report(engine, [], claims=parse_claims(_claims_toml()))
    assert report.scope.measurements == 0 and report.incidents == [] and report.timeline == []
    assert {c.finding for c in report.claims} == {ClaimFinding.INSUFFICIENT_DATA}


@pytest.mark.parametrize(
    ("seconds", "width"),
    [(3600, 300), (86400, 900), (7 * 86400, 3600), (10 * 86400, 3 * 3600), (30 * 86400, 6 * 3600),
     (365 * 86400, 7 * 86400), (40 * 365 * 86400, 28 * 86400)],
)  # fmt: skip
def test_bucket_width(seconds: int, width: int) -> None:
    assert bucket_width(seconds) == width
    assert bucket_width(seconds, at_least=3 * 86400) == max(width, 7 * 86400)


def test_report_json_has_the_documented_top_level_lists() -> None:
    engine = DuckDbEngine()
    try:
        report = _report(engine, day_facts())
    finally:
        engine.close()
    data = report.model_dump(mode="json")
    assert {"incidents", "outages", "claims"} <= set(data)
    incident = data["incidents"][0]
    for key in ("platform", "network", "start", "end", "verdict", "blocking", "measurements"):
        assert key in incident, key
    assert incident["start"] == "2022-01-04T13:00:00Z"
    assert datetime.fromisoformat(incident["end"]).tzinfo is not None
    assert report.generated_at.tzinfo is UTC or report.generated_at.utcoffset() == timedelta(0)


def test_a_block_one_probe_sees_and_another_does_not(engine: Engine) -> None:
    # Two probes on AS9198, measuring Twitter every ten minutes; probe-a's path is reset on the
    # SNI for rounds 5..8, probe-b (another city) loads Twitter all along.
    rows = []
    for number in range(12):
        for probe, offset in (("probe-a", 0), ("probe-b", 30)):
            blocked = probe == "probe-a" and 5 <= number <= 8
            when = LAYOUT.at(number) + timedelta(seconds=offset)
            made = made_result(when, "twitter", Verdict.BLOCKED if blocked else Verdict.ACCESSIBLE,
                          Blocking.TLS_RESET if blocked else None)  # fmt: skip
            record = made.model_dump(mode="json") | {"measurement_id": f"{probe}-{number}"}
            rows.append(fact_row(record, probe))
    (incident,) = _report(engine, rows).incidents
    assert incident.probes == 1 and incident.measurements == 4
    # probe-b loaded it at rounds 5, 6 and 7 (+30 s), inside [round 5, round 8].
    assert incident.good_meanwhile == 3
    assert incident.confidence is Confidence.MEDIUM, incident.confidence_reasons
    assert any("not seen from every vantage point" in r for r in incident.confidence_reasons)
