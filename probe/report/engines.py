"""The two engines the report runs on: DuckDB (embedded, the default) and ClickHouse (chdb).

Both hold one table, `facts` (probe.models.reports.MeasurementFact), loaded from a CSV or
Parquet file, and answer the portable SQL of probe.report.sql as lists of tuples. The engine
modules are imported only here and only when an engine is made: `probe --version` never
loads them.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Protocol

from probe.errors import ReportError
from probe.report.sql import CLICKHOUSE, DUCKDB, FACT_TYPES, LATER_COLUMNS, Dialect

Row = tuple[Any, ...]


class Engine(Protocol):
    """What the report needs from a SQL engine."""

    dialect: Dialect

    def load(self, path: Path) -> None:
        """Load facts from a CSV (with a header row) or Parquet file into `facts`."""

    def query(self, sql: str) -> list[Row]:
        """Return the rows of `sql`."""

    def deduplicate(self) -> None:
        """Keep one row per (probe_id, measurement_id): sources may overlap."""

    def close(self) -> None:
        """Release the engine."""


def _file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".parquet"):
        return suffix[1:]
    raise ReportError(f"{path}: facts files are .csv or .parquet, not {suffix or 'no suffix'!r}")


class DuckDbEngine:
    """DuckDB over a database file in a private temporary directory, removed on close.

    A file, not memory: DuckDB compresses what it stores, so 10 M facts take half the memory
    they take as an in-memory table (bench/report_bench.py), and past `memory_limit` it spills.
    """

    dialect = DUCKDB

    def __init__(self, *, threads: int | None = None, memory_limit: str | None = None) -> None:
        import tempfile

        import duckdb

        config: dict[str, Any] = {}
        if threads:
            config["threads"] = threads
        if memory_limit:
            # Past the limit DuckDB spills to temporary files instead of growing (default: 80 %
            # of the machine's memory).
            config["memory_limit"] = memory_limit
        self._errors = duckdb.Error
        self._scratch = tempfile.TemporaryDirectory(prefix="probe-report-")
        try:
            self._db = duckdb.connect(str(Path(self._scratch.name) / "facts.duckdb"), config=config)
            # No progress bar: it would be drawn on the user's terminal in the middle of a report.
            self._db.execute("SET enable_progress_bar = false")
            self._db.execute(f"CREATE TABLE facts ({DUCKDB.column_types()})")
        except duckdb.Error as exc:
            self._scratch.cleanup()
            raise ReportError(f"DuckDB: {exc}") from exc

    def _columns_in(self, path: Path, kind: str) -> list[str]:
        """Return the column names of a facts file (its header, for CSV)."""
        if kind == "csv":
            try:
                with path.open(encoding="utf-8", newline="") as stream:
                    return next(csv.reader(stream), [])
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                raise ReportError(f"{path}: cannot read facts: {exc}") from exc
        try:
            rows = self._db.execute(
                f"DESCRIBE SELECT * FROM read_parquet({DUCKDB.text(str(path))})"
            ).fetchall()
        except self._errors as exc:
            raise ReportError(f"{path}: cannot load facts: {exc}") from exc
        return [str(row[0]) for row in rows]

    def load(self, path: Path) -> None:
        """Load a facts file; one written before a later column (LATER_COLUMNS) gets its
        default, one missing any other column is refused, naming it."""
        import duckdb

        kind = _file_format(path)
        present = self._columns_in(path, kind)
        missing = [name for name in FACT_TYPES if name not in present]
        required = [name for name in missing if name not in LATER_COLUMNS]
        if required:
            raise ReportError(f"{path}: not a facts file: no column(s) {', '.join(required)}")
        literal = DUCKDB.text(str(path))
        if kind == "csv":
            columns = ", ".join(
                f"{DUCKDB.text(name)}: {DUCKDB.text(DUCKDB.types[FACT_TYPES.get(name, 'text')])}"
                for name in present
            )
            source = (
                f"read_csv({literal}, header = true, columns = {{{columns}}},"
                " quote = '\"', escape = '\"', nullstr = '\\N')"
            )
        else:
            source = f"read_parquet({literal})"
        names = ", ".join(
            f"{DUCKDB.text(LATER_COLUMNS[name])} AS {name}" if name in missing else name
            for name in FACT_TYPES
        )
        try:
            self._db.execute(f"INSERT INTO facts SELECT {names} FROM {source}")
        except duckdb.Error as exc:
            raise ReportError(f"{path}: cannot load facts: {exc}") from exc

    def query(self, sql: str) -> list[Row]:
        return self._db.execute(sql).fetchall()

    def deduplicate(self) -> None:
        self._db.execute(
            "CREATE OR REPLACE TABLE facts AS SELECT * FROM facts QUALIFY row_number() OVER"
            " (PARTITION BY probe_id, measurement_id ORDER BY t_ms) = 1"
        )

    def insert_sql(self, select: str) -> None:
        """Insert the rows of a SELECT into facts (the benchmark's generator uses it)."""
        self._db.execute(f"INSERT INTO facts {select}")

    def export(self, path: Path) -> None:
        """Write the facts table to a Parquet or CSV file (by its suffix), atomically."""
        import os

        kind = _file_format(path)
        options = "FORMAT parquet" if kind == "parquet" else "FORMAT csv, HEADER true"
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            self._db.execute(f"COPY facts TO {DUCKDB.text(str(temporary))} ({options})")
            os.replace(temporary, path)
        except (OSError, self._errors) as exc:
            temporary.unlink(missing_ok=True)
            raise ReportError(f"{path}: cannot write facts: {exc}") from exc

    def close(self) -> None:
        self._db.close()
        self._scratch.cleanup()


class ClickHouseEngine:
    """ClickHouse's engine embedded in the process (chdb): proof that the SQL is portable, and
    the path to a ClickHouse server when one machine is not enough."""

    dialect = CLICKHOUSE
    # chdb keeps one server per process: every session sees the same tables.
    _open = False

    def __init__(self) -> None:
        import importlib

        if ClickHouseEngine._open:
            raise ReportError("only one ClickHouse engine can be open in a process (chdb)")
        try:
            # chdb has no type hints: held as Any, used through query() and close() only.
            session: Any = importlib.import_module("chdb.session")
        except ImportError as exc:
            raise ReportError(
                "the ClickHouse engine needs chdb: pip install 'probe[clickhouse]'"
            ) from exc
        self._session: Any = session.Session()
        ClickHouseEngine._open = True
        try:
            self._run(
                f"CREATE TABLE facts ({CLICKHOUSE.column_types()})"
                " ENGINE = MergeTree ORDER BY (network, platform, probe_id, t_ms)"
            )
        except ReportError:
            self.close()
            raise

    def load(self, path: Path) -> None:
        kind = _file_format(path)
        fmt = "CSVWithNames" if kind == "csv" else "Parquet"
        structure = CLICKHOUSE.column_types()
        self._run(
            f"INSERT INTO facts SELECT {', '.join(FACT_TYPES)} FROM file("
            f"{CLICKHOUSE.text(str(path))}, {CLICKHOUSE.text(fmt)}, {CLICKHOUSE.text(structure)})"
        )

    def _run(self, sql: str, fmt: str = "CSV") -> str:
        try:
            result = self._session.query(sql, fmt)
        except Exception as exc:  # chdb raises its own RuntimeError subclasses
            raise ReportError(f"ClickHouse: {exc}") from exc
        return str(result.data()) if result is not None else ""

    def query(self, sql: str) -> list[Row]:
        text = self._run(
            sql.rstrip()
            + ("," if " SETTINGS " in sql else " SETTINGS")
            + " output_format_json_quote_64bit_integers = 0",
            "JSONCompact",
        )
        return [tuple(row) for row in json.loads(text)["data"]]

    def deduplicate(self) -> None:
        # ClickHouse wants the sorting key in the list; a measurement's network, platform and
        # time are its own, so this is still one row per (probe_id, measurement_id).
        self._run(
            "OPTIMIZE TABLE facts FINAL DEDUPLICATE BY"
            " network, platform, probe_id, t_ms, measurement_id"
        )

    def close(self) -> None:
        if ClickHouseEngine._open:
            self._session.close()
            ClickHouseEngine._open = False


def make_engine(name: str, *, memory_limit: str | None = None) -> DuckDbEngine | ClickHouseEngine:
    """Return a new engine by name ("duckdb" or "clickhouse")."""
    if name == "duckdb":
        return DuckDbEngine(memory_limit=memory_limit)
    if name == "clickhouse":
        return ClickHouseEngine()
    raise ReportError(f"unknown engine {name!r}: use duckdb or clickhouse")
