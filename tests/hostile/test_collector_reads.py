"""Issue 18: the read API was unauthenticated and unbounded (one request returned 283 MB).

Now measurements are served only with the read token (no token configured: closed), health
shows aggregates only, and a page stops at `max_page_bytes` of records.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from collector.harness import READ_TOKEN, bundle_of, make_records

from .conftest import StartCollector, big_field_bundle, new_identity

RECORD_FIELD_BYTES = 40 << 10
PAGE_BYTES = 100 << 10  # two such records fit, not three


def test_without_a_read_token_the_read_api_is_closed(
    hostile_collector: StartCollector, tmp_path: Path
) -> None:
    collector = hostile_collector()
    identity = new_identity(tmp_path, "probe")
    records = make_records(2)
    assert collector.upload(bundle_of(records, identity).to_bytes()).status_code == 201
    one = f"/api/v1/measurements/{identity.probe_id}/{records[0].measurement_id}"
    with httpx.Client(base_url=collector.url) as stranger:
        for path in ("/api/v1/measurements", one):
            answer = stranger.get(path)
            assert (answer.status_code, answer.json()["error"]) == (401, "missing_token"), path
            assert answer.headers["WWW-Authenticate"] == "Bearer"
            answer = stranger.get(path, headers={"Authorization": "Bearer guess"})
            assert (answer.status_code, answer.json()["error"]) == (401, "bad_token"), path
        health = stranger.get("/api/v1/health").json()
        assert set(health) == {"status", "version", "probes", "bundles", "measurements"}
    assert collector.client.get(one).status_code == 200  # with the token (the harness's)


def test_a_collector_without_a_read_token_serves_no_measurement(
    hostile_collector: StartCollector, tmp_path: Path
) -> None:
    collector = hostile_collector(read_token=False)
    identity = new_identity(tmp_path, "probe")
    records = make_records(1)
    assert collector.upload(bundle_of(records, identity).to_bytes()).status_code == 201
    one = f"/api/v1/measurements/{identity.probe_id}/{records[0].measurement_id}"
    for path in ("/api/v1/measurements", one):
        for headers in ({}, {"Authorization": f"Bearer {READ_TOKEN}"}):
            answer = collector.client.get(path, headers=headers)
            assert (answer.status_code, answer.json()["error"]) == (403, "read_closed"), path
    assert collector.client.get("/api/v1/health").json()["measurements"] == 1


def test_a_page_stops_at_its_byte_cap(hostile_collector: StartCollector, tmp_path: Path) -> None:
    collector = hostile_collector(max_page_bytes=PAGE_BYTES)
    identity = new_identity(tmp_path, "probe")
    for number in range(5):
        data = big_field_bundle(identity, RECORD_FIELD_BYTES, start=number)
        assert collector.upload(data).status_code == 201
    seen, cursor, pages = 0, 0, 0
    while cursor is not None:
        answer = collector.client.get("/api/v1/measurements",
                                      params={"limit": 1000, "cursor": cursor})  # fmt: skip
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert 1 <= len(page["measurements"]) <= 2
        seen += len(page["measurements"])
        cursor, pages = page["next_cursor"], pages + 1
    assert (seen, pages) == (5, 3)
