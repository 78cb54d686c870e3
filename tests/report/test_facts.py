"""A stored record → one fact; a record that lacks what a fact needs is skipped with a reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from probe.models.reports import MeasurementFact
from probe.models.results import Blocking, Verdict
from probe.report.facts import Skipped, fact_of, fact_row, facts_from_json

from .records import START, result


def _record(**changes: Any) -> dict[str, Any]:
    made = result(START, "twitter", Verdict.BLOCKED, Blocking.TLS_RESET)
    record = made.model_dump(mode="json") | {"measurement_id": "m1", "job": "j"}
    record.update(changes)
    return record


def test_a_blocked_platform() -> None:
    fact = fact_of(fact_row(_record(), "probe-a"))
    assert fact == MeasurementFact(
        measurement_id="m1", probe_id="probe-a", t_ms=int(START.timestamp()) * 1000,
        network="AS9198", network_name="JSC Kazakhtelecom", cc="KZ", platform="twitter",
        input="twitter", verdict=Verdict.BLOCKED, blocking="tls_reset", methods="tls_reset",
        endpoints="https://twitter.com/", controls_total=4, controls_ok=4,
        control_sites_ok="https://www.wikipedia.org/|https://example.com/",
    )  # fmt: skip


def test_a_domain_target_without_a_platform_uses_its_name() -> None:
    record = _record()
    record["target"] = record["target"] | {"platform": None, "name": "kaspi.kz"}
    assert fact_of(fact_row(record, "p")).platform == "kaspi.kz"


def test_the_separator_inside_a_value_is_escaped() -> None:
    record = _record()
    record["controls"][0]["url"] = "https://a/?x=1|2"
    fact = fact_of(fact_row(record, "p"))
    assert "https://a/?x=1%7C2" in fact.control_sites_ok.split("|")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "Expecting property name"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps(_record(verdict="banned")), "unknown verdict 'banned'"),
        (json.dumps({k: v for k, v in _record().items() if k != "target"}), "'target'"),
        (json.dumps(_record(measurement_start_time="yesterday")), "malformed record"),
        (json.dumps(_record(endpoints="nope")), "malformed record"),
        (json.dumps(_record(target=None)), "malformed record"),
        ("[" * 100_000, ""),
    ],
)
def test_unreadable_records_are_skipped(text: str, reason: str) -> None:
    skipped = Skipped()
    good = json.dumps(_record())
    rows = list(facts_from_json([("a", "p", text), ("b", "p", good)], skipped))
    assert len(rows) == 1 and skipped.count == 1
    assert skipped.reasons[0].startswith("a: ") and reason in skipped.reasons[0]


def test_skipped_keeps_only_the_first_reasons() -> None:
    skipped = Skipped()
    list(facts_from_json([(str(i), "p", "x") for i in range(50)], skipped))
    assert skipped.count == 50 and len(skipped.reasons) == 10
