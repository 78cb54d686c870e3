"""`ResultStore`: one SQLite file under data_dir, written by one thread at a time."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.errors import StoreError
from probe.models.status import RunStatus
from probe.store.database import Database, Layout
from probe.store.outbox import OUTBOX_SCHEMA, OutboxQueries
from probe.store.paging import iter_measured, time_range
from probe.store.timestamps import iso as _iso
from probe.store.timestamps import parse_optional as _parse

if TYPE_CHECKING:  # pydantic is imported only where records are built or read: the daemon's
    # supervisor uses the store without it (docs/architecture.md, "A light supervisor").
    from probe.models.results import TargetResult
    from probe.models.stored import RunRecord, StoredResult

STORE_FILE = "results.sqlite3"
SCHEMA_VERSION = 2
_BUSY_TIMEOUT_MS = 10_000
READ_PAGE_ROWS = 200
REPORT_PAGE_ROWS = 2000  # a report reads everything: fewer, larger pages

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS results (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    measurement_id TEXT NOT NULL UNIQUE,
    job TEXT NOT NULL,
    run_id INTEGER,
    input TEXT NOT NULL,
    verdict TEXT NOT NULL,
    measured_at TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    size INTEGER NOT NULL,
    record TEXT NOT NULL,
    uploaded_at TEXT,
    exported_at TEXT,
    bundle_id TEXT
);
CREATE INDEX IF NOT EXISTS results_measured_at ON results (measured_at);
CREATE INDEX IF NOT EXISTS results_pending ON results (seq)
    WHERE uploaded_at IS NULL AND exported_at IS NULL;
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    targets INTEGER NOT NULL DEFAULT 0,
    stored INTEGER NOT NULL DEFAULT 0,
    estimated_bytes INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    unmeasured TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS runs_job_started ON runs (job, started_at);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
    + OUTBOX_SCHEMA
)
# Each step takes the store from version N to N + 1; a new store runs _SCHEMA only.
_MIGRATIONS = {1: "ALTER TABLE results ADD COLUMN bundle_id TEXT;\n" + OUTBOX_SCHEMA}
LAYOUT = Layout(
    label="probe store", version=SCHEMA_VERSION, schema=_SCHEMA, migrations=_MIGRATIONS,
    busy_timeout_ms=_BUSY_TIMEOUT_MS,
)  # fmt: skip


@dataclass(frozen=True)
class StoreStats:
    """Counts and sizes for `probe status` and the metrics endpoint."""

    results: int
    pending: int  # neither uploaded nor exported: the backlog
    record_bytes: int
    file_bytes: int
    oldest: datetime | None
    newest: datetime | None


def _now() -> datetime:
    return datetime.now(UTC)


def _run_record(row: tuple[object, ...]) -> RunRecord:
    from probe.models.stored import RunRecord

    run_id, job, started, finished, status, targets, stored, size, error, unmeasured = row
    return RunRecord(
        run_id=int(str(run_id)), job=str(job), started_at=_parse(str(started)),
        finished_at=_parse(None if finished is None else str(finished)),
        status=RunStatus(str(status)), targets=int(str(targets)), stored=int(str(stored)),
        estimated_bytes=int(str(size)), error=None if error is None else str(error),
        unmeasured=json.loads(str(unmeasured)),
    )  # fmt: skip


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def result_row(
    result: TargetResult, job: str, run_id: int | None
) -> tuple[StoredResult, dict[str, Any]]:
    """Give `result` its job and a new measurement_id; return it and the row that stores it."""
    from probe.models.stored import StoredResult

    # Re-validated as a whole: the store holds only valid records.
    stored = StoredResult(**dict(result), job=job, measurement_id=uuid.uuid4())
    row = {
        "measurement_id": str(stored.measurement_id), "job": job, "run_id": run_id,
        "input": stored.input, "verdict": stored.verdict.value,
        "measured_at": _iso(stored.measurement_start_time), "record": stored.model_dump_json(),
    }  # fmt: skip
    return stored, row


class ResultStore(OutboxQueries):
    """The store and its outbox. Thread-safe (one lock); open with `ResultStore.open(dir)`."""

    def __init__(self, database: Database) -> None:
        self.path = database.path
        self._db = database

    @classmethod
    def open(cls, data_dir: Path, *, create: bool = True) -> ResultStore:
        """Open (creating when `create`) the store under `data_dir`; StoreError says why not."""
        path = data_dir / STORE_FILE
        if not create and not path.exists():
            raise StoreError(f"no store at {path}: run `probe init`, then `probe run`")
        return cls(Database.open(path, LAYOUT))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def database(self) -> Database:
        """The open SQLite file (its pragmas, its lock)."""
        return self._db

    # Results

    def add_result(self, result: TargetResult, job: str, run_id: int | None = None) -> StoredResult:
        """Store `result` under a new measurement_id; durable when this returns."""
        stored, row = result_row(result, job, run_id)
        self.insert_row(row)
        return stored

    def insert_row(self, row: dict[str, Any]) -> None:
        """Store a row made by `result_row` (possibly in another process); durable on return."""
        self._db.write(
            "INSERT INTO results (measurement_id, job, run_id, input, verdict, measured_at,"
            " stored_at, size, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row["measurement_id"], row["job"], row["run_id"], row["input"], row["verdict"],
                row["measured_at"], _iso(_now()), len(row["record"].encode()), row["record"],
            ),
        )  # fmt: skip

    def write_held(
        self,
        rows: list[dict[str, Any]],
        on_written: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """After a write failed for lack of space: prove a write succeeds, then write `rows`
        (made by `result_row`) oldest first, removing each from the list as it lands.

        Raises StoreFullError while the disk is still full; unwritten rows stay in `rows`.
        """
        self.set_state("disk_check", _iso(_now()))
        while rows:
            self.insert_row(rows[0])
            row = rows.pop(0)
            if on_written is not None:
                on_written(row)

    def results(
        self,
        *,
        since: datetime | None = None,
        job: str | None = None,
        pending_only: bool = False,
        limit: int | None = None,
    ) -> Iterator[StoredResult | StoreError]:
        """Yield stored results oldest first; a row that no longer validates yields an error.

        Rows are read in pages of `READ_PAGE_ROWS`, so a store of any size is listed in
        bounded memory and the store is not held between pages.
        """
        terms, params = time_range(since, None)
        where: list[str] = ["seq > ?", *terms]
        if job is not None:
            where.append("job = ?")
            params.append(job)
        if pending_only:
            where.append("uploaded_at IS NULL AND exported_at IS NULL")
        sql = f"SELECT seq, record FROM results WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
        from probe.models.stored import StoredResult

        last, left = 0, limit
        while left is None or left > 0:
            page = min(READ_PAGE_ROWS, left) if left is not None else READ_PAGE_ROWS
            rows = self._db.read(sql, [last, *params, page])
            for seq, record in rows:
                last = int(str(seq))
                try:
                    yield StoredResult.model_validate_json(str(record))
                except ValueError as exc:
                    yield StoreError(f"{self.path}: row {seq} is not a valid result: {exc}")
            if left is not None:
                left -= len(rows)
            if len(rows) < page:
                return

    def result(self, id_prefix: str) -> list[StoredResult | StoreError]:
        """Return the stored results whose measurement_id starts with `id_prefix` (at most 2:
        one is the answer, two say the prefix is ambiguous)."""
        from probe.models.stored import StoredResult

        if not id_prefix or any(c not in "0123456789abcdef-" for c in id_prefix.lower()):
            return []
        rows = self._db.read(
            "SELECT seq, record FROM results WHERE measurement_id LIKE ? ORDER BY seq LIMIT 2",
            (id_prefix.lower() + "%",),
        )
        found: list[StoredResult | StoreError] = []
        for seq, record in rows:
            try:
                found.append(StoredResult.model_validate_json(str(record)))
            except ValueError as exc:
                found.append(StoreError(f"{self.path}: row {seq} is not a valid result: {exc}"))
        return found

    def latest(self) -> StoredResult | None:
        """Return the result stored last, None when there is none (or it does not validate)."""
        from probe.models.stored import StoredResult

        rows = self._db.read("SELECT record FROM results ORDER BY seq DESC LIMIT 1")
        try:
            return StoredResult.model_validate_json(str(rows[0][0])) if rows else None
        except ValueError:
            return None

    def jobs(self) -> list[str]:
        """Return the names of the jobs that stored results, sorted."""
        return [str(r[0]) for r in self._db.read("SELECT DISTINCT job FROM results ORDER BY job")]

    def iter_record_texts(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[tuple[str, str]]:
        """Yield (measurement_id, record JSON) measured in [since, until), in pages, unparsed:
        the report reads the fields it needs itself, at ten times the speed of validation."""
        for measurement_id, record in iter_measured(
            self._db.read, "results", "seq, measurement_id, record",
            since=since, until=until, page=REPORT_PAGE_ROWS,
        ):  # fmt: skip
            yield str(measurement_id), str(record)

    def mark_uploaded(self, measurement_ids: Iterable[uuid.UUID | str]) -> int:
        return self._mark("uploaded_at", measurement_ids)

    def mark_exported(self, measurement_ids: Iterable[uuid.UUID | str]) -> int:
        return self._mark("exported_at", measurement_ids)

    def _mark(self, column: str, measurement_ids: Iterable[uuid.UUID | str]) -> int:
        ids = [str(i) for i in measurement_ids]
        if not ids:
            return 0
        stamp = _iso(_now())
        count = 0
        with self._db.transaction():
            for i in ids:
                cursor = self._db.write(
                    f"UPDATE results SET {column} = ?"
                    f" WHERE measurement_id = ? AND {column} IS NULL",
                    (stamp, i),
                )
                count += cursor.rowcount
        return count

    def apply_retention(
        self, *, max_age_s: float | None, max_bytes: int | None, now: datetime | None = None
    ) -> int:
        """Delete uploaded or exported results past the limits; return how many went."""
        shipped = "(uploaded_at IS NOT NULL OR exported_at IS NOT NULL)"
        deleted = 0
        if max_age_s is not None:
            cutoff = _iso((now or _now()) - timedelta(seconds=max_age_s))
            deleted += self._db.write(
                f"DELETE FROM results WHERE {shipped} AND measured_at < ?", (cutoff,)
            ).rowcount
        if max_bytes is not None:
            total = int(str(self._db.read("SELECT COALESCE(SUM(size), 0) FROM results")[0][0]))
            excess = total - max_bytes
            if excess > 0:
                rows = self._db.read(f"SELECT seq, size FROM results WHERE {shipped} ORDER BY seq")
                doomed: list[int] = []
                for seq, size in rows:
                    if excess <= 0:
                        break
                    doomed.append(int(str(seq)))
                    excess -= int(str(size))
                for start in range(0, len(doomed), 500):
                    chunk = doomed[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    deleted += self._db.write(
                        f"DELETE FROM results WHERE seq IN ({marks})", chunk
                    ).rowcount
        if max_age_s is not None:
            self.forget_acknowledged((now or _now()) - timedelta(seconds=max_age_s))
        return deleted  # the freed pages hold the next results (no vacuum: store/database.py)

    # Runs

    def start_run(self, job: str, targets: int, started_at: datetime | None = None) -> int:
        cursor = self._db.write(
            "INSERT INTO runs (job, pid, started_at, status, targets) VALUES (?, ?, ?, ?, ?)",
            (job, os.getpid(), _iso(started_at or _now()), RunStatus.RUNNING.value, targets),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        *,
        stored: int = 0,
        estimated_bytes: int = 0,
        error: str | None = None,
        unmeasured: list[str] | None = None,
    ) -> None:
        self._db.write(
            "UPDATE runs SET finished_at = ?, status = ?, stored = ?, estimated_bytes = ?,"
            " error = ?, unmeasured = ? WHERE run_id = ?",
            (
                _iso(_now()), status.value, stored, estimated_bytes, error,
                json.dumps(unmeasured or []), run_id,
            ),
        )  # fmt: skip

    def record_run(
        self, job: str, status: RunStatus, *, error: str | None = None, targets: int = 0
    ) -> int:
        """Record a run that did not measure (skipped): started and finished now."""
        run_id = self.start_run(job, targets)
        self.finish_run(run_id, status, error=error)
        return run_id

    def close_abandoned_runs(self) -> int:
        """Mark runs left `running` by a process that no longer exists as interrupted."""
        rows = self._db.read("SELECT run_id, pid FROM runs WHERE status = ?", (RunStatus.RUNNING,))
        closed = 0
        for run_id, pid in rows:
            if int(str(pid)) != os.getpid() and not pid_alive(int(str(pid))):
                self._db.write(
                    "UPDATE runs SET status = ?, error = ? WHERE run_id = ?",
                    (
                        RunStatus.INTERRUPTED.value,
                        "the process stopped during the run (killed, crashed or power loss)",
                        run_id,
                    ),
                )
                closed += 1
        return closed

    def runs(self, *, job: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Return the newest runs first."""
        sql = (
            "SELECT run_id, job, started_at, finished_at, status, targets, stored,"
            " estimated_bytes, error, unmeasured FROM runs"
        )
        params: list[object] = []
        if job is not None:
            sql += " WHERE job = ?"
            params.append(job)
        sql += f" ORDER BY run_id DESC LIMIT {int(limit)}"
        return [_run_record(row) for row in self._db.read(sql, params)]

    def last_start(self, job: str) -> datetime | None:
        """When `job` last started a run that measured (skips excluded)."""
        rows = self._db.read(
            "SELECT MAX(started_at) FROM runs WHERE job = ? AND status NOT IN (?, ?)",
            (job, RunStatus.SKIPPED_BUDGET.value, RunStatus.SKIPPED_DISK.value),
        )
        return _parse(None if rows[0][0] is None else str(rows[0][0]))

    def bytes_since(self, moment: datetime) -> int:
        """Estimated traffic of the runs started at or after `moment`."""
        rows = self._db.read(
            "SELECT COALESCE(SUM(estimated_bytes), 0) FROM runs WHERE started_at >= ?",
            (_iso(moment),),
        )
        return int(str(rows[0][0]))

    # Daemon state (next runs, pid), for `probe status`

    def set_state(self, key: str, value: object) -> None:
        self._db.write(
            "INSERT INTO state (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value, default=str)),
        )

    def get_state(self, key: str) -> object:
        rows = self._db.read("SELECT value FROM state WHERE key = ?", (key,))
        return json.loads(str(rows[0][0])) if rows else None

    def stats(self) -> StoreStats:
        row = self._db.read(
            "SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(measured_at), MAX(measured_at),"
            " SUM(CASE WHEN uploaded_at IS NULL AND exported_at IS NULL THEN 1 ELSE 0 END)"
            " FROM results"
        )[0]
        size = self._db.file_bytes()
        return StoreStats(
            results=int(str(row[0])), record_bytes=int(str(row[1])),
            oldest=_parse(None if row[2] is None else str(row[2])),
            newest=_parse(None if row[3] is None else str(row[3])),
            pending=int(str(row[4] or 0)), file_bytes=size,
        )  # fmt: skip

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file: "ok" or the first problems found."""
        return self._db.integrity_check()
