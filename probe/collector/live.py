"""The live index: what the public pages read, kept up to date as bundles arrive.

Its own SQLite file beside the collector's store (`live.sqlite3`), so the store's schema and
locks stay as they are. `LiveIndex.catch_up()` reads the measurements the store accepted since
the last call (by `seq`, the store's arrival order) and, for each, adds its fact (the report's
`facts.fact_row`), the cell's latest state, an hourly timeline bucket and the window spans
(`spans.note_fact`). The store is only read (attached read-only), so a crash between the two
files loses nothing: the next catch-up takes the measurements again from the mark it kept.

```
facts            one row per measurement (report/facts.FACT_COLUMNS, plus the store's seq)
live_state       network × platform: the latest state, since when, last measured
live_probe_state … the same per probe (never shown: counted)
live_buckets     network × platform × hour × shown verdict: counts (the timelines)
live_networks    ASN → the operator's name last seen
live_spans       the window spans (spans.py)
live_claims      operators' statements (`probe collector claims add`)
live_meta        the catch-up mark and the count of unreadable records
```
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.request import pathname2url

from probe.collector.spans import SPANS_SCHEMA, Fact, note_fact
from probe.errors import StoreError
from probe.models.results import Blocking, Verdict
from probe.report.facts import FACT_COLUMNS, UnreadableRecord, fact_row

LIVE_FILE = "live.sqlite3"
LIVE_VERSION = 2  # 2: the buckets' covering indexes by network and by platform
BUCKET_MS = 3_600_000
CATCH_UP_ROWS = 2000
_STORE_FILE = "collector.sqlite3"
_BUSY_TIMEOUT_S = 30

# The window rules look for a probe's nearest good measurement and count a partition's good
# ones inside a window: each partition has an index that covers those conditions (verdict,
# blocking, network state), so neither reads a table row (bench/README.md, issue 23).
# A network's or a platform's page reads its days of buckets from an index that covers them
# (by network or platform, then time), so it reads no table row either.
LIVE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS facts (seq INTEGER PRIMARY KEY, "
    + ", ".join(
        f"{c} {'INTEGER' if c in ('t_ms', 'controls_total', 'controls_ok') else 'TEXT'} NOT NULL"
        for c in FACT_COLUMNS
    )
    + ");"
    + """
CREATE INDEX IF NOT EXISTS facts_t ON facts (t_ms);
CREATE INDEX IF NOT EXISTS facts_np ON facts (network, platform, t_ms, measurement_id, verdict,
    blocking);
CREATE INDEX IF NOT EXISTS facts_npp ON facts (network, platform, probe_id, t_ms, measurement_id,
    verdict, blocking);
CREATE INDEX IF NOT EXISTS facts_nt ON facts (network, t_ms, measurement_id, verdict, blocking,
    network_state);
CREATE INDEX IF NOT EXISTS facts_npr ON facts (network, probe_id, t_ms, measurement_id, verdict,
    blocking, network_state);
CREATE INDEX IF NOT EXISTS facts_pt ON facts (platform, t_ms, measurement_id, verdict, blocking);
CREATE INDEX IF NOT EXISTS facts_ppr ON facts (platform, probe_id, t_ms, measurement_id, verdict,
    blocking);
CREATE TABLE IF NOT EXISTS live_state (
    network TEXT NOT NULL, platform TEXT NOT NULL, state TEXT NOT NULL, blocking TEXT NOT NULL,
    since_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, PRIMARY KEY (network, platform)
);
CREATE TABLE IF NOT EXISTS live_probe_state (
    network TEXT NOT NULL, platform TEXT NOT NULL, probe_id TEXT NOT NULL, state TEXT NOT NULL,
    t_ms INTEGER NOT NULL, PRIMARY KEY (network, platform, probe_id)
);
CREATE TABLE IF NOT EXISTS live_buckets (
    network TEXT NOT NULL, platform TEXT NOT NULL, bucket_ms INTEGER NOT NULL,
    shown TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (network, platform, bucket_ms, shown)
);
CREATE INDEX IF NOT EXISTS live_buckets_t ON live_buckets (bucket_ms);
CREATE INDEX IF NOT EXISTS live_buckets_nt ON live_buckets (network, bucket_ms, platform, shown, n);
CREATE INDEX IF NOT EXISTS live_buckets_pt ON live_buckets (platform, bucket_ms, network, shown, n);
CREATE TABLE IF NOT EXISTS live_networks (network TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS live_claims (
    claim_id INTEGER PRIMARY KEY AUTOINCREMENT, claim TEXT NOT NULL, added_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS live_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
    + SPANS_SCHEMA
)
_INSERT_FACT = (
    f"INSERT OR IGNORE INTO facts (seq, {', '.join(FACT_COLUMNS)})"
    f" VALUES (?, {', '.join('?' * len(FACT_COLUMNS))})"
)
_SPAN_FIELDS = tuple(Fact.__dataclass_fields__)


def state_of(verdict: str, blocking: str) -> str | None:
    """Return the state a measurement shows on the "now" matrix (None: inconclusive, no state).

    One of accessible, blocked, throttled, whitelisting, network_outage, platform_down.
    """
    if verdict == Verdict.BLOCKED.value and blocking == Blocking.WHITELISTING.value:
        return "whitelisting"
    return {
        Verdict.ACCESSIBLE.value: "accessible",
        Verdict.BLOCKED.value: "blocked",
        Verdict.THROTTLED.value: "throttled",
        Verdict.NETWORK_OUTAGE.value: "network_outage",
        Verdict.SERVICE_DOWN.value: "platform_down",
    }.get(verdict)


def _shown(verdict: str, blocking: str) -> str:
    """The timeline's verdict (report/sql.timeline_query): whitelisting apart from blocked."""
    if verdict == Verdict.BLOCKED.value and blocking == Blocking.WHITELISTING.value:
        return Blocking.WHITELISTING.value
    return verdict


class LiveIndex:
    """The live index of one collector's data_dir. Thread-safe (one lock)."""

    def __init__(self, data_dir: Path, db: sqlite3.Connection) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LIVE_FILE
        self.db = db
        self.lock = threading.RLock()

    @classmethod
    def open(cls, data_dir: Path) -> LiveIndex:
        """Return the live index under `data_dir` (created, or migrated, as needed)."""
        path = data_dir / LIVE_FILE
        try:
            db = sqlite3.connect(f"file:{pathname2url(str(path))}", uri=True,
                                 timeout=_BUSY_TIMEOUT_S, isolation_level=None,
                                 check_same_thread=False)  # fmt: skip
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # rebuilt from the store if lost
            db.execute("PRAGMA cache_size = -65536")
            migrate(db)
            store = data_dir / _STORE_FILE
            db.execute("ATTACH DATABASE ? AS src", (f"file:{pathname2url(str(store))}?mode=ro",))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the live index {path}: {exc}") from exc
        return cls(data_dir, db)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def mark(self) -> int:
        row = self.db.execute("SELECT value FROM live_meta WHERE name = 'seq'").fetchone()
        return 0 if row is None else int(row[0])

    def backlog(self) -> int:
        """Return about how many stored measurements are not taken in yet."""
        with self.lock:
            row = self.db.execute("SELECT MAX(seq) FROM src.measurements").fetchone()
        return max(0, int(row[0] or 0) - self.mark())

    def catch_up(self, max_rows: int | None = None) -> int:
        """Take in the measurements the store accepted since the last call; return how many.

        Raises StoreError when either file fails (the mark is not moved: nothing is lost).
        """
        taken = 0
        try:
            while max_rows is None or taken < max_rows:
                with self.transaction() as db:
                    mark = self.mark()
                    rows = db.execute(
                        "SELECT seq, probe_id, record FROM src.measurements WHERE seq > ?"
                        " ORDER BY seq LIMIT ?",
                        (mark, CATCH_UP_ROWS),
                    ).fetchall()
                    if not rows:
                        break
                    for seq, probe_id, record in rows:
                        self._take(db, int(seq), str(probe_id), str(record))
                    db.execute("INSERT OR REPLACE INTO live_meta VALUES ('seq', ?)", (rows[-1][0],))
                taken += len(rows)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        return taken

    def _take(self, db: sqlite3.Connection, seq: int, probe_id: str, record: str) -> None:
        try:
            data = json.loads(record)
            row = fact_row(data if isinstance(data, dict) else {}, probe_id)
        except (UnreadableRecord, ValueError, RecursionError):
            db.execute("INSERT INTO live_meta VALUES ('unreadable', 1) ON CONFLICT (name)"
                       " DO UPDATE SET value = value + 1")  # fmt: skip
            return
        add_fact(db, seq, row)


def add_fact(db: sqlite3.Connection, seq: int, row: tuple[str | int, ...]) -> None:
    """Add one fact row (FACT_COLUMNS order) and everything kept from it, inside a transaction."""
    if db.execute(_INSERT_FACT, (seq, *row)).rowcount != 1:
        return
    fact = dict(zip(FACT_COLUMNS, row, strict=True))
    network, platform = str(fact["network"]), str(fact["platform"])
    verdict, blocking, t_ms = str(fact["verdict"]), str(fact["blocking"]), int(fact["t_ms"])
    if fact["network_name"]:
        db.execute("INSERT OR REPLACE INTO live_networks VALUES (?, ?)",
                   (network, fact["network_name"]))  # fmt: skip
    db.execute(
        "INSERT INTO live_buckets VALUES (?, ?, ?, ?, 1) ON CONFLICT"
        " (network, platform, bucket_ms, shown) DO UPDATE SET n = n + 1",
        (network, platform, t_ms - t_ms % BUCKET_MS, _shown(verdict, blocking)),
    )
    state = state_of(verdict, blocking)
    if state is not None:
        _note_state(db, network, platform, str(fact["probe_id"]), state, blocking, t_ms)
    note_fact(db, Fact(**{name: fact[name] for name in _SPAN_FIELDS}))  # type: ignore[arg-type]


def _note_state(
    db: sqlite3.Connection, network: str, platform: str, probe_id: str, state: str,
    blocking: str, t_ms: int,
) -> None:  # fmt: skip
    db.execute(
        "INSERT INTO live_probe_state VALUES (?, ?, ?, ?, ?) ON CONFLICT"
        " (network, platform, probe_id) DO UPDATE SET state = excluded.state,"
        " t_ms = excluded.t_ms WHERE excluded.t_ms >= t_ms",
        (network, platform, probe_id, state, t_ms),
    )
    shown = blocking if state in ("blocked", "throttled") else ""
    db.execute(
        "INSERT INTO live_state VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (network, platform)"
        " DO UPDATE SET since_ms = CASE WHEN excluded.state = state AND excluded.blocking ="
        " blocking THEN since_ms ELSE excluded.since_ms END, state = excluded.state,"
        " blocking = excluded.blocking, last_ms = excluded.last_ms"
        " WHERE excluded.last_ms >= last_ms",
        (network, platform, state, shown, t_ms, t_ms),
    )


def migrate(db: sqlite3.Connection) -> None:
    """Create or upgrade the live index's tables (its own user_version)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > LIVE_VERSION:
            raise StoreError(f"the live index was written by a newer probe (version {version})")
        if version < LIVE_VERSION:
            for statement in LIVE_SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {LIVE_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


__all__ = ["BUCKET_MS", "LIVE_FILE", "LiveIndex", "add_fact", "migrate", "state_of"]
