"""Read a table in pages of rows measured in a time range: one query per page, nothing held
between pages (the daemon keeps writing). The local store and the collector's index share it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from probe.store.timestamps import iso

Reader = Callable[[str, list[object]], list[tuple[object, ...]]]


def time_range(
    since: datetime | None, until: datetime | None, column: str = "measured_at"
) -> tuple[list[str], list[object]]:
    """Return the WHERE terms and parameters of [since, until) on `column` (sortable UTC text)."""
    terms: list[str] = []
    params: list[object] = []
    if since is not None:
        terms.append(f"{column} >= ?")
        params.append(iso(since))
    if until is not None:
        terms.append(f"{column} < ?")
        params.append(iso(until))
    return terms, params


def iter_measured(
    read: Reader,
    table: str,
    columns: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int,
    leading: list[object] | None = None,
) -> Iterator[tuple[object, ...]]:
    """Yield the rows of `table` measured in [since, until), by `seq`, `page` rows per query.

    `columns` must start with `seq` (the cursor); each row is yielded without it. `leading`:
    the parameters of placeholders in `columns`, if any.
    """
    terms, params = time_range(since, until)
    where = " AND ".join(["seq > ?", *terms])
    sql = f"SELECT {columns} FROM {table} WHERE {where} ORDER BY seq LIMIT ?"
    last = 0
    while True:
        rows = read(sql, [*(leading or []), last, *params, page])
        for seq, *values in rows:
            last = int(str(seq))
            yield tuple(values)
        if len(rows) < page:
            return
