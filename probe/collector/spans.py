"""Incremental spans: the report's windows rules (report/sql.WindowSpec), kept up to date one
measurement at a time, so the live pages never recompute history.

A span is one probe's run of `bad` measurements of one partition with no `good` one between
them (report/windows.py). When a fact arrives, only the stretch between the probe's nearest
good measurements around it can change: its spans are deleted and rebuilt from the facts of
that stretch. A bad fact that comes after everything the probe sent (the usual order) extends
its open span in place. tests/collector/live/test_spans.py checks that the result equals the
report's own window query (sql.windows_query) over the same facts, whatever the arrival order.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from probe.models.reports import LIST_SEPARATOR
from probe.models.results import Verdict
from probe.report import sql
from probe.report.sql import INCIDENTS, OUTAGES, PLATFORM_DOWN, WHITELISTING, Dialect, WindowSpec
from probe.report.windows import Span

SQLITE = Dialect(
    name="sqlite",
    types={"text": "TEXT", "int64": "INTEGER", "int32": "INTEGER"},
    backslash_escapes=False,
    # SQLite's DISTINCT aggregate takes one argument: join with "," then swap the separator
    # (only probe ids, hex, are joined this way by the claim query).
    distinct_concat="coalesce(replace(group_concat(DISTINCT {column}), ',', {sep}), '')",
    join_setting="",
)

# The window kinds kept, by name (the `kind` column of live_spans).
SPECS: dict[str, WindowSpec] = {
    "incident": INCIDENTS,
    "network_outage": OUTAGES,
    "platform_down": PLATFORM_DOWN,
    "whitelisting": WHITELISTING,
}

SPANS_SCHEMA = """
CREATE TABLE IF NOT EXISTS live_spans (
    kind TEXT NOT NULL, k1 TEXT NOT NULL, k2 TEXT NOT NULL, probe_id TEXT NOT NULL,
    start_t INTEGER NOT NULL, start_mid TEXT NOT NULL,
    end_t INTEGER NOT NULL, end_mid TEXT NOT NULL,
    n INTEGER NOT NULL, throttled INTEGER NOT NULL, methods TEXT NOT NULL,
    endpoint_methods TEXT NOT NULL, endpoints TEXT NOT NULL, members TEXT NOT NULL,
    good_before INTEGER, good_after INTEGER
);
CREATE INDEX IF NOT EXISTS live_spans_probe ON live_spans (kind, k1, k2, probe_id, start_t);
CREATE INDEX IF NOT EXISTS live_spans_end ON live_spans (kind, end_t);
CREATE INDEX IF NOT EXISTS live_spans_key_end ON live_spans (kind, k1, k2, end_t);
"""


@dataclass(frozen=True)
class Fact:
    """What the span rules read of one measurement."""

    measurement_id: str
    probe_id: str
    t_ms: int
    network: str
    platform: str
    input: str
    verdict: str
    blocking: str
    methods: str
    endpoints: str
    control_sites_ok: str
    network_state: str

    def column(self, name: str) -> str:
        value = getattr(self, name)
        assert isinstance(value, str)
        return value


_FACT_FIELDS = ", ".join(Fact.__dataclass_fields__)


@functools.cache
def _sql(match: sql.Match) -> str:
    """A rule's condition as SQLite text (made once: it runs for every measurement)."""
    return match.sql(SQLITE)


def _key(spec: WindowSpec, fact: Fact) -> tuple[str, str]:
    values = [fact.column(c) for c in spec.partition]
    return values[0], values[1] if len(values) > 1 else ""


def _where(spec: WindowSpec) -> str:
    columns = [*spec.partition, "probe_id"]
    return " AND ".join(f"{c} = ?" for c in columns)


@dataclass
class _Building:
    """A span being rebuilt from its facts."""

    first: Fact
    last: Fact
    n: int = 0
    throttled: int = 0
    methods: Counter[str] | None = None
    endpoint_methods: dict[str, None] | None = None
    endpoints: dict[str, None] | None = None
    members: dict[str, None] | None = None

    def add(self, fact: Fact, spec: WindowSpec) -> None:
        self.last = fact
        self.n += 1
        self.throttled += fact.verdict == Verdict.THROTTLED.value
        if self.methods is None or self.endpoint_methods is None:
            self.methods, self.endpoint_methods, self.endpoints, self.members = (
                Counter(), {}, {}, {},
            )  # fmt: skip
        assert self.endpoints is not None and self.members is not None
        if fact.blocking in sql.METHODS:
            self.methods[fact.blocking] += 1
        for target, text in ((self.endpoint_methods, fact.methods),
                             (self.endpoints, fact.column(spec.details)),
                             (self.members, fact.column(spec.members))):  # fmt: skip
            for part in text.split(LIST_SEPARATOR):
                if part.strip():
                    target[part.strip()] = None


def _nearest_good(
    db: sqlite3.Connection, spec: WindowSpec, fact: Fact, after: bool
) -> tuple[int, str] | None:
    """Return (t_ms, measurement_id) of the probe's nearest good fact of the partition before
    (or after) `fact`, in the report's order (t_ms, measurement_id)."""
    good = _sql(spec.good)
    params = [*(fact.column(c) for c in spec.partition), fact.probe_id]
    sign, order = (">", "ASC") if after else ("<", "DESC")
    row = db.execute(
        f"SELECT t_ms, measurement_id FROM facts WHERE {_where(spec)} AND {good}"
        f" AND (t_ms, measurement_id) {sign} (?, ?)"
        f" ORDER BY t_ms {order}, measurement_id {order} LIMIT 1",
        [*params, fact.t_ms, fact.measurement_id],
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def _aggregates(span: _Building) -> tuple[str, str, str, str]:
    """The span's methods (JSON), endpoint methods, endpoints and members (|-joined)."""
    return (
        json.dumps(dict(span.methods or {}), sort_keys=True),
        LIST_SEPARATOR.join(span.endpoint_methods or ()),
        LIST_SEPARATOR.join(span.endpoints or ()),
        LIST_SEPARATOR.join(span.members or ()),
    )


def _store(
    db: sqlite3.Connection, kind: str, key: tuple[str, str], span: _Building,
    good_before: int | None, good_after: int | None,
) -> None:  # fmt: skip
    db.execute(
        "INSERT INTO live_spans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (kind, key[0], key[1], span.first.probe_id, span.first.t_ms, span.first.measurement_id,
         span.last.t_ms, span.last.measurement_id, span.n, span.throttled,
         *_aggregates(span), good_before, good_after),
    )  # fmt: skip


def _rebuild(
    db: sqlite3.Connection, kind: str, spec: WindowSpec, fact: Fact,
    before: tuple[int, str] | None, after: tuple[int, str] | None,
) -> None:  # fmt: skip
    """Delete and rebuild the spans of `fact`'s probe and partition between two good facts."""
    key = _key(spec, fact)
    low = (-(2**62), "") if before is None else before
    high = (2**62, "") if after is None else after
    db.execute(
        "DELETE FROM live_spans WHERE kind = ? AND k1 = ? AND k2 = ? AND probe_id = ?"
        " AND (start_t, start_mid) > (?, ?) AND (start_t, start_mid) < (?, ?)",
        (kind, *key, fact.probe_id, *low, *high),
    )
    bad, good = _sql(spec.bad), _sql(spec.good)
    rows = db.execute(
        f"SELECT {_FACT_FIELDS}, {good} FROM facts WHERE {_where(spec)} AND ({bad} OR {good})"
        " AND (t_ms, measurement_id) > (?, ?) AND (t_ms, measurement_id) < (?, ?)"
        " ORDER BY t_ms, measurement_id",
        [*(fact.column(c) for c in spec.partition), fact.probe_id, *low, *high],
    )  # fmt: skip
    good_before = None if before is None else before[0]
    current: _Building | None = None
    for row in rows:
        item = Fact(*row[:-1])
        if row[-1]:
            if current is not None:
                _store(db, kind, key, current, good_before, item.t_ms)
                current = None
            good_before = item.t_ms
            continue
        if current is None:
            current = _Building(item, item)
        current.add(item, spec)
    if current is not None:
        _store(db, kind, key, current, good_before, None if after is None else after[0])


def note_fact(db: sqlite3.Connection, fact: Fact) -> None:
    """Bring the spans of every window kind up to date with one fact just added to `facts`."""
    for kind, spec in SPECS.items():
        args = (fact.verdict, fact.blocking, fact.network_state)
        if not (spec.bad.matches(*args) or spec.good.matches(*args)):
            continue
        before = _nearest_good(db, spec, fact, after=False)
        after = _nearest_good(db, spec, fact, after=True)
        if after is None and spec.bad.matches(*args) and _extend(db, kind, spec, fact, before):
            continue
        _rebuild(db, kind, spec, fact, before, after)


def _extend(
    db: sqlite3.Connection, kind: str, spec: WindowSpec, fact: Fact,
    before: tuple[int, str] | None,
) -> bool:  # fmt: skip
    """Extend the probe's open span by a bad fact later than all it holds; False if none."""
    key = _key(spec, fact)
    row = db.execute(
        "SELECT rowid, end_t, end_mid, n, throttled, methods, endpoint_methods, endpoints,"
        " members, good_before FROM live_spans WHERE kind = ? AND k1 = ? AND k2 = ?"
        " AND probe_id = ? AND good_after IS NULL ORDER BY start_t DESC LIMIT 1",
        (kind, *key, fact.probe_id),
    ).fetchone()
    if row is None or (row[1], row[2]) >= (fact.t_ms, fact.measurement_id):
        return False
    if row[9] != (None if before is None else before[0]):
        return False
    span = _Building(fact, fact, n=int(row[3]), throttled=int(row[4]),
                     methods=Counter(json.loads(row[5])),
                     endpoint_methods=dict.fromkeys(_parts(row[6])),
                     endpoints=dict.fromkeys(_parts(row[7])),
                     members=dict.fromkeys(_parts(row[8])))  # fmt: skip
    span.add(fact, spec)
    db.execute(
        "UPDATE live_spans SET end_t = ?, end_mid = ?, n = ?, throttled = ?, methods = ?,"
        " endpoint_methods = ?, endpoints = ?, members = ? WHERE rowid = ?",
        (fact.t_ms, fact.measurement_id, span.n, span.throttled,
         *_aggregates(span), row[0]),
    )  # fmt: skip
    return True


def _in_method_order(methods: dict[str, int]) -> dict[str, int]:
    """The report's order of methods (sql.METHODS): ties between methods break the same way."""
    return {m: methods[m] for m in sql.METHODS if methods.get(m)}


def _parts(text: str) -> list[str]:
    return [p for p in text.split(LIST_SEPARATOR) if p]


def stored_spans(
    db: sqlite3.Connection, kind: str, since_ms: int, where: str = "", params: Sequence[object] = ()
) -> list[tuple[Span, tuple[int, str, int, str]]]:
    """Return the spans of `kind` that end at or after `since_ms`, each with (start_t,
    start_mid, end_t, end_mid) for counting the partition's good facts inside its window."""
    rows = db.execute(
        "SELECT k1, k2, probe_id, start_t, start_mid, end_t, end_mid, n, throttled, methods,"
        " endpoint_methods, endpoints, members, good_before, good_after FROM live_spans"
        f" WHERE kind = ? AND end_t >= ?{where} ORDER BY k1, k2, start_t, probe_id, start_mid",
        (kind, since_ms, *params),
    ).fetchall()
    width = len(SPECS[kind].partition)
    found = []
    for r in rows:
        span = Span(
            key=(str(r[0]), str(r[1]))[:width], probe_id=str(r[2]), start=int(r[3]),
            end=int(r[5]), measurements=int(r[7]), throttled=int(r[8]),
            methods=_in_method_order(json.loads(r[9])), endpoint_methods=frozenset(_parts(r[10])),
            endpoints=frozenset(_parts(r[11])), members=frozenset(_parts(r[12])),
            good_before=r[13], good_after=r[14],
        )  # fmt: skip
        found.append((span, (int(r[3]), str(r[4]), int(r[5]), str(r[6]))))
    return found


def good_between(
    db: sqlite3.Connection, kind: str, key: tuple[str, ...], first: tuple[int, str],
    last: tuple[int, str],
) -> int:  # fmt: skip
    """Return how many good facts of the partition (every probe) lie in (first, last]: the
    report's seen_good difference (windows.good_meanwhile)."""
    spec = SPECS[kind]
    terms = " AND ".join(f"{c} = ?" for c in spec.partition)
    ((count,),) = db.execute(
        f"SELECT COUNT(*) FROM facts WHERE {terms} AND {_sql(spec.good)}"
        " AND (t_ms, measurement_id) > (?, ?) AND (t_ms, measurement_id) <= (?, ?)",
        (*key, *first, *last),
    ).fetchall()
    return int(count)


__all__ = ["SPANS_SCHEMA", "SPECS", "SQLITE", "Fact", "good_between", "note_fact", "stored_spans"]
