"""The outbox in the store: sealing, acknowledging, exporting, migrating, racing sealers."""

from __future__ import annotations

import io
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.errors import BundleError
from probe.ship.bundle import Limits, iter_bundles, unpack_records, verify_signature
from probe.ship.identity import Identity, create_identity
from probe.ship.outbox import export_outbox, seal
from probe.store import ResultStore
from probe.store.outbox import ACKNOWLEDGED, PENDING

from .records import sample_result


@pytest.fixture
def identity(tmp_path: Path) -> Identity:
    return create_identity(tmp_path / "key")[0]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResultStore]:
    with ResultStore.open(tmp_path / "data") as opened:
        yield opened


def _fill(store: ResultStore, count: int, start: int = 0) -> list[str]:
    return [
        str(store.add_result(sample_result(i), "job").measurement_id)
        for i in range(start, start + count)
    ]


def test_seal_respects_the_limits(store: ResultStore, identity: Identity) -> None:
    ids = _fill(store, 25)
    report = seal(store, identity, max_records=10, max_bytes=1 << 20)
    assert report.measurements == 25 and len(report.bundles) == 3
    assert [e.count for e in store.outbox()] == [10, 10, 5]
    # A second seal finds nothing left to bundle.
    assert seal(store, identity, max_records=10, max_bytes=1 << 20).bundles == []
    packed = []
    for entry in store.outbox():
        data = store.bundle_bytes(entry.bundle_id)
        assert data is not None
        for bundle in iter_bundles(io.BytesIO(data), Limits()):
            assert not isinstance(bundle, BundleError)
            verify_signature(bundle)
            packed += [str(r.measurement_id) for r in unpack_records(bundle, Limits())]
    assert packed == ids  # oldest first, each once


def test_byte_limit_splits_and_one_big_record_still_ships(
    store: ResultStore, identity: Identity
) -> None:
    store.add_result(sample_result(0, reasons=400), "job")  # ~5 KiB record
    _fill(store, 3, start=1)
    seal(store, identity, max_records=100, max_bytes=2048)
    counts = [e.count for e in store.outbox()]
    assert sum(counts) == 4 and counts[0] == 1, counts


def test_acknowledge_marks_results_uploaded(store: ResultStore, identity: Identity) -> None:
    _fill(store, 4)
    seal(store, identity, max_records=2, max_bytes=1 << 20)
    first, second = store.outbox()
    assert store.acknowledge_bundle(first.bundle_id, "https://c.example") == 2
    assert store.bundle_bytes(first.bundle_id) is None
    assert [e.bundle_id for e in store.outbox()] == [second.bundle_id]
    assert [e.state for e in store.outbox((ACKNOWLEDGED,))] == [ACKNOWLEDGED]
    stats = store.outbox_stats()
    assert (stats.pending_bundles, stats.pending_measurements, stats.unbundled) == (1, 2, 0)
    assert store.stats().pending == 2
    # Retention may now delete the uploaded results, and only those.
    assert store.apply_retention(max_age_s=0, max_bytes=None) == 2
    assert store.stats().results == 2


def test_reject_and_requeue(store: ResultStore, identity: Identity) -> None:
    _fill(store, 1)
    seal(store, identity, max_records=5, max_bytes=1 << 20)
    (entry,) = store.outbox()
    store.reject_bundle(entry.bundle_id, "422 invalid_record: record 1: …")
    assert store.outbox() == [] and store.outbox_stats().rejected_bundles == 1
    assert store.requeue_rejected() == 1
    assert [e.state for e in store.outbox()] == [PENDING]


def test_export_then_inspect(store: ResultStore, identity: Identity, tmp_path: Path) -> None:
    _fill(store, 7)
    seal(store, identity, max_records=3, max_bytes=1 << 20)
    out = tmp_path / "carry.bundles"
    report = export_outbox(store, out, include_exported=False)
    assert (report.bundles, report.measurements) == (3, 7)
    with out.open("rb") as handle:
        items = list(iter_bundles(handle, Limits()))
    assert sum(len(unpack_records(b, Limits())) for b in items if not isinstance(b, Exception))
    assert store.stats().pending == 0  # exported counts as shipped for retention
    assert len(store.outbox()) == 3  # … but the bundles still wait for an upload
    assert export_outbox(store, out, include_exported=False).bundles == 0
    assert export_outbox(store, out, include_exported=True).bundles == 3


def test_unwritable_export_loses_nothing(store: ResultStore, identity: Identity) -> None:
    _fill(store, 2)
    seal(store, identity, max_records=3, max_bytes=1 << 20)
    with pytest.raises(Exception, match="cannot write"):
        export_outbox(store, Path("/proc/no/such/dir/out"), include_exported=False)
    assert store.outbox()[0].exported_at is None and store.stats().pending == 2


def test_a_corrupted_row_is_quarantined_not_shipped(store: ResultStore, identity: Identity) -> None:
    good = _fill(store, 2)
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE results SET record = '{\"broken\": true}' WHERE measurement_id = ?",
                   (good[0],))  # fmt: skip
    report = seal(store, identity, max_records=10, max_bytes=1 << 20)
    assert (report.measurements, report.quarantined) == (1, 1)
    assert seal(store, identity, max_records=10, max_bytes=1 << 20).bundles == []


def test_racing_sealers_never_bundle_a_result_twice(tmp_path: Path, identity: Identity) -> None:
    data = tmp_path / "data"
    with ResultStore.open(data) as store:
        _fill(store, 300)
    errors: list[BaseException] = []

    def sealer() -> None:
        try:
            with ResultStore.open(data) as own:
                seal(own, identity, max_records=7, max_bytes=1 << 20)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=sealer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    with sqlite3.connect(data / "results.sqlite3") as db:
        unbundled = db.execute("SELECT COUNT(*) FROM results WHERE bundle_id IS NULL").fetchone()
        total = db.execute("SELECT COALESCE(SUM(count), 0) FROM bundles").fetchone()
        orphans = db.execute(
            "SELECT COUNT(*) FROM results r LEFT JOIN bundles b USING (bundle_id)"
            " WHERE b.bundle_id IS NULL"
        ).fetchone()
    assert unbundled == (0,) and total == (300,) and orphans == (0,)


V1_SCHEMA = """
CREATE TABLE results (seq INTEGER PRIMARY KEY AUTOINCREMENT, measurement_id TEXT NOT NULL UNIQUE,
    job TEXT NOT NULL, run_id INTEGER, input TEXT NOT NULL, verdict TEXT NOT NULL,
    measured_at TEXT NOT NULL, stored_at TEXT NOT NULL, size INTEGER NOT NULL,
    record TEXT NOT NULL, uploaded_at TEXT, exported_at TEXT);
CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL,
    pid INTEGER NOT NULL, started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL,
    targets INTEGER NOT NULL DEFAULT 0, stored INTEGER NOT NULL DEFAULT 0,
    estimated_bytes INTEGER NOT NULL DEFAULT 0, error TEXT, unmeasured TEXT NOT NULL DEFAULT '[]');
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
PRAGMA user_version = 1;
"""


def test_a_store_from_issue_4_is_migrated(tmp_path: Path, identity: Identity) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with ResultStore.open(tmp_path / "donor") as donor:
        donor.add_result(sample_result(1), "old")
        row = (
            sqlite3.connect(donor.path)
            .execute(
                "SELECT measurement_id, job, input, verdict, measured_at, stored_at, size, record"
                " FROM results"
            )
            .fetchone()
        )
    db = sqlite3.connect(data / "results.sqlite3")
    db.executescript(V1_SCHEMA)
    db.execute("INSERT INTO results (measurement_id, job, input, verdict, measured_at,"
               " stored_at, size, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)  # fmt: skip
    db.commit()
    db.close()
    with ResultStore.open(data) as store:
        assert store.stats().results == 1
        assert seal(store, identity, max_records=5, max_bytes=1 << 20).measurements == 1
    with ResultStore.open(data) as store:  # and opens again at version 2
        assert store.outbox_stats().pending_bundles == 1
