"""`CollectorStore`: every accepted bundle byte for byte, and the SQLite index of its measurements.

Layout under `data_dir`:

```
collector.sqlite3            probes, bundles, measurements (store/database.py: WAL, FULL)
bundles/<id[:2]>/<id>.bundle the bundle exactly as received, named by its bundle_id (hex)
```

Durable before success: the bundle file is written to a temporary name, fsynced, renamed and
its directory fsynced, and only then is the SQLite transaction that records the bundle and its
measurements committed. A crash in between leaves at most a file no row points to (the next
upload of the same bundle writes it again); a crash never leaves a row without its file.

A measurement id already held for a probe is skipped (INSERT OR IGNORE) and not counted as
stored, so a bundle that re-packs measurements the collector already has stores nothing twice.
Paths are built only from a bundle_id this process computed (SHA-256, hex), never from anything
a probe sent. One connection serves every thread (one lock); other processes (a running server
and `probe collector ingest`) share the file through SQLite's own locking.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from probe.collector.files import BUNDLES_DIR, bundle_path, fsync_dir, write_bundle
from probe.collector.schema import (
    INSERT_MEASUREMENT,
    MEASUREMENT_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    BundleRow,
    Counts,
    MeasurementQuery,
    StoredBundle,
    collected,
    iso,
    measurement_row,
    parse_iso,
)
from probe.errors import StoreError
from probe.paths import private_directory
from probe.store.database import Database, Layout
from probe.store.paging import iter_measured, time_range

if TYPE_CHECKING:
    from probe.models.bundles import CollectedMeasurement
    from probe.models.stored import StoredResult
    from probe.ship.bundle import Bundle

STORE_FILE = "collector.sqlite3"
READ_PAGE_ROWS = 500
REPORT_PAGE_ROWS = 2000  # a report reads everything: fewer, larger pages
LAYOUT = Layout(
    label="collector store", version=SCHEMA_VERSION, schema=SCHEMA, busy_timeout_ms=30_000,
    # A record is ~7 KiB of JSON: on 16 KiB pages it needs no overflow chain (4 KiB pages took
    # three each), and a 32 MiB page cache holds the indexes a bundle's inserts touch. Together
    # about 15 % less time per 1 MiB bundle once the store is large (bench/README.md).
    page_bytes=16384, cache_kib=32768,
)  # fmt: skip

Via = Literal["api", "upload", "file"]


def _now() -> datetime:
    return datetime.now(UTC)


class CollectorStore:
    """The collector's store. Thread-safe (one lock); open with `CollectorStore.open(data_dir)`."""

    def __init__(self, data_dir: Path, database: Database) -> None:
        self.data_dir = data_dir
        self.path = database.path
        self._db = database

    @classmethod
    def open(cls, data_dir: Path, *, create: bool = True) -> CollectorStore:
        """Return the store under `data_dir` (created when `create`); StoreError says why not."""
        path = data_dir / STORE_FILE
        if not create and not path.exists():
            raise StoreError(f"no collector store at {path}: check --data-dir")
        try:
            private_directory(data_dir)
            (data_dir / BUNDLES_DIR).mkdir(mode=0o700, exist_ok=True)
            fsync_dir(data_dir)
        except OSError as exc:
            raise StoreError(f"cannot open the collector store {path}: {exc}") from exc
        return cls(data_dir, Database.open(path, LAYOUT))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CollectorStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def database(self) -> Database:
        """The open SQLite file (its pragmas, its lock)."""
        return self._db

    # Probes

    def probe_key(self, probe_id: str) -> bytes | None:
        """Return the raw public key registered for `probe_id`, or None."""
        rows = self._db.read("SELECT public_key FROM probes WHERE probe_id = ?", (probe_id,))
        if not rows:
            return None
        key = rows[0][0]
        assert isinstance(key, bytes)
        return key

    def register_probe(self, public_key: bytes, *, via: Via) -> tuple[str, datetime, bool]:
        """Register `public_key`; return (probe_id, registered_at, whether it is new)."""
        probe_id = hashlib.sha256(public_key).hexdigest()
        with self._db.lock:
            added = self._db.write(
                "INSERT OR IGNORE INTO probes (probe_id, public_key, registered_at, via)"
                " VALUES (?, ?, ?, ?)",
                (probe_id, public_key, iso(_now()), via),
            ).rowcount
            rows = self._db.read("SELECT registered_at FROM probes WHERE probe_id = ?", (probe_id,))
        return probe_id, parse_iso(rows[0][0]), added == 1

    # Bundles

    def bundle(self, bundle_id: str) -> BundleRow | None:
        """Return what the index holds about `bundle_id`, or None if it was never accepted."""
        rows = self._db.read(
            "SELECT bundle_id, probe_id, received_at, count, stored FROM bundles"
            " WHERE bundle_id = ?",
            (bundle_id,),
        )
        if not rows:
            return None
        found, probe_id, received_at, count, stored = rows[0]
        return BundleRow(
            str(found), str(probe_id), parse_iso(received_at), int(str(count)), int(str(stored))
        )

    def bundle_file(self, bundle_id: str) -> Path:
        """Return where the bytes of `bundle_id` live (hex SHA-256: nothing a probe sent)."""
        return bundle_path(self.data_dir, bundle_id)

    def add_bundle(
        self,
        bundle: Bundle,
        records: Iterable[StoredResult],
        *,
        raw: bytes,
        public_key: bytes,
        register: bool,
        via: Via,
    ) -> StoredBundle:
        """Return what storing a verified bundle did; durable when it returns.

        `raw` is the bundle as received; `register` registers `public_key` in the same
        transaction. `records` may be a lazy iterator that raises BundleError: every record
        is turned into its row before anything is written. Raises StoreError (nothing
        acknowledged) when the disk or SQLite fails.
        """
        bundle_id = bundle.bundle_id  # computed here, from the bytes: safe in a path
        probe_id = hashlib.sha256(public_key).hexdigest()
        received_at = iso(_now())
        rows = [measurement_row(r, probe_id, bundle_id, received_at) for r in records]
        # A bundle that brings nothing new keeps no file: its measurements are already held,
        # each with the bundle that first brought it.
        path = self._write_file(bundle_id, raw) if self._any_new(probe_id, rows) else None
        with self._db.transaction():
            if self._db.read("SELECT 1 FROM bundles WHERE bundle_id = ?", (bundle_id,)):
                return StoredBundle("duplicate", 0, len(rows))  # a concurrent upload won
            if register:
                self._db.write(
                    "INSERT OR IGNORE INTO probes (probe_id, public_key, registered_at, via)"
                    " VALUES (?, ?, ?, ?)",
                    (probe_id, public_key, received_at, via),
                )
            self._db.write(
                "INSERT INTO bundles (bundle_id, probe_id, received_at, via, count, stored,"
                " path, manifest) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                (bundle_id, probe_id, received_at, via, len(rows), path,
                 bundle.manifest_line.decode()),
            )  # fmt: skip
            stored = self._insert_measurements(rows)
            self._db.write("UPDATE bundles SET stored = ? WHERE bundle_id = ?", (stored, bundle_id))
        return StoredBundle("accepted", stored, len(rows))

    def _insert_measurements(self, rows: list[tuple[object, ...]]) -> int:
        return self._db.write_many(INSERT_MEASUREMENT, rows)

    def _any_new(self, probe_id: str, rows: list[tuple[object, ...]]) -> bool:
        ids = [str(row[1]) for row in rows]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            held = self._db.read(
                "SELECT COUNT(*) FROM measurements WHERE probe_id = ? AND measurement_id IN"
                f" ({','.join('?' * len(chunk))})",
                (probe_id, *chunk),
            )
            if int(str(held[0][0])) < len(chunk):
                return True
        return False

    def _write_file(self, bundle_id: str, raw: bytes) -> str:
        try:
            return str(write_bundle(self.data_dir, bundle_id, raw))
        except OSError as exc:
            raise self._db.error(exc) from exc

    # Measurements

    def counts(self) -> Counts:
        """Return how many probes, bundles and measurements the collector holds."""
        row = self._db.read(
            "SELECT (SELECT COUNT(*) FROM probes), COUNT(*), COALESCE(SUM(stored), 0) FROM bundles"
        )[0]
        return Counts(int(str(row[0])), int(str(row[1])), int(str(row[2])))

    def measurements(
        self,
        query: MeasurementQuery,
        *,
        after_seq: int = 0,
        limit: int = READ_PAGE_ROWS,
        max_bytes: int | None = None,
    ) -> tuple[list[CollectedMeasurement], int | None]:
        """Return one page oldest first (by arrival) and the cursor of the next page, if any.

        `max_bytes`: the page ends before the record that would take its records past it (one
        record at least). Raises StoreError if a stored row no longer validates.
        """
        where: list[str] = ["seq > ?"]
        params: list[object] = [after_seq]
        for column, value in (("probe_id", query.probe_id), ("input", query.input),
                              ("verdict", query.verdict)):  # fmt: skip
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        terms, bounds = time_range(query.since, query.until)
        where += terms
        params += bounds
        if max_bytes is not None:
            limit = self._rows_within(" AND ".join(where), params, limit, max_bytes)
        rows = self._db.read(
            f"SELECT {MEASUREMENT_COLUMNS} FROM measurements WHERE {' AND '.join(where)}"
            " ORDER BY seq LIMIT ?",
            [*params, limit + 1],
        )
        page = [self._validated(row) for row in rows[:limit]]
        cursor = int(str(rows[limit - 1][0])) if len(rows) > limit else None
        return page, cursor

    def _rows_within(self, where: str, params: list[object], limit: int, max_bytes: int) -> int:
        """Return how many of the next `limit` rows fit in `max_bytes` of records (≥ 1)."""
        sizes = self._db.read(
            f"SELECT length(CAST(record AS BLOB)) FROM measurements WHERE {where}"
            " ORDER BY seq LIMIT ?",
            [*params, limit],
        )
        total = 0
        for count, (size,) in enumerate(sizes):
            total += int(str(size))
            if total > max_bytes:
                return max(count, 1)
        return limit

    def iter_measurements(self, query: MeasurementQuery) -> Iterator[CollectedMeasurement]:
        """Yield every matching measurement oldest first, a page at a time (bounded memory)."""
        cursor: int | None = 0
        while cursor is not None:
            page, cursor = self.measurements(query, after_seq=cursor)
            yield from page

    def iter_record_texts(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        max_bytes: int | None = None,
    ) -> Iterator[tuple[str, str, str | None]]:
        """Yield (probe_id, measurement_id, record JSON) measured in [since, until), in pages,
        unparsed (for `probe report`, which reads only the fields it needs).

        A record longer than `max_bytes` comes as None and never reaches Python (SQLite holds
        it a moment to measure it): issue 18, one 283 MB record broke every report over it.
        """
        cap = -1 if max_bytes is None else int(max_bytes)
        columns = (
            "seq, probe_id, measurement_id,"
            " CASE WHEN ? < 0 OR length(CAST(record AS BLOB)) <= ? THEN record END"
        )
        for probe_id, measurement_id, record in iter_measured(
            self._db.read, "measurements", columns,
            since=since, until=until, page=REPORT_PAGE_ROWS, leading=[cap, cap],
        ):  # fmt: skip
            yield str(probe_id), str(measurement_id), None if record is None else str(record)

    def usage(self, probe_id: str, since: datetime) -> tuple[int, int]:
        """Return (bundles, uncompressed bytes) accepted from `probe_id` since `since`."""
        row = self._db.read(
            "SELECT COUNT(*), COALESCE(SUM(json_extract(manifest, '$.uncompressed_bytes')), 0)"
            " FROM bundles WHERE probe_id = ? AND received_at >= ?",
            (probe_id, iso(since)),
        )[0]
        return int(str(row[0])), int(str(row[1]))

    def measurement(self, probe_id: str, measurement_id: str) -> CollectedMeasurement | None:
        """Return one measurement by its probe and the probe's measurement_id, or None."""
        rows = self._db.read(
            f"SELECT {MEASUREMENT_COLUMNS} FROM measurements"
            " WHERE probe_id = ? AND measurement_id = ?",
            (probe_id, measurement_id),
        )
        return self._validated(rows[0]) if rows else None

    def _validated(self, row: tuple[object, ...]) -> CollectedMeasurement:
        try:
            return collected(row)
        except ValueError as exc:
            raise StoreError(f"{self.path}: measurement {row[0]} is not valid: {exc}") from exc

    def integrity_check(self) -> str:
        """Return SQLite's own verdict on the file: "ok" or the first problems found."""
        return self._db.integrity_check()


__all__ = [
    "REPORT_PAGE_ROWS",
    "STORE_FILE",
    "BundleRow",
    "CollectorStore",
    "Counts",
    "MeasurementQuery",
    "StoredBundle",
    "Via",
]
