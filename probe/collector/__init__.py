"""`probe collector`: where probes send their signed result bundles (issue 5).

It owns the receiving side of the bundle protocol: it reads, verifies and unpacks bundles with
`probe.ship.bundle` (the code the probe packs with, so the two cannot drift), keeps every
accepted bundle byte for byte so its signature stays verifiable, and indexes its measurements
for analysis. It must never answer success before what it accepted is on disk, never store a
measurement twice, never build a path from anything a probe sent, never hold more of a request
than the configured caps, and never store or log an uploader's address.

FastAPI and uvicorn (the optional extra `probe[collector]`) are imported only by `app` and
`server`, which are therefore not re-exported here: `probe collector export` and `ingest` work
without them. The CLI imports this package only for `probe collector`.

Modules:
    app      create_app(): the FastAPI application (routes, body caps, error bodies, OpenAPI)
    codes    STATUS_BY_CODE: the one table from a refusal's code to its HTTP status
    files    write_bundle(): raw bundles under data_dir/bundles, written durably
    ingest   ingest(), ingest_file(): parse → duplicate? → key → verify → unpack → store
    schema   the SQLite schema (the analysis index) and record ↔ row
    server   serve(): uvicorn on [collector] listen, HTTP or HTTPS; logs the bound port
    storage  CollectorStore: the bundles' files and the SQLite index, durable before success
"""

from probe.collector.codes import STATUS_BY_CODE, status_for
from probe.collector.ingest import (
    FileOutcome,
    UnknownProbe,
    ingest,
    ingest_bundle,
    ingest_file,
    limits_of,
)
from probe.collector.storage import STORE_FILE, CollectorStore, MeasurementQuery

__all__ = [
    "STATUS_BY_CODE",
    "STORE_FILE",
    "CollectorStore",
    "FileOutcome",
    "MeasurementQuery",
    "UnknownProbe",
    "ingest",
    "ingest_bundle",
    "ingest_file",
    "limits_of",
    "status_for",
]
