"""The outbox: sealed bundles waiting for a collector's acknowledgement, in the store's file.

A bundle's bytes live in the same SQLite file as the results they hold, and sealing is one
transaction (insert the bundle, tag its results), so no crash can leave a bundle without its
results tagged or results tagged without a bundle. A bundle is built once and its bytes never
change: a resend after a lost acknowledgement is the same bundle, with the same id.

States: `pending` (to upload), `acknowledged` (a collector has it: bytes dropped, its results
marked uploaded), `rejected` (a collector refused it for good: kept, not resent, shown in
`probe status`; `probe upload --retry-rejected` queues it again).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from probe.errors import StoreError
from probe.store.database import Database
from probe.store.timestamps import iso as _iso
from probe.store.timestamps import parse_optional as _parse

PENDING = "pending"
ACKNOWLEDGED = "acknowledged"
REJECTED = "rejected"
# A row whose record no longer validates is never bundled (it would be refused forever).
QUARANTINED = "quarantined"
_CHUNK = 500

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS bundles (
    bundle_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    count INTEGER NOT NULL,
    size INTEGER NOT NULL,
    data BLOB,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_at TEXT,
    last_error TEXT,
    acknowledged_at TEXT,
    collector TEXT,
    exported_at TEXT
);
CREATE INDEX IF NOT EXISTS bundles_state ON bundles (state, created_at);
CREATE INDEX IF NOT EXISTS results_unbundled ON results (seq) WHERE bundle_id IS NULL;
CREATE INDEX IF NOT EXISTS results_bundle ON results (bundle_id);
"""


class SealRaced(StoreError):
    """Another process bundled some of the same results first: read the unbundled again."""


@dataclass(frozen=True)
class UnbundledRow:
    """A stored result not yet in any bundle, as stored (its JSON text untouched)."""

    measurement_id: str
    measured_at: datetime
    record: str


@dataclass(frozen=True)
class OutboxEntry:
    """One bundle in the outbox, without its bytes."""

    bundle_id: str
    created_at: datetime
    count: int
    size: int
    state: str
    attempts: int
    last_attempt_at: datetime | None
    last_error: str | None
    acknowledged_at: datetime | None
    collector: str | None
    exported_at: datetime | None


@dataclass(frozen=True)
class OutboxStats:
    """What `probe status` and the metrics say about the outbox."""

    pending_bundles: int
    pending_bytes: int
    pending_measurements: int
    rejected_bundles: int
    unbundled: int


_ENTRY_COLUMNS = (
    "bundle_id, created_at, count, size, state, attempts, last_attempt_at, last_error,"
    " acknowledged_at, collector, exported_at"
)


def _entry(row: tuple[object, ...]) -> OutboxEntry:
    bundle_id, created, count, size, state, attempts, attempted, error, acked, url, exp = row
    return OutboxEntry(
        bundle_id=str(bundle_id), created_at=_parse(created) or datetime.now(UTC),
        count=int(str(count)), size=int(str(size)), state=str(state),
        attempts=int(str(attempts)), last_attempt_at=_parse(attempted),
        last_error=None if error is None else str(error), acknowledged_at=_parse(acked),
        collector=None if url is None else str(url), exported_at=_parse(exp),
    )  # fmt: skip


class OutboxQueries:
    """The outbox half of `ResultStore` (mixed in: one connection, one lock, one file)."""

    path: Path
    _db: Database

    def unbundled(self, *, max_records: int, max_bytes: int) -> list[UnbundledRow]:
        """Return the oldest results in no bundle: up to `max_records` and `max_bytes` of
        records (always at least one when any is waiting)."""
        rows = self._db.read(
            "SELECT measurement_id, measured_at, record, size FROM results"
            " WHERE bundle_id IS NULL ORDER BY seq LIMIT ?",
            (max_records,),
        )
        picked: list[UnbundledRow] = []
        total = 0
        for measurement_id, measured_at, record, size in rows:
            total += int(str(size)) + 1
            if picked and total > max_bytes:
                break
            moment = _parse(measured_at) or datetime.now(UTC)
            picked.append(UnbundledRow(str(measurement_id), moment, str(record)))
        return picked

    def quarantine(self, measurement_ids: Sequence[str]) -> None:
        """Keep results whose records no longer validate out of every bundle."""
        self._tag(QUARANTINED, measurement_ids)

    def add_bundle(
        self, bundle_id: str, data: bytes, measurement_ids: Sequence[str], created_at: datetime
    ) -> None:
        """Put a sealed bundle in the outbox and tag its results with it, in one transaction.

        SealRaced if any of the results is already in a bundle (two sealers raced).
        """
        with self._db.transaction():
            self._db.write(
                "INSERT INTO bundles (bundle_id, created_at, count, size, data, state)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (bundle_id, _iso(created_at), len(measurement_ids), len(data), data, PENDING),
            )
            tagged = self._tag_in_transaction(bundle_id, measurement_ids)
            if tagged != len(measurement_ids):
                raise SealRaced(
                    f"{self.path}: {len(measurement_ids) - tagged} of the bundle's results"
                    " are already in another bundle (sealed twice at once?)"
                )

    def _tag(self, bundle_id: str, measurement_ids: Sequence[str]) -> int:
        with self._db.transaction():
            return self._tag_in_transaction(bundle_id, measurement_ids)

    def _tag_in_transaction(self, bundle_id: str, measurement_ids: Sequence[str]) -> int:
        count = 0
        for start in range(0, len(measurement_ids), _CHUNK):
            chunk = list(measurement_ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            count += self._db.write(
                f"UPDATE results SET bundle_id = ? WHERE bundle_id IS NULL"
                f" AND measurement_id IN ({marks})",
                (bundle_id, *chunk),
            ).rowcount
        return count

    def outbox(self, states: Sequence[str] = (PENDING,)) -> list[OutboxEntry]:
        """Return the bundles in `states`, oldest first, without their bytes."""
        marks = ",".join("?" * len(states))
        rows = self._db.read(
            f"SELECT {_ENTRY_COLUMNS} FROM bundles WHERE state IN ({marks})"
            " ORDER BY created_at, bundle_id",
            tuple(states),
        )
        return [_entry(row) for row in rows]

    def bundle_bytes(self, bundle_id: str) -> bytes | None:
        """Return a bundle's bytes (None once acknowledged, or when unknown)."""
        rows = self._db.read("SELECT data FROM bundles WHERE bundle_id = ?", (bundle_id,))
        if not rows or rows[0][0] is None:
            return None
        data = rows[0][0]
        assert isinstance(data, bytes)
        return data

    def acknowledge_bundle(self, bundle_id: str, collector: str) -> int:
        """A collector has the bundle: drop its bytes, mark its results uploaded.

        Returns how many results were newly marked.
        """
        stamp = _iso(datetime.now(UTC))
        with self._db.transaction():
            self._db.write(
                "UPDATE bundles SET state = ?, data = NULL, acknowledged_at = ?,"
                " collector = ?, last_error = NULL WHERE bundle_id = ?",
                (ACKNOWLEDGED, stamp, collector, bundle_id),
            )
            return self._db.write(
                "UPDATE results SET uploaded_at = ? WHERE bundle_id = ? AND uploaded_at IS NULL",
                (stamp, bundle_id),
            ).rowcount

    def bundle_failed(self, bundle_id: str, error: str) -> None:
        """Count a failed attempt (the bundle stays pending)."""
        self._db.write(
            "UPDATE bundles SET attempts = attempts + 1, last_attempt_at = ?, last_error = ?"
            " WHERE bundle_id = ?",
            (_iso(datetime.now(UTC)), error, bundle_id),
        )

    def reject_bundle(self, bundle_id: str, error: str) -> None:
        """A collector refused the bundle for good: keep it, stop sending it."""
        self._db.write(
            "UPDATE bundles SET state = ?, attempts = attempts + 1, last_attempt_at = ?,"
            " last_error = ? WHERE bundle_id = ?",
            (REJECTED, _iso(datetime.now(UTC)), error, bundle_id),
        )

    def requeue_rejected(self) -> int:
        """Queue every rejected bundle again; return how many."""
        return self._db.write(
            "UPDATE bundles SET state = ? WHERE state = ?", (PENDING, REJECTED)
        ).rowcount

    def mark_bundles_exported(self, bundle_ids: Sequence[str]) -> int:
        """Bundles written to an export file: stamp them and their results (retention may
        then delete the results); they stay pending for upload. Returns results stamped."""
        stamp = _iso(datetime.now(UTC))
        count = 0
        with self._db.transaction():
            for bundle_id in bundle_ids:
                self._db.write(
                    "UPDATE bundles SET exported_at = ? WHERE bundle_id = ?", (stamp, bundle_id)
                )
                count += self._db.write(
                    "UPDATE results SET exported_at = ? WHERE bundle_id = ?"
                    " AND exported_at IS NULL",
                    (stamp, bundle_id),
                ).rowcount
        return count

    def outbox_stats(self) -> OutboxStats:
        row = self._db.read(
            "SELECT"
            " COALESCE(SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), 0),"
            " COALESCE(SUM(CASE WHEN state = ? THEN size ELSE 0 END), 0),"
            " COALESCE(SUM(CASE WHEN state = ? THEN count ELSE 0 END), 0),"
            " COALESCE(SUM(CASE WHEN state = ? THEN 1 ELSE 0 END), 0) FROM bundles",
            (PENDING, PENDING, PENDING, REJECTED),
        )[0]
        unbundled = self._db.read("SELECT COUNT(*) FROM results WHERE bundle_id IS NULL")[0][0]
        return OutboxStats(
            pending_bundles=int(str(row[0])), pending_bytes=int(str(row[1])),
            pending_measurements=int(str(row[2])), rejected_bundles=int(str(row[3])),
            unbundled=int(str(unbundled)),
        )  # fmt: skip

    def forget_acknowledged(self, before: datetime) -> int:
        """Delete the bookkeeping of bundles acknowledged before `before` (retention)."""
        return self._db.write(
            "DELETE FROM bundles WHERE state = ? AND acknowledged_at < ?",
            (ACKNOWLEDGED, _iso(before)),
        ).rowcount
