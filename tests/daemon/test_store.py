"""`ResultStore` on real SQLite files: results, marks, retention, runs, state, failures."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from probe.errors import StoreError
from probe.models.results import TargetResult
from probe.models.status import RunStatus
from probe.models.stored import StoredResult
from probe.store import STORE_FILE, ResultStore
from probe.store.sqlite import SCHEMA_VERSION, result_row

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ResultStore]:
    with ResultStore.open(tmp_path / "data") as opened:
        yield opened


def _at(result: TargetResult, moment: datetime, input: str | None = None) -> TargetResult:
    update: dict[str, object] = {"measurement_start_time": moment}
    if input is not None:
        update["input"] = input
    return result.model_copy(update=update)


def _ok(items: Iterator[StoredResult | StoreError]) -> list[StoredResult]:
    out = []
    for item in items:
        assert isinstance(item, StoredResult), item
        out.append(item)
    return out


def _sql(store: ResultStore, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Run `sql` on a connection of our own (what another process would see)."""
    with closing(sqlite3.connect(store.path)) as db, db:
        return db.execute(sql, params).fetchall()


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: a zombie would still answer kill(pid, 0)
    return child.pid


# Results


def test_add_result_round_trip(store: ResultStore, stored_result: TargetResult) -> None:
    stored = store.add_result(stored_result, "web")
    assert stored.job == "web"
    assert stored.measurement_id.version == 4
    assert stored.model_dump(exclude={"job", "measurement_id"}) == stored_result.model_dump()
    [read] = _ok(store.results())
    assert read == stored
    assert isinstance(read, StoredResult)


def test_ids_unique_and_results_oldest_first(
    store: ResultStore, stored_result: TargetResult
) -> None:
    added = [
        store.add_result(_at(stored_result, T0, input=f"https://site{i}.test/"), "web")
        for i in range(60)
    ]
    assert len({s.measurement_id for s in added}) == 60
    read = _ok(store.results())
    assert [r.input for r in read] == [f"https://site{i}.test/" for i in range(60)]
    assert [r.measurement_id for r in read] == [s.measurement_id for s in added]


def test_results_filters(store: ResultStore, stored_result: TargetResult) -> None:
    rows = [("web", 0), ("apps", 1), ("web", 2), ("web", 3), ("apps", 4)]
    added = [
        store.add_result(_at(stored_result, T0 + timedelta(hours=h), f"https://{h}.test/"), job)
        for job, h in rows
    ]
    since = T0 + timedelta(hours=2)
    assert [r.input for r in _ok(store.results(since=since))] == [
        "https://2.test/", "https://3.test/", "https://4.test/",
    ]  # fmt: skip
    assert [r.input for r in _ok(store.results(job="apps"))] == [
        "https://1.test/", "https://4.test/",
    ]  # fmt: skip
    assert [r.input for r in _ok(store.results(job="web", since=since))] == [
        "https://2.test/", "https://3.test/",
    ]  # fmt: skip
    assert [r.input for r in _ok(store.results(limit=2))] == ["https://0.test/", "https://1.test/"]
    assert store.mark_uploaded([added[0].measurement_id, added[2].measurement_id]) == 2
    assert store.mark_exported([added[3].measurement_id]) == 1
    pending = _ok(store.results(pending_only=True))
    assert [r.input for r in pending] == ["https://1.test/", "https://4.test/"]
    assert [r.input for r in _ok(store.results(pending_only=True, limit=1))] == ["https://1.test/"]
    assert list(store.results(job="nobody")) == []


def test_tampered_row_yields_an_error_and_the_others_still_come(
    store: ResultStore, stored_result: TargetResult
) -> None:
    added = [store.add_result(stored_result, "web") for _ in range(4)]
    seqs = [row[0] for row in _sql(store, "SELECT seq FROM results ORDER BY seq")]
    _sql(store, "UPDATE results SET record = ? WHERE seq = ?", ('{"input": 3}', seqs[1]))
    _sql(store, "UPDATE results SET record = ? WHERE seq = ?", ("not json at all", seqs[2]))
    items = list(store.results())
    assert len(items) == 4
    assert items[0] == added[0] and items[3] == added[3]
    for seq, item in zip(seqs[1:3], items[1:3], strict=True):
        assert isinstance(item, StoreError), item
        assert f"row {seq} is not a valid result" in str(item)


def test_result_row_is_accepted_by_another_store_object(
    tmp_path: Path, stored_result: TargetResult
) -> None:
    data_dir = tmp_path / "data"
    with ResultStore.open(data_dir) as worker_store, ResultStore.open(data_dir) as supervisor:
        run_id = worker_store.start_run("web", 1)
        stored, row = result_row(stored_result, "web", run_id)
        assert stored.job == "web" and row["measurement_id"] == str(stored.measurement_id)
        assert list(worker_store.results()) == []  # result_row itself writes nothing
        travelled = json.loads(json.dumps(row))  # the worker hands rows over as JSON
        supervisor.insert_row(travelled)
        assert _ok(worker_store.results()) == [stored]
        assert _sql(worker_store, "SELECT run_id, job FROM results") == [(run_id, "web")]
        with pytest.raises(StoreError, match="UNIQUE"):
            supervisor.insert_row(travelled)  # a row handed back twice is refused, not doubled
    with ResultStore.open(data_dir, create=False) as reopened:
        assert len(_ok(reopened.results())) == 1


# Opening


def test_open_without_create_on_empty_dir(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="probe init"):
        ResultStore.open(tmp_path, create=False)
    assert not (tmp_path / STORE_FILE).exists()


@pytest.mark.parametrize("create", [True, False])
def test_open_garbage_file(tmp_path: Path, create: bool) -> None:
    (tmp_path / STORE_FILE).write_bytes(b"this is not an SQLite database\n" * 200)
    with pytest.raises(StoreError, match="not a readable probe store") as info:
        ResultStore.open(tmp_path, create=create)
    assert not isinstance(info.value, sqlite3.Error)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_open_newer_schema(tmp_path: Path) -> None:
    ResultStore.open(tmp_path).close()
    with closing(sqlite3.connect(tmp_path / STORE_FILE)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="upgrade probe") as info:
        ResultStore.open(tmp_path, create=False)
    assert f"schema {SCHEMA_VERSION + 1}" in str(info.value)


def test_wal_and_synchronous_full(store: ResultStore) -> None:
    assert store.database.pragma("synchronous") == 2  # FULL
    assert store.database.pragma("journal_mode") == "wal"
    assert _sql(store, "PRAGMA journal_mode") == [("wal",)]  # persistent, seen by others
    assert _sql(store, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert store.path.parent.stat().st_mode & 0o077 == 0  # data_dir is private


# Marks and retention


def test_marks_count_and_are_idempotent(store: ResultStore, stored_result: TargetResult) -> None:
    ids = [store.add_result(stored_result, "web").measurement_id for _ in range(5)]
    assert store.stats().pending == 5
    assert store.mark_uploaded(ids[:2]) == 2
    assert store.stats().pending == 3
    assert store.mark_uploaded(ids[:2]) == 0
    assert store.mark_uploaded([str(ids[1]), str(ids[2])]) == 1  # str ids work too
    assert store.mark_exported([ids[2], ids[3]]) == 2
    assert store.mark_exported([ids[2], ids[3]]) == 0
    assert store.mark_uploaded([uuid.uuid4()]) == 0
    assert store.mark_uploaded([]) == 0
    stats = store.stats()
    assert (stats.results, stats.pending) == (5, 1)
    rows = _sql(store, "SELECT measurement_id FROM results WHERE uploaded_at IS NULL"
                " AND exported_at IS NULL")  # fmt: skip
    assert rows == [(str(ids[4]),)]


def test_retention_max_age_keeps_pending(store: ResultStore, stored_result: TargetResult) -> None:
    old = [store.add_result(_at(stored_result, T0), "web") for _ in range(4)]
    recent = store.add_result(_at(stored_result, T0 + timedelta(days=60)), "web")
    store.mark_uploaded([old[0].measurement_id, recent.measurement_id])
    store.mark_exported([old[1].measurement_id])
    # 30 days before "now": the old rows are past it, the recent one is not.
    now = T0 + timedelta(days=61)
    assert store.apply_retention(max_age_s=30 * 86400, max_bytes=None, now=now) == 2
    left = {r.measurement_id for r in _ok(store.results())}
    assert left == {old[2].measurement_id, old[3].measurement_id, recent.measurement_id}
    # However old, pending rows stay.
    far = datetime(2200, 1, 1, tzinfo=UTC)
    assert store.apply_retention(max_age_s=1, max_bytes=None, now=far) == 1
    assert {r.measurement_id for r in _ok(store.results())} == {
        old[2].measurement_id, old[3].measurement_id,
    }  # fmt: skip
    assert store.apply_retention(max_age_s=1, max_bytes=None, now=far) == 0
    assert store.integrity_check() == "ok"


def test_retention_max_bytes_deletes_oldest_shipped(
    store: ResultStore, stored_result: TargetResult
) -> None:
    added = [store.add_result(stored_result, "web") for _ in range(5)]
    store.mark_uploaded([s.measurement_id for s in added[:2]])
    store.mark_exported([s.measurement_id for s in added[2:4]])  # added[4] stays pending
    sizes = [int(str(r[0])) for r in _sql(store, "SELECT size FROM results ORDER BY seq")]
    total = sum(sizes)
    assert store.stats().record_bytes == total
    assert store.apply_retention(max_age_s=None, max_bytes=total, now=None) == 0
    # Exactly the oldest row too many: it alone goes.
    assert store.apply_retention(max_age_s=None, max_bytes=total - sizes[0]) == 1
    # One byte too many past the next row: it goes, and the one after it.
    limit = total - sizes[0] - sizes[1] - 1
    assert store.apply_retention(max_age_s=None, max_bytes=limit) == 2
    left = [r.measurement_id for r in _ok(store.results())]
    assert left == [s.measurement_id for s in added[3:]]
    assert store.stats().record_bytes <= limit
    # A limit no deletion can reach: every shipped row goes, the pending one stays.
    assert store.apply_retention(max_age_s=None, max_bytes=0) == 1
    assert [r.measurement_id for r in _ok(store.results())] == [added[4].measurement_id]
    assert store.apply_retention(max_age_s=None, max_bytes=0) == 0
    assert store.integrity_check() == "ok"


# Runs


def test_runs_and_budget_queries(store: ResultStore) -> None:
    started = T0 + timedelta(hours=1)
    first = store.start_run("web", 3, started_at=started)
    store.finish_run(
        first, RunStatus.INTERRUPTED, stored=2, estimated_bytes=1500, error="SIGTERM",
        unmeasured=["https://c.test/"],
    )  # fmt: skip
    second = store.start_run("web", 3, started_at=started + timedelta(hours=1))
    store.finish_run(second, RunStatus.OK, stored=3, estimated_bytes=2500)
    other = store.start_run("apps", 1, started_at=started + timedelta(hours=2))
    skipped = store.record_run("web", RunStatus.SKIPPED_BUDGET, error="budget", targets=3)
    store.record_run("web", RunStatus.SKIPPED_DISK, error="disk")

    runs = store.runs(job="web")
    assert [r.run_id for r in runs] == sorted([first, second, skipped, skipped + 1], reverse=True)
    record = next(r for r in runs if r.run_id == first)
    assert record.status is RunStatus.INTERRUPTED
    assert (record.targets, record.stored, record.estimated_bytes) == (3, 2, 1500)
    assert record.error == "SIGTERM" and record.unmeasured == ["https://c.test/"]
    assert record.started_at == started and record.finished_at is not None
    assert next(r for r in runs if r.run_id == skipped).status is RunStatus.SKIPPED_BUDGET
    [apps] = store.runs(job="apps")
    assert apps.run_id == other and apps.status is RunStatus.RUNNING and apps.finished_at is None
    assert len(store.runs(limit=2)) == 2

    # The skips started later, but only runs that measured count for the schedule.
    assert store.last_start("web") == started + timedelta(hours=1)
    assert store.last_start("apps") == started + timedelta(hours=2)
    assert store.last_start("nobody") is None
    assert store.bytes_since(started) == 4000
    assert store.bytes_since(started + timedelta(minutes=1)) == 2500
    assert store.bytes_since(datetime.now(UTC) + timedelta(hours=1)) == 0


def test_close_abandoned_runs(store: ResultStore) -> None:
    dead = _dead_pid()
    mine = store.start_run("web", 1)
    orphan = store.start_run("web", 1)
    _sql(store, "UPDATE runs SET pid = ? WHERE run_id = ?", (dead, orphan))
    finished_dead = store.start_run("web", 1)
    store.finish_run(finished_dead, RunStatus.OK)
    _sql(store, "UPDATE runs SET pid = ? WHERE run_id = ?", (dead, finished_dead))
    with subprocess.Popen(["sleep", "30"]) as alive:
        try:
            living = store.start_run("apps", 1)
            _sql(store, "UPDATE runs SET pid = ? WHERE run_id = ?", (alive.pid, living))
            assert store.close_abandoned_runs() == 1
            assert store.close_abandoned_runs() == 0
        finally:
            alive.kill()
    status = {r.run_id: r for r in store.runs(limit=100)}
    assert status[orphan].status is RunStatus.INTERRUPTED
    assert "stopped during the run" in str(status[orphan].error)
    assert status[mine].status is RunStatus.RUNNING  # this process: still going
    assert status[living].status is RunStatus.RUNNING  # another live process
    assert status[finished_dead].status is RunStatus.OK
    assert os.getpid() != dead


# State, stats, integrity


def test_state_round_trip(store: ResultStore) -> None:
    assert store.get_state("daemon") is None
    value = {"pid": 12, "jobs": [{"name": "web", "next_run": None}], "paused": False}
    store.set_state("daemon", value)
    assert store.get_state("daemon") == value
    store.set_state("daemon", [1, "two", 3.5])
    assert store.get_state("daemon") == [1, "two", 3.5]
    store.set_state("when", T0)  # not JSON: stored as its str()
    assert store.get_state("when") == str(T0)
    assert _sql(store, "SELECT COUNT(*) FROM state") == [(2,)]


def test_stats(store: ResultStore, stored_result: TargetResult) -> None:
    empty = store.stats()
    assert (empty.results, empty.pending, empty.record_bytes) == (0, 0, 0)
    assert empty.oldest is None and empty.newest is None
    times = [T0 + timedelta(hours=5), T0, T0 + timedelta(hours=2, microseconds=7)]
    added = [store.add_result(_at(stored_result, t), "web") for t in times]
    store.mark_uploaded([added[0].measurement_id])
    stats = store.stats()
    assert (stats.results, stats.pending) == (3, 2)
    assert stats.oldest == T0 and stats.newest == T0 + timedelta(hours=5)
    assert stats.record_bytes == sum(len(s.model_dump_json().encode()) for s in added)
    assert stats.file_bytes > 0
    assert store.integrity_check() == "ok"


def test_reader_while_writing(tmp_path: Path, stored_result: TargetResult) -> None:
    data_dir = tmp_path / "data"
    errors: list[BaseException] = []
    seen: list[int] = []
    written: list[int] = []
    done = threading.Event()
    writer_store = ResultStore.open(data_dir)

    def write() -> None:
        # Keep writing until the reader has read several times (or a cap): they overlap.
        try:
            for count in range(1, 501):
                writer_store.add_result(stored_result, "web")
                written.append(count)
                if count >= 10 and len(seen) >= 5:
                    return
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        try:
            while True:
                finished = done.is_set()
                with ResultStore.open(data_dir, create=False) as reader:
                    seen.append(len(_ok(reader.results())))
                    assert reader.stats().results >= seen[-1]
                if finished:
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    writer_store.close()
    assert not errors, errors
    assert len(seen) >= 5 and seen == sorted(seen)
    assert seen[-1] == written[-1]
    assert seen[0] < written[-1]  # a read happened while the writer was still writing


def test_marks_from_many_threads_are_each_one_transaction(
    store: ResultStore, stored_result: TargetResult
) -> None:
    """Marking holds the store for its whole transaction: no other thread's write joins it."""
    stored = [store.add_result(stored_result, "web") for _ in range(40)]
    errors: list[BaseException] = []

    def mark(ids: list[str]) -> None:
        try:
            for _ in range(50):
                store.mark_uploaded([str(uuid.uuid4()) for _ in range(10)] + ids)
                store.add_result(stored_result, "other")
        except BaseException as exc:
            errors.append(exc)

    halves = [[str(r.measurement_id) for r in stored[i::2]] for i in (0, 1)]
    threads = [threading.Thread(target=mark, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert store.stats().pending == 100, "every add landed, every mark is complete"
    assert store.stats().results == 140


def test_results_are_read_in_pages(
    store: ResultStore, stored_result: TargetResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("probe.store.sqlite.READ_PAGE_ROWS", 3)
    added = [store.add_result(stored_result, "web" if i % 2 else "dns") for i in range(10)]
    assert [r.measurement_id for r in _ok(store.results())] == [r.measurement_id for r in added]
    web = [r.measurement_id for r in added if r.job == "web"]
    assert [r.measurement_id for r in _ok(store.results(job="web"))] == web
    assert [r.measurement_id for r in _ok(store.results(job="web", limit=4))] == web[:4]
    assert len(list(store.results(limit=7))) == 7
    assert list(store.results(limit=0)) == []
