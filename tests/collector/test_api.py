"""The collector's API on a real server: uploads, duplicates, registration, reading back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx

from probe.collector.storage import CollectorStore
from probe.models.bundles import (
    BundleReceipt,
    CollectedMeasurement,
    CollectorHealth,
    MeasurementPage,
    RegisteredProbe,
)
from probe.models.stored import StoredResult
from probe.ship.identity import Identity

from .conftest import TOKEN
from .harness import BASE_TIME, RunningCollector, bundle_of, register


def _all(collector: RunningCollector, **params: str) -> list[CollectedMeasurement]:
    found: list[CollectedMeasurement] = []
    cursor = None
    while True:
        query: dict[str, str | int] = {"limit": 7, **params}
        if cursor is not None:
            query["cursor"] = cursor
        answer = collector.reader.get("/api/v1/measurements", params=query)
        assert answer.status_code == 200, answer.text
        page = MeasurementPage.model_validate_json(answer.content)
        found += page.measurements
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def test_an_upload_is_stored_byte_for_byte_and_indexed(
    collector: RunningCollector, identity: Identity, records: list[StoredResult]
) -> None:
    bundle = bundle_of(records[:10], identity)
    answer = collector.upload(bundle.to_bytes())
    assert answer.status_code == 201, answer.text
    receipt = BundleReceipt.model_validate_json(answer.content)
    assert receipt == BundleReceipt(bundle_id=bundle.bundle_id, probe_id=identity.probe_id,
                                    status="accepted", measurements=10, stored=10)  # fmt: skip
    kept = collector.data_dir / "bundles" / bundle.bundle_id[:2] / f"{bundle.bundle_id}.bundle"
    assert kept.read_bytes() == bundle.to_bytes(), "the bundle is kept exactly as received"
    stored = _all(collector)
    assert [m.measurement_id for m in stored] == [r.measurement_id for r in records[:10]]
    for measurement, record in zip(stored, records, strict=False):
        assert measurement.probe_id == identity.probe_id
        assert measurement.bundle_id == bundle.bundle_id
        expected = record.model_dump(mode="json")
        assert measurement.model_dump(mode="json", include=set(expected)) == expected
    health = CollectorHealth.model_validate_json(collector.client.get("/api/v1/health").content)
    assert (health.probes, health.bundles, health.measurements) == (1, 1, 10)


def test_a_replayed_bundle_is_a_duplicate_and_stores_nothing(
    collector: RunningCollector, identity: Identity, records: list[StoredResult]
) -> None:
    data = bundle_of(records[:5], identity).to_bytes()
    assert collector.upload(data).status_code == 201
    before = collector.snapshot()
    answer = collector.upload(data)
    assert answer.status_code == 200, answer.text
    receipt = BundleReceipt.model_validate_json(answer.content)
    assert (receipt.status, receipt.measurements, receipt.stored) == ("duplicate", 5, 0)
    assert collector.snapshot() == before


def test_repacked_measurements_are_stored_once(
    collector: RunningCollector, identity: Identity, records: list[StoredResult]
) -> None:
    first = bundle_of(records[0:10], identity)
    overlapping = bundle_of(records[5:15], identity)
    old_only = bundle_of(records[0:5], identity)
    assert collector.upload(first.to_bytes()).json()["stored"] == 10
    answer = collector.upload(overlapping.to_bytes())
    assert answer.status_code == 201
    assert (answer.json()["measurements"], answer.json()["stored"]) == (10, 5)
    answer = collector.upload(old_only.to_bytes())
    assert answer.status_code == 201, "a new bundle, even one that brings nothing new"
    assert answer.json()["stored"] == 0
    stored = _all(collector)
    assert [m.measurement_id for m in stored] == [r.measurement_id for r in records[:15]]
    assert {m.bundle_id for m in stored[5:10]} == {first.bundle_id}, "the first bringer"
    bundles = sorted(p.name for p in (collector.data_dir / "bundles").rglob("*.bundle"))
    assert bundles == sorted(f"{b.bundle_id}.bundle" for b in (first, overlapping)), (
        "a bundle that brings nothing new keeps no file"
    )


def test_measurements_are_filtered_paged_and_found_one_by_one(
    collector: RunningCollector, identity: Identity, records: list[StoredResult]
) -> None:
    assert collector.upload(bundle_of(records[:30], identity).to_bytes()).status_code == 201
    assert len(_all(collector)) == 30
    target = records[3].input
    assert [m.measurement_id for m in _all(collector, input=target)] == [
        r.measurement_id for r in records[:30] if r.input == target
    ]
    blocked = _all(collector, verdict="blocked")
    assert blocked and all(m.verdict == "blocked" for m in blocked)
    window = {"since": (BASE_TIME + timedelta(minutes=10)).isoformat(),
              "until": (BASE_TIME + timedelta(minutes=20)).isoformat()}  # fmt: skip
    assert [m.measurement_id for m in _all(collector, **window)] == [
        r.measurement_id for r in records[10:20]
    ]
    assert _all(collector, probe_id="0" * 64) == []

    one = collector.reader.get(f"/api/v1/measurements/{identity.probe_id}/"
                               f"{records[7].measurement_id}")  # fmt: skip
    assert one.status_code == 200
    assert CollectedMeasurement.model_validate_json(one.content).reasons == records[7].reasons
    missing = collector.reader.get(f"/api/v1/measurements/{identity.probe_id}/"
                                   f"{records[35].measurement_id}")  # fmt: skip
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    too_many = collector.reader.get("/api/v1/measurements", params={"limit": 1001})
    assert (too_many.status_code, too_many.json()["error"]) == (422, "invalid_request")


def test_openapi_describes_every_record_and_the_bundle_body(collector: RunningCollector) -> None:
    spec = collector.client.get("/openapi.json").json()
    schemas = set(spec["components"]["schemas"])
    assert {"BundleReceipt", "CollectorErrorBody", "ProbeRegistration", "RegisteredProbe",
            "CollectedMeasurement", "MeasurementPage", "CollectorHealth"} <= schemas  # fmt: skip
    upload = spec["paths"]["/api/v1/bundles"]["post"]
    assert "application/x-probe-bundle" in upload["requestBody"]["content"]
    assert {"200", "201", "400", "403", "413", "422"} <= set(upload["responses"])
    registration = spec["paths"]["/api/v1/probes"]["post"]["requestBody"]["content"]
    assert registration["application/json"]["schema"]["$ref"].endswith("/ProbeRegistration")


def test_unknown_routes_answer_the_error_body(collector: RunningCollector) -> None:
    for answer, status, code in (
        (collector.client.get("/nowhere"), 404, "not_found"),
        (collector.client.get("/api/v1/bundles"), 405, "method_not_allowed"),
    ):
        assert (answer.status_code, answer.json()["error"]) == (status, code)


# --- registration ---------------------------------------------------------------------------


def _register(collector: RunningCollector, identity: Identity, **headers: str) -> httpx.Response:
    return register(collector.client, identity, **headers)


def test_an_open_collector_registers_a_probe_on_its_first_upload(
    collector: RunningCollector, identity: Identity, records: list[StoredResult]
) -> None:
    assert collector.upload(bundle_of(records[:2], identity).to_bytes()).status_code == 201
    with CollectorStore.open(collector.data_dir, create=False) as store:
        assert store.probe_key(identity.probe_id) == identity.public_key_raw
    answer = _register(collector, identity)
    assert answer.status_code == 200
    assert RegisteredProbe.model_validate_json(answer.content).status == "known"


def test_registering_twice_answers_registered_then_known(
    collector: RunningCollector, identity: Identity
) -> None:
    first, second = _register(collector, identity), _register(collector, identity)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["probe_id"] == identity.probe_id
    assert first.json()["registered_at"] == second.json()["registered_at"]


def test_a_token_gated_collector_refuses_strangers(
    gated: RunningCollector, identity: Identity, records: list[StoredResult]
) -> None:
    data = bundle_of(records[:3], identity).to_bytes()
    answer = gated.upload(data)
    assert (answer.status_code, answer.json()["error"]) == (403, "unknown_probe")
    for headers, code in (({}, "missing_token"),
                          ({"Authorization": "Bearer wrong"}, "bad_token"),
                          ({"Authorization": f"Basic {TOKEN}"}, "bad_token")):  # fmt: skip
        answer = _register(gated, identity, **headers)
        assert (answer.status_code, answer.json()["error"]) == (401, code), headers
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert gated.snapshot()[0] == {"probes": 0, "bundles": 0, "measurements": 0}

    assert _register(gated, identity, Authorization=f"Bearer {TOKEN}").status_code == 201
    answer = gated.upload(data)
    assert answer.status_code == 201, answer.text


def test_a_registration_must_be_one_small_valid_key(collector: RunningCollector) -> None:
    for body, status, code in (
        (b'{"public_key": "not a key"}', 422, "invalid_request"),
        (b'{"public_key": "' + b"A" * 43 + b'=", "extra": 1}', 422, "invalid_request"),
        (b"[]", 422, "invalid_request"),
        (b'{"public_key": "' + b"A" * 8000 + b'"}', 413, "body_too_large"),
    ):
        answer = collector.client.post("/api/v1/probes", content=body)
        assert (answer.status_code, answer.json()["error"]) == (status, code), body[:40]
    assert collector.snapshot()[0]["probes"] == 0


def test_the_same_bundle_sent_at_once_is_stored_once(
    collector: RunningCollector, identity: Identity, records: list[StoredResult]
) -> None:
    data = bundle_of(records[:25], identity).to_bytes()
    barrier = threading.Barrier(6)

    def send() -> int:
        barrier.wait()
        return collector.upload(data).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(lambda _: send(), range(6)))
    assert statuses == [200] * 5 + [201]
    assert collector.snapshot()[0] == {"probes": 1, "bundles": 1, "measurements": 25}


def test_the_committed_openapi_document_is_current() -> None:
    from probe.collector.app import openapi_text

    committed = Path(__file__).resolve().parents[2] / "docs" / "collector-openapi.json"
    assert committed.read_text(encoding="utf-8") == openapi_text(), (
        "run: python -m probe.collector.app > docs/collector-openapi.json"
    )
