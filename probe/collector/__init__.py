"""`probe collector`: where probes send their signed result bundles (issue 5).

It owns the receiving side of the bundle protocol: it reads, verifies and unpacks bundles with
`probe.ship.bundle` (the code the probe packs with, so the two cannot drift), keeps every
accepted bundle byte for byte so its signature stays verifiable, and indexes its measurements
for analysis. It must never answer success before what it accepted is on disk, never store a
measurement twice, never build a path from anything a probe sent, never hold more of a request
than the configured caps, never answer bad input with a 5xx, and never store or log an
uploader's address (it is held in memory only, as a counter for the per-client limits).

FastAPI and uvicorn (the optional extra `probe[collector]`) are imported only by `app`,
`routes`, `admission`, `server` and `web`, which are therefore not re-exported here:
`probe collector export` and `ingest` work without them. The CLI imports this package only for
`probe collector`.

Modules:
    admission  what one client may hold: bodies in flight, body bytes, registrations per hour
    app        create_app(): the FastAPI application (wiring, error bodies, OpenAPI)
    challenge  Challenges: stateless registration nonces, and checking a probe's proof of its key
    codes      STATUS_BY_CODE: the one table from a refusal's code to its HTTP status
    files      write_bundle(): raw bundles under data_dir/bundles, written durably
    follow     Live: the live index kept in step with the store (worker, backlog, answer cache)
    ingest     ingest(), ingest_file(): parse → duplicate? → key → verify → quota → unpack → store
    live       LiveIndex: the live pages' index (facts, states, buckets, spans), live.sqlite3
    pages      the live pages' HTML: now matrix, timelines, incident evidence, claims (no script)
    routes     the request handlers: health, challenge, registration, upload, reads (token)
    schema     the SQLite schema (the analysis index) and record ↔ row
    server     serve(): uvicorn on [collector] listen, HTTP or HTTPS; logs the bound port
    spans      the report's window rules kept incrementally, one measurement at a time
    storage    CollectorStore: the bundles' files and the SQLite index, durable before success
    views      reading the live index: now, windows since a moment, a page's report, evidence
    web        the live pages' and their JSON's handlers (public, read-only; claims by token)
"""

from probe.collector.codes import STATUS_BY_CODE, status_for
from probe.collector.ingest import (
    FileOutcome,
    Quota,
    UnknownProbe,
    ingest,
    ingest_bundle,
    ingest_file,
    limits_of,
    quota_of,
)
from probe.collector.storage import STORE_FILE, CollectorStore, MeasurementQuery

__all__ = [
    "STATUS_BY_CODE",
    "STORE_FILE",
    "CollectorStore",
    "FileOutcome",
    "MeasurementQuery",
    "Quota",
    "UnknownProbe",
    "ingest",
    "ingest_bundle",
    "ingest_file",
    "limits_of",
    "quota_of",
    "status_for",
]
