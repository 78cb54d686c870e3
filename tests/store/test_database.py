"""The one SQLite plumbing (probe/store/database.py) under the local store and the collector's
index: one durability policy, private files, atomic migrations, errors in our own tree."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from probe.collector.storage import LAYOUT as COLLECTOR_LAYOUT
from probe.collector.storage import CollectorStore
from probe.errors import StoreError, StoreFullError
from probe.models.results import TargetResult, Verdict
from probe.models.targets import Endpoint, EndpointKind, Target, TargetKind
from probe.store import ResultStore
from probe.store.database import Database, Layout
from probe.store.sqlite import _SCHEMA
from probe.store.sqlite import LAYOUT as STORE_LAYOUT

Opener = Callable[[Path], ResultStore | CollectorStore]
OPENERS: dict[str, Opener] = {"store": ResultStore.open, "collector": CollectorStore.open}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def stored_result() -> TargetResult:
    endpoint = Endpoint(kind=EndpointKind.WEB, host="example.org", port=80,
                        url="http://example.org/")  # fmt: skip
    target = Target(input="example.org", kind=TargetKind.DOMAIN, name="example.org",
                    endpoints=[endpoint])  # fmt: skip
    return TargetResult(
        input="example.org", verdict=Verdict.ACCESSIBLE, target=target,
        measurement_start_time=datetime.now(UTC), test_runtime=0.1, software_version="t",
    )  # fmt: skip


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize("kind", OPENERS)
def test_every_database_gets_the_one_policy(tmp_path: Path, kind: str, umask_022: None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    layout = STORE_LAYOUT if kind == "store" else COLLECTOR_LAYOUT
    with OPENERS[kind](data) as opened:
        db = opened.database
        assert db.pragma("journal_mode") == "wal"
        assert db.pragma("synchronous") == 2  # FULL
        assert db.pragma("foreign_keys") == 1
        assert db.pragma("user_version") == layout.version
        assert db.pragma("busy_timeout") == layout.busy_timeout_ms
        assert db.integrity_check() == "ok"
        # While it is open, SQLite's companions exist: private like the database.
        for suffix in ("", "-wal", "-shm"):
            assert mode(db.path.with_name(db.path.name + suffix)) == 0o600, suffix
    assert mode(data) == 0o700


def test_a_new_file_takes_its_layout(tmp_path: Path) -> None:
    with ResultStore.open(tmp_path / "store") as store:
        assert store.database.pragma("auto_vacuum") == 0  # as every store before it
    with CollectorStore.open(tmp_path / "collector") as collector:
        assert collector.database.pragma("page_size") == COLLECTOR_LAYOUT.page_bytes
        assert collector.database.pragma("cache_size") == -(COLLECTOR_LAYOUT.cache_kib or 0)


@pytest.mark.parametrize("kind", OPENERS)
def test_a_newer_file_is_refused(tmp_path: Path, kind: str) -> None:
    OPENERS[kind](tmp_path).close()
    path = next(tmp_path.glob("*.sqlite3"))
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match=r"newer probe \(schema 99\); upgrade probe"):
        OPENERS[kind](tmp_path)


V1 = Layout(label="test database", version=1, schema="CREATE TABLE t (a TEXT)")


def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "test.sqlite3"
    Database.open(path, V1).close()
    # The first statement would work; the second fails: neither may stay.
    step = "ALTER TABLE t ADD COLUMN b TEXT; CREATE TABLE t (x)"
    broken = Layout(label="test database", version=2, schema="", migrations={1: step})
    with pytest.raises(StoreError, match="not a readable test database"):
        Database.open(path, broken)
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (1,)
        assert [r[1] for r in db.execute("PRAGMA table_info(t)")] == ["a"]
    fixed = Layout(label="test database", version=2, schema="",
                   migrations={1: "ALTER TABLE t ADD COLUMN b TEXT"})  # fmt: skip
    with closing(Database.open(path, fixed)) as db:
        assert db.pragma("user_version") == 2
        assert [r[1] for r in db.read("PRAGMA table_info(t)")] == ["a", "b"]


def test_many_openers_of_a_new_file_create_it_once(tmp_path: Path) -> None:
    path = tmp_path / "data" / "test.sqlite3"
    layout = Layout(label="test database", version=1,
                    schema="CREATE TABLE t (a TEXT); INSERT INTO t VALUES ('made')")  # fmt: skip
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            start.wait()
            Database.open(path, layout).close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    with closing(Database.open(path, layout)) as db:
        assert db.read("SELECT a FROM t") == [("made",)]  # the schema ran once


def test_a_store_made_before_the_shared_base_opens_and_keeps_its_rows(
    tmp_path: Path, stored_result: TargetResult
) -> None:
    """A store as the code before store/database.py made it (WAL set first, then the schema
    outside a transaction) opens at its version, takes rows and runs retention."""
    path = tmp_path / "results.sqlite3"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # too late: the old code's order
        db.executescript(_SCHEMA)
        db.execute("PRAGMA user_version = 2")
    with ResultStore.open(tmp_path, create=False) as store:
        assert store.database.pragma("user_version") == 2
        ids = [store.add_result(stored_result, "web").measurement_id for _ in range(3)]
        store.mark_uploaded(ids)
        assert store.apply_retention(max_age_s=None, max_bytes=0) == 3
        assert store.stats().results == 0


def test_retention_frees_pages_the_next_results_reuse(
    tmp_path: Path, stored_result: TargetResult
) -> None:
    """No vacuum: the file keeps its high-water mark and does not grow past it."""
    big = stored_result.model_copy(update={"reasons": ["x" * 100_000]})
    with ResultStore.open(tmp_path) as store:
        db = store.database
        store.mark_uploaded([store.add_result(big, "web").measurement_id for _ in range(5)])
        high = int(str(db.pragma("page_count")))
        assert store.apply_retention(max_age_s=None, max_bytes=0) == 5
        assert db.pragma("page_count") == high and int(str(db.pragma("freelist_count"))) > 0
        for _ in range(5):
            store.add_result(big, "web")
        assert db.pragma("page_count") == high


@pytest.fixture
def small_disk(tmpfs: Callable[[str], Path]) -> Path:
    return tmpfs("2m")


def test_a_full_disk_is_a_store_full_error_and_writes_nothing(small_disk: Path) -> None:
    layout = Layout(label="test database", version=1, schema="CREATE TABLE t (a BLOB)")
    with closing(Database.open(small_disk / "test.sqlite3", layout)) as db:
        db.write("INSERT INTO t VALUES (?)", (b"kept",))
        filler = small_disk / "filler"
        with filler.open("wb") as handle:
            while shutil.disk_usage(small_disk).free > 0:
                try:
                    handle.write(b"\0" * 4096)
                    handle.flush()
                except OSError:
                    break
        with pytest.raises(StoreFullError, match="disk full, nothing written"):
            db.write("INSERT INTO t VALUES (?)", (b"\1" * 1_000_000,))
        filler.unlink()
        assert db.read("SELECT a FROM t") == [(b"kept",)]
        db.write("INSERT INTO t VALUES (?)", (b"after",))  # space again: writes work
        assert db.integrity_check() == "ok"
