"""Issue 18, "a few kilobytes fill the collector": a record with a 60 MiB string field was
63,690 bytes on the wire, 654 MB of memory while ingesting and 283 MB on disk.

Now the record cap stops the inflating as soon as a line passes it, and the field cap refuses
a long string in a record that fits: both 413, nothing stored, and a flood of them keeps the
collector's peak RSS under RSS_LIMIT_MB (VmHWM, read from /proc of the server process).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from collector.harness import BUNDLE_MEDIA_TYPE

from .conftest import RSS_LIMIT_MB, Snapshot, StartCollector, big_field_bundle, new_identity

FIELD_60_MIB = 60 << 20
FLOOD_UPLOADS = 48  # bounded in count: 48 × 63 KB sent, 48 × 60 MiB declared inside
FLOOD_THREADS = 12


@pytest.fixture(scope="module")
def bomb_record(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The issue's record: valid, signed, one 60 MiB string, ≈ 64 KB on the wire."""
    identity = new_identity(tmp_path_factory.mktemp("attacker"), "probe")
    data = big_field_bundle(identity, FIELD_60_MIB)
    assert len(data) < 100_000, len(data)
    return data


def test_a_60_mib_field_is_refused_at_the_record_cap_and_nothing_is_stored(
    hostile_collector: StartCollector, bomb_record: bytes
) -> None:
    collector = hostile_collector()
    before = Snapshot.of(collector)
    answer = collector.upload(bomb_record)
    assert (answer.status_code, answer.json()["error"]) == (413, "record_too_large"), answer.text
    assert Snapshot.of(collector) == before
    assert collector.peak_rss_mb() < RSS_LIMIT_MB


def test_a_long_field_in_a_record_under_the_cap_is_refused(
    hostile_collector: StartCollector, tmp_path: Path
) -> None:
    """2 MiB in one string: under the 4 MiB record cap, over the 1 MiB field cap."""
    collector = hostile_collector()
    data = big_field_bundle(new_identity(tmp_path, "probe"), 2 << 20)
    before = Snapshot.of(collector)
    answer = collector.upload(data)
    assert (answer.status_code, answer.json()["error"]) == (413, "field_too_large"), answer.text
    assert "record 1" in answer.json()["detail"]
    assert Snapshot.of(collector) == before


def test_a_flood_of_them_keeps_memory_bounded_and_stores_nothing(
    hostile_collector: StartCollector, bomb_record: bytes
) -> None:
    collector = hostile_collector()
    before = Snapshot.of(collector)

    def send(_: int) -> tuple[int, str]:
        with httpx.Client(base_url=collector.url, timeout=60) as client:
            answer = client.post("/api/v1/bundles", content=bomb_record,
                                 headers={"Content-Type": BUNDLE_MEDIA_TYPE})  # fmt: skip
            return answer.status_code, answer.json()["error"]

    with ThreadPoolExecutor(FLOOD_THREADS) as pool:
        answers = list(pool.map(send, range(FLOOD_UPLOADS)))
    refusals = set(answers)
    # Never a 5xx. Past the per-client cap (8 bodies in flight) a sender is told 429 at once,
    # and an unknown probe's uploads count against its address's registrations (10 an hour).
    allowed = {(413, "record_too_large"), (429, "too_many_requests"),
               (429, "too_many_registrations")}  # fmt: skip
    assert refusals <= allowed, refusals
    assert (413, "record_too_large") in refusals
    assert Snapshot.of(collector) == before
    peak = collector.peak_rss_mb()
    assert peak < RSS_LIMIT_MB, f"peak RSS {peak:.0f} MB under {FLOOD_UPLOADS} 60 MiB records"
