"""Where a report's measurements come from, turned into facts and loaded into an engine.

Sources: the local store, hand-carried bundle files (every signature verified), a collector's
index (its records arrive here as JSON text through the CLI) and a facts file written earlier
(`probe report --save-facts`). Facts travel to the engine as one CSV file: both engines read
CSV natively, and it keeps the loaded table independent of the Python driver.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from probe.errors import BundleError, ReportError
from probe.report.engines import Engine
from probe.report.facts import (
    FACT_COLUMNS,
    FactRow,
    Skipped,
    UnreadableRecord,
    fact_row,
    facts_from_json,
)
from probe.ship.bundle import Limits, iter_bundles, iter_records, verify_signature
from probe.store import ResultStore

LOCAL_PROBE = "local"


def store_facts(
    store: ResultStore,
    probe_id: str,
    skipped: Skipped,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[FactRow]:
    """Yield the facts of the local store's results measured in [since, until)."""
    texts = (
        (f"{store.path} result {measurement_id}", probe_id, record)
        for measurement_id, record in store.iter_record_texts(since=since, until=until)
    )
    yield from facts_from_json(texts, skipped)


def bundle_facts(
    paths: Iterable[Path],
    skipped: Skipped,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limits: Limits | None = None,
) -> Iterator[FactRow]:
    """Yield the facts of every verified bundle in hand-carried files; a bundle that does not
    verify is skipped whole, with the reason."""
    limits = limits or Limits()
    for path in paths:
        try:
            stream = path.open("rb")
        except OSError as exc:
            raise ReportError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        with stream:
            for number, item in enumerate(iter_bundles(stream, limits), start=1):
                where = f"{path} bundle {number}"
                if isinstance(item, BundleError):
                    skipped.add(where, str(item))
                    continue
                rows: list[FactRow] = []  # a bundle counts whole or not at all
                try:
                    verify_signature(item)
                    for record in iter_records(item, limits):
                        moment = record.measurement_start_time
                        if (since and moment < since) or (until and moment >= until):
                            continue
                        rows.append(
                            fact_row(record.model_dump(mode="json"), item.manifest.probe_id)
                        )
                except (BundleError, UnreadableRecord) as exc:
                    skipped.add(where, str(exc))
                    continue
                yield from rows


def write_facts_csv(rows: Iterable[FactRow], path: Path) -> int:
    """Write facts as CSV with a header; return how many rows were written."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(FACT_COLUMNS)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def load_facts(engine: Engine, rows: Iterable[FactRow]) -> int:
    """Load fact rows into the engine's `facts` table; return how many."""
    with tempfile.TemporaryDirectory(prefix="probe-report-") as scratch:
        path = Path(scratch) / "facts.csv"
        count = write_facts_csv(rows, path)
        if count:
            engine.load(path)
    return count
