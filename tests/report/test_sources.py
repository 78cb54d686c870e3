"""Bundle files as a report source: a bundle counts whole or not at all."""

from __future__ import annotations

from pathlib import Path

from collector.harness import lines_of, make_records, seal

from probe.report.facts import Skipped
from probe.report.sources import bundle_facts
from probe.ship.identity import create_identity


def test_a_signed_bundle_with_one_bad_record_is_skipped_whole(tmp_path: Path) -> None:
    identity = create_identity(tmp_path / "key")[0]
    good = make_records(5)
    lines = lines_of(good).splitlines(keepends=True)
    # Signed by the probe, hash and count consistent, but the third record is not a result.
    broken = b"".join([*lines[:2], b'{"input": "x"}\n', *lines[3:]])
    carried = tmp_path / "carry.bundles"
    carried.write_bytes(seal(identity, lines_of(good)) + seal(identity, broken))
    skipped = Skipped()
    rows = list(bundle_facts([carried], skipped))
    assert len(rows) == 5, "the first bundle's 5 records, none of the second's"
    assert {row[1] for row in rows} == {identity.probe_id}
    assert skipped.count == 1 and skipped.reasons[0].startswith(f"{carried} bundle 2: ")
