"""Issue 18: nothing limited the bytes or bundles one probe could have stored. Now a probe has
`max_bundles_per_probe_per_day` and `max_bytes_per_probe_per_day` (uncompressed) in any 24 h;
past either, 429 (the probe retries later) and nothing stored."""

from __future__ import annotations

from pathlib import Path

from collector.harness import bundle_of, make_records

from .conftest import Snapshot, StartCollector, big_field_bundle, new_identity

BUNDLES = 3


def test_bundles_and_bytes_per_probe_per_day(
    hostile_collector: StartCollector, tmp_path: Path
) -> None:
    collector = hostile_collector(max_bundles_per_probe_per_day=BUNDLES,
                                  max_bytes_per_probe_per_day=200_000)  # fmt: skip
    busy = new_identity(tmp_path, "busy")
    for number in range(BUNDLES):
        data = bundle_of(make_records(2, start=2 * number), busy).to_bytes()
        assert collector.upload(data).status_code == 201
    before = Snapshot.of(collector)
    answer = collector.upload(bundle_of(make_records(2, start=100), busy).to_bytes())
    assert (answer.status_code, answer.json()["error"]) == (429, "daily_bundles_exceeded")
    assert answer.headers["Retry-After"]
    assert Snapshot.of(collector) == before

    heavy = new_identity(tmp_path, "heavy")
    accepted = big_field_bundle(heavy, 150_000)
    assert collector.upload(accepted).status_code == 201
    before = Snapshot.of(collector)
    answer = collector.upload(big_field_bundle(heavy, 60_000, start=1))
    assert (answer.status_code, answer.json()["error"]) == (429, "daily_bytes_exceeded")
    assert Snapshot.of(collector) == before
    # A replay of an accepted bundle is still acknowledged: the quota counts what is new.
    assert collector.upload(accepted).status_code == 200
