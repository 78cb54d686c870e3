"""The local store: every result the daemon (or `probe run`) measured, durable before it counts.

SQLite in WAL mode with `synchronous=FULL` (docs/architecture.md, "Storage", says why): a
committed result survives SIGKILL and power loss, a half-written one is rolled back on the next
open, and readers (`probe results`, `probe status`) never block the daemon. The store keeps
records; it never interprets them (the verdict column is an index, copied from the record).

Modules:
    database    the one SQLite plumbing (open, pragmas, WAL check, migrations, lock, errors),
                shared with the collector's index (collector/storage.py)
    sqlite      ResultStore: open, add results, record runs, query, retention
    outbox      the outbox half of ResultStore: sealed bundles until a collector acknowledges them
    timestamps  iso(), parse_iso(): times as sortable UTC text (the collector's index too)
    paging      iter_measured(), time_range(): rows of a time range, a page per query (both indexes)
"""

from probe.errors import StoreFullError
from probe.store.outbox import OutboxEntry, OutboxStats, SealRaced, UnbundledRow
from probe.store.sqlite import STORE_FILE, ResultStore, StoreStats

__all__ = [
    "STORE_FILE",
    "OutboxEntry",
    "OutboxStats",
    "ResultStore",
    "SealRaced",
    "StoreFullError",
    "StoreStats",
    "UnbundledRow",
]
