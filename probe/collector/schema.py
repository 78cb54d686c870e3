"""The collector's SQLite schema, and how a record becomes a row and a row a record.

`measurements` is the analysis index (issue 6 queries it): one row per measurement a probe
sent, unique per (probe_id, measurement_id), with the columns analysis filters on copied out of
the record, and the record itself as the collector validated it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from probe.store.timestamps import iso, parse_iso

if TYPE_CHECKING:
    from probe.models.bundles import CollectedMeasurement
    from probe.models.stored import StoredResult

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS probes (
    probe_id TEXT PRIMARY KEY,
    public_key BLOB NOT NULL,
    registered_at TEXT NOT NULL,
    via TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bundles (
    bundle_id TEXT PRIMARY KEY,
    probe_id TEXT NOT NULL REFERENCES probes (probe_id),
    received_at TEXT NOT NULL,
    via TEXT NOT NULL,
    count INTEGER NOT NULL,
    stored INTEGER NOT NULL,
    path TEXT,
    manifest TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bundles_probe ON bundles (probe_id, received_at);
CREATE TABLE IF NOT EXISTS measurements (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    probe_id TEXT NOT NULL REFERENCES probes (probe_id),
    measurement_id TEXT NOT NULL,
    bundle_id TEXT NOT NULL REFERENCES bundles (bundle_id),
    measured_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    input TEXT NOT NULL,
    verdict TEXT NOT NULL,
    blocking TEXT,
    probe_asn TEXT NOT NULL,
    probe_cc TEXT NOT NULL,
    platform TEXT,
    record TEXT NOT NULL,
    UNIQUE (probe_id, measurement_id)
);
CREATE INDEX IF NOT EXISTS measurements_measured_at ON measurements (measured_at);
CREATE INDEX IF NOT EXISTS measurements_input ON measurements (input, measured_at);
CREATE INDEX IF NOT EXISTS measurements_probe ON measurements (probe_id);
"""
INSERT_MEASUREMENT = (
    "INSERT OR IGNORE INTO measurements (probe_id, measurement_id, bundle_id, measured_at,"
    " received_at, input, verdict, blocking, probe_asn, probe_cc, platform, record)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
MEASUREMENT_COLUMNS = "seq, probe_id, bundle_id, received_at, record"  # what `collected` reads


@dataclass(frozen=True)
class BundleRow:
    """What the index holds about one accepted bundle."""

    bundle_id: str
    probe_id: str
    received_at: datetime
    count: int
    stored: int


@dataclass(frozen=True)
class StoredBundle:
    """What `add_bundle` did: accepted (with how many measurements were new) or duplicate."""

    status: Literal["accepted", "duplicate"]
    stored: int
    count: int


@dataclass(frozen=True)
class Counts:
    """What the collector holds (`GET /api/v1/health`)."""

    probes: int
    bundles: int
    measurements: int


@dataclass(frozen=True)
class MeasurementQuery:
    """Filters of `GET /api/v1/measurements` (and `probe collector export`)."""

    probe_id: str | None = None
    input: str | None = None
    verdict: str | None = None
    since: datetime | None = None  # measured at or after
    until: datetime | None = None  # measured before


def measurement_row(
    record: StoredResult, probe_id: str, bundle_id: str, received_at: str
) -> tuple[object, ...]:
    """Return the values of INSERT_MEASUREMENT for `record`.

    The record is stored as the collector re-serialises it, not as the probe's line: one
    canonical text (a line with a key twice, say, reads the same to every later parser); the
    probe's exact bytes are in the bundle file.
    """
    return (
        probe_id, str(record.measurement_id), bundle_id, iso(record.measurement_start_time),
        received_at, record.input, record.verdict.value,
        record.blocking.value if record.blocking is not None else None, record.probe_asn,
        record.probe_cc, record.target.platform, record.model_dump_json(),
    )  # fmt: skip


def collected(row: tuple[object, ...]) -> CollectedMeasurement:
    """Return the record of a MEASUREMENT_COLUMNS row with where it came from; ValueError if it
    no longer validates."""
    import pydantic_core

    from probe.models.bundles import CollectedMeasurement

    _, probe_id, bundle_id, received_at, record = row
    fields = pydantic_core.from_json(str(record))
    if not isinstance(fields, dict):
        raise ValueError("the stored record is not a JSON object")
    fields.update(probe_id=probe_id, bundle_id=bundle_id, received_at=received_at)
    return CollectedMeasurement.model_validate(fields)


__all__ = [
    "INSERT_MEASUREMENT",
    "MEASUREMENT_COLUMNS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "BundleRow",
    "Counts",
    "MeasurementQuery",
    "StoredBundle",
    "collected",
    "iso",
    "measurement_row",
    "parse_iso",
]
