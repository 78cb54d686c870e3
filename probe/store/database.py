"""One way to open and use a probe SQLite file: the local store (`store/sqlite.py` and its
outbox, `store/outbox.py`) and the collector's index (`collector/storage.py`).

The durability policy, the same for every file (docs/architecture.md, "Storage"):

- `journal_mode=WAL`, checked: a filesystem without it (NFS) is refused, never run in another
  mode; readers never block the writer.
- `synchronous=FULL`: every commit fsyncs the WAL, so what a commit stored (a result, an
  acknowledged bundle) survives SIGKILL and power loss.
- `foreign_keys=ON`; the file and its `-wal` and `-shm` 0600, its directory 0700
  (`probe.paths`), whatever the umask.
- The schema's version is SQLite's `user_version`. A new file gets the whole schema, an older
  one each migration step N → N + 1; either way in one `BEGIN IMMEDIATE` transaction with the
  new version, so two processes opening at once, or a crash halfway, never half-migrate it. A
  file from a newer probe is refused.
- One connection per opened file, shared by threads under one re-entrant lock; a transaction
  holds the lock throughout. Other processes share the file through SQLite's own locking.
- Every `sqlite3` or OS error becomes a `StoreError` naming the file; a full disk a
  `StoreFullError` (nothing was written).

What may differ per file (a `Layout`): its schema and migrations, how long to wait for another
process's lock, the page and cache sizes. No file auto-vacuums: the pages deleted rows free
(retention) are reused by the next rows, so a file stays at its high-water mark.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from probe.errors import StoreError, StoreFullError
from probe.paths import private_directory, private_file

COMPANIONS = ("-wal", "-shm")


@dataclass(frozen=True)
class Layout:
    """What one kind of probe database is: its schema, its migrations and its tuning."""

    label: str  # how messages name it: "probe store", "collector store"
    version: int
    # Scripts are split on ";": no semicolon inside a statement (no triggers, no such literal).
    schema: str  # a new file's tables and indexes (CREATE ... IF NOT EXISTS)
    migrations: Mapping[int, str] = field(default_factory=dict)  # step N -> N + 1
    busy_timeout_ms: int = 10_000  # wait this long for another process's write lock
    page_bytes: int | None = None  # a new file only; None: SQLite's default
    cache_kib: int | None = None  # None: SQLite's default


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` says the disk (or the quota) is full."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        return "disk is full" in text or "disk i/o error" in text
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _connect(path: Path, layout: Layout) -> sqlite3.Connection:
    """Make the directory and files private, then connect (StoreError if either fails)."""
    try:
        # 0600 whatever the umask; SQLite gives the -wal and -shm files the database's mode.
        private_directory(path.parent)
        private_file(path)
        for companion in COMPANIONS:
            if (side := path.with_name(path.name + companion)).exists():
                private_file(side)
        return sqlite3.connect(
            path, timeout=layout.busy_timeout_ms / 1000, isolation_level=None,
            check_same_thread=False,
        )  # fmt: skip
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the {layout.label} {path}: {exc}") from exc


def _configure(db: sqlite3.Connection, path: Path, layout: Layout) -> None:
    """Apply the policy's pragmas; a new file's page size first (WAL fixes it)."""
    db.execute(f"PRAGMA busy_timeout = {layout.busy_timeout_ms}")
    if layout.page_bytes is not None and db.execute("PRAGMA page_count").fetchone()[0] == 0:
        db.execute(f"PRAGMA page_size = {layout.page_bytes}")  # only an empty file takes it
    if layout.cache_kib is not None:
        db.execute(f"PRAGMA cache_size = -{layout.cache_kib}")
    if db.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
        raise StoreError(f"{path}: the filesystem does not support SQLite WAL mode")
    # FULL: each commit fsyncs the WAL, so a committed row survives power loss.
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")


def _migrate(db: sqlite3.Connection, path: Path, layout: Layout) -> None:
    """Bring the schema to `layout.version` in one write transaction (or refuse the file)."""
    if db.execute("PRAGMA user_version").fetchone()[0] == layout.version:
        return  # the usual case: no write lock taken
    db.execute("BEGIN IMMEDIATE")  # two processes opening a new file at once: one creates it
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]  # again, under the lock
        if version > layout.version:
            raise StoreError(
                f"{path} was written by a newer probe (schema {version}); upgrade probe"
            )
        if version == 0:
            _script(db, layout.schema)
        else:
            for step in range(version, layout.version):
                _script(db, layout.migrations[step])
        if version != layout.version:
            db.execute(f"PRAGMA user_version = {layout.version}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _script(db: sqlite3.Connection, script: str) -> None:
    """Run `script` statement by statement (executescript would commit the transaction)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


class Database:
    """An open probe database: `Database.open(path, layout)`; thread-safe (one lock)."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        # Reentrant: a transaction holds it across its statements (each takes it again).
        self.lock = threading.RLock()

    @classmethod
    def open(cls, path: Path, layout: Layout) -> Database:
        """Open (creating) the database at `path`; StoreError (or StoreFullError) says why not."""
        db = _connect(path, layout)
        try:
            _configure(db, path, layout)
            _migrate(db, path, layout)
        except sqlite3.DatabaseError as exc:
            db.close()
            if is_disk_full(exc):
                raise StoreFullError(f"cannot open the {layout.label} {path}: disk full") from exc
            raise StoreError(f"{path} is not a readable {layout.label}: {exc}") from exc
        except BaseException:
            db.close()
            raise
        return cls(path, db)

    def close(self) -> None:
        with self.lock:
            self._db.close()

    def error(self, exc: BaseException) -> StoreError:
        """Return the StoreError (StoreFullError for a full disk) that `exc` means here."""
        if is_disk_full(exc):
            return StoreFullError(f"{self.path}: disk full, nothing written")
        return StoreError(f"{self.path}: {exc}")

    def write(self, sql: str, params: Iterable[object] = ()) -> sqlite3.Cursor:
        """Run one statement that may write; durable on return outside a transaction."""
        with self.lock:
            try:
                return self._db.execute(sql, tuple(params))
            except (sqlite3.Error, OSError) as exc:
                raise self.error(exc) from exc

    def write_many(self, sql: str, rows: Iterable[Sequence[object]]) -> int:
        """Run `sql` once per row; return how many rows it changed."""
        with self.lock:
            try:
                return self._db.executemany(sql, rows).rowcount
            except (sqlite3.Error, OSError) as exc:
                raise self.error(exc) from exc

    def read(self, sql: str, params: Iterable[object] = ()) -> list[tuple[object, ...]]:
        """Return every row of a query."""
        with self.lock:
            try:
                return self._db.execute(sql, tuple(params)).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, holding the lock throughout: no other thread's write may
        join it, and any exception rolls it back."""
        with self.lock:
            self.write("BEGIN IMMEDIATE")
            try:
                yield
                self.write("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def pragma(self, name: str) -> object:
        """Return the value of `PRAGMA name` on this connection."""
        return self.read(f"PRAGMA {name}")[0][0]

    def file_bytes(self) -> int:
        """Return the size of the file and its WAL."""
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        return sum(f.stat().st_size for f in files if f.exists())

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file: "ok" or the first problems found."""
        return "; ".join(str(r[0]) for r in self.read("PRAGMA integrity_check"))


__all__ = ["COMPANIONS", "Database", "Layout", "is_disk_full"]
