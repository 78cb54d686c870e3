"""The sections of shipping results: `[upload]` (the probe's side) and `[collector]` (`probe
collector`), and their defaults."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from probe.config.values import LISTEN, Duration, Section
from probe.models.addresses import IPNetwork

DEFAULT_UPLOAD_EVERY_S = 3600.0
DEFAULT_UPLOAD_RETRY_INITIAL_S = 30.0
# OONI's collector spec (bk-003 §4): after quick retries, wait an exponentially growing
# delay of at least 15 minutes; we grow to an hour.
DEFAULT_UPLOAD_RETRY_MAX_S = 3600.0
DEFAULT_UPLOAD_CONNECT_TIMEOUT_S = 15.0
DEFAULT_UPLOAD_TIMEOUT_S = 300.0
DEFAULT_BUNDLE_MAX_RECORDS = 1000
DEFAULT_BUNDLE_MAX_BYTES = 8 << 20
DEFAULT_COLLECTOR_LISTEN = "127.0.0.1:8790"
DEFAULT_COLLECTOR_MAX_PAYLOAD_BYTES = 16 << 20
DEFAULT_COLLECTOR_MAX_UNCOMPRESSED_BYTES = 64 << 20
DEFAULT_COLLECTOR_MAX_RECORDS = 20_000
DEFAULT_COLLECTOR_INGEST_CONCURRENCY = 2
DEFAULT_COLLECTOR_UPLOADS_IN_FLIGHT = 16
DEFAULT_COLLECTOR_UPLOAD_TIMEOUT_S = 120.0
# Issue 18: what one client or one probe may cost a collector. A probe records at most 512 KiB
# of a body (≈ 700 KiB as base64) and seals bundles of at most 8 MiB; an hourly probe
# measuring a few hundred targets sends ≈ 20-50 MiB a day in ≈ 24-100 bundles.
DEFAULT_COLLECTOR_MAX_RECORD_BYTES = 4 << 20
DEFAULT_COLLECTOR_MAX_FIELD_BYTES = 1 << 20
DEFAULT_COLLECTOR_DAILY_BYTES = 512 << 20
DEFAULT_COLLECTOR_DAILY_BUNDLES = 2000
DEFAULT_COLLECTOR_REGISTRATIONS_PER_HOUR = 10
DEFAULT_COLLECTOR_REQUESTS_PER_CLIENT = 8
DEFAULT_COLLECTOR_BUFFERED_BYTES = 128 << 20
DEFAULT_COLLECTOR_REQUEST_TIMEOUT_S = 10.0
DEFAULT_COLLECTOR_LIVE_STALE_AFTER_S = 6 * 3600.0
DEFAULT_COLLECTOR_LIVE_DAYS = 7
DEFAULT_COLLECTOR_MEASURED_NOT_BEFORE = date(2019, 1, 1)
DEFAULT_COLLECTOR_MAX_AHEAD_S = 86400.0
DEFAULT_COLLECTOR_READ_PAGE_BYTES = 16 << 20
_PROXY_SCHEMES = ("http://", "https://", "socks5://", "socks5h://")


class UploadSettings(Section):
    collectors: list[str] = Field(
        default_factory=list,
        description="Collector base URLs, tried in turn (a failing one rotates to the next)."
        " Empty: nothing is uploaded; `probe bundle export` still works.",
    )
    every: Duration = Field(
        default=DEFAULT_UPLOAD_EVERY_S, description="How often the daemon uploads the outbox."
    )
    proxy: str | None = Field(
        default=None,
        description='Send uploads through this proxy: "http://", "https://", "socks5://" or'
        ' "socks5h://", e.g. Tor at "socks5h://127.0.0.1:9050". Either SOCKS form has the'
        " proxy resolve the collector's name (httpx never resolves it locally).",
    )
    ca_bundle: Path | None = Field(
        default=None, description="PEM CA file for a collector with a private certificate."
    )
    register_token: str | None = Field(
        default=None,
        description="Token for a collector that gates registration (sent once, to register).",
    )
    retry_initial: Duration = Field(
        default=DEFAULT_UPLOAD_RETRY_INITIAL_S,
        gt=0,
        description="Wait after the first failed upload; doubles (with jitter) per failure.",
    )
    retry_max: Duration = Field(
        default=DEFAULT_UPLOAD_RETRY_MAX_S,
        gt=0,
        description="Longest wait between failed uploads (OONI advises at least 15 minutes).",
    )
    connect_timeout: Duration = Field(
        default=DEFAULT_UPLOAD_CONNECT_TIMEOUT_S, gt=0, description="Connecting to a collector."
    )
    timeout: Duration = Field(
        default=DEFAULT_UPLOAD_TIMEOUT_S,
        gt=0,
        description="Sending one bundle and reading the answer, at most.",
    )
    max_bundle_records: int = Field(
        default=DEFAULT_BUNDLE_MAX_RECORDS, ge=1, description="Records per bundle, at most."
    )
    max_bundle_bytes: int = Field(
        default=DEFAULT_BUNDLE_MAX_BYTES,
        ge=1024,
        description="Uncompressed JSON Lines per bundle, at most (one larger record still"
        " makes a bundle of its own).",
    )

    @field_validator("collectors")
    @classmethod
    def _check_collectors(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("https://", "http://")):
                raise ValueError(f"{url!r}: a collector URL starts with https:// or http://")
        return [url.rstrip("/") for url in urls]

    @field_validator("proxy")
    @classmethod
    def _check_proxy(cls, proxy: str | None) -> str | None:
        if proxy is not None and not proxy.startswith(_PROXY_SCHEMES):
            raise ValueError(f"{proxy!r}: a proxy URL starts with one of {_PROXY_SCHEMES}")
        return proxy

    @model_validator(mode="after")
    def _ordered(self) -> UploadSettings:
        if self.retry_max < self.retry_initial:
            raise ValueError("retry_max is shorter than retry_initial")
        return self


class CollectorSettings(Section):
    listen: str = Field(
        default=DEFAULT_COLLECTOR_LISTEN, description="HOST:PORT `probe collector` binds."
    )
    data_dir: Path | None = Field(
        default=None, description="Where accepted bundles and the index live (required)."
    )
    tls_cert: Path | None = Field(default=None, description="PEM certificate to serve HTTPS.")
    tls_key: Path | None = Field(default=None, description="PEM key for tls_cert.")
    register_token: str | None = Field(
        default=None,
        description="Unset: any probe registers itself on its first upload. Set: registering"
        " a new probe needs `Authorization: Bearer <token>`.",
    )
    max_payload_bytes: int = Field(
        default=DEFAULT_COLLECTOR_MAX_PAYLOAD_BYTES,
        ge=1024,
        description="Largest compressed payload accepted (bigger requests get 413 unread).",
    )
    max_uncompressed_bytes: int = Field(
        default=DEFAULT_COLLECTOR_MAX_UNCOMPRESSED_BYTES,
        ge=1024,
        description="Largest payload after decompression (a bomb stops here).",
    )
    max_records: int = Field(
        default=DEFAULT_COLLECTOR_MAX_RECORDS, ge=1, description="Records per bundle, at most."
    )
    ingest_concurrency: int = Field(
        default=DEFAULT_COLLECTOR_INGEST_CONCURRENCY,
        ge=1,
        description="Bundles verified at once (each may hold up to the caps in memory).",
    )
    max_uploads_in_flight: int = Field(
        default=DEFAULT_COLLECTOR_UPLOADS_IN_FLIGHT,
        ge=1,
        description="Uploads received at once; past it, 503 with Retry-After (each buffers up"
        " to max_payload_bytes).",
    )
    upload_timeout: Duration = Field(
        default=DEFAULT_COLLECTOR_UPLOAD_TIMEOUT_S,
        gt=0,
        description="Receiving one upload's body, at most (a slow drip is cut off with 408).",
    )
    request_timeout: Duration = Field(
        default=DEFAULT_COLLECTOR_REQUEST_TIMEOUT_S,
        gt=0,
        description="Receiving any other request's body (a registration), at most (408).",
    )
    max_record_bytes: int = Field(
        default=DEFAULT_COLLECTOR_MAX_RECORD_BYTES,
        ge=1024,
        description="Longest record (one JSON line), refused as soon as it is inflated past it.",
    )
    max_field_bytes: int = Field(
        default=DEFAULT_COLLECTOR_MAX_FIELD_BYTES,
        ge=256,
        description="Longest JSON string in a record, as written (escapes counted).",
    )
    max_bytes_per_probe_per_day: int = Field(
        default=DEFAULT_COLLECTOR_DAILY_BYTES,
        ge=1024,
        description="Uncompressed bytes one probe may have accepted in 24 h; past it, 429.",
    )
    max_bundles_per_probe_per_day: int = Field(
        default=DEFAULT_COLLECTOR_DAILY_BUNDLES,
        ge=1,
        description="Bundles one probe may have accepted in 24 h; past it, 429.",
    )
    max_registrations_per_client_per_hour: int = Field(
        default=DEFAULT_COLLECTOR_REGISTRATIONS_PER_HOUR,
        ge=1,
        description="New probes one client address (an IPv6 /64) may register in an hour;"
        " counted in memory only, never stored.",
    )
    max_requests_per_client: int = Field(
        default=DEFAULT_COLLECTOR_REQUESTS_PER_CLIENT,
        ge=1,
        description="Requests with a body one client address may have in flight at once (429).",
    )
    max_buffered_bytes: int = Field(
        default=DEFAULT_COLLECTOR_BUFFERED_BYTES,
        ge=64 << 10,
        description="Request bodies held in memory at once, all clients together; past it, 503.",
    )
    trusted_proxies: list[IPNetwork] = Field(
        default_factory=list,
        description="Reverse proxies whose X-Forwarded-For names the client (for the"
        " per-client limits); empty: the connection's peer is the client.",
    )
    measured_not_before: date = Field(
        default=DEFAULT_COLLECTOR_MEASURED_NOT_BEFORE,
        description="Times before this day (UTC) are refused as implausible.",
    )
    max_ahead: Duration = Field(
        default=DEFAULT_COLLECTOR_MAX_AHEAD_S,
        description="Times further ahead of the collector's clock are refused as implausible.",
    )
    read_token: str | None = Field(
        default=None,
        description="Token that reading measurements (`GET /api/v1/measurements…`) needs as"
        " `Authorization: Bearer`; unset: the read API is closed (health stays public).",
    )
    max_page_bytes: int = Field(
        default=DEFAULT_COLLECTOR_READ_PAGE_BYTES,
        ge=64 << 10,
        description="A measurements page stops once its records pass this many bytes.",
    )
    show_probes: bool = Field(
        default=False,
        description="Serve a measurement's JSON on the public live pages whole, its probe id"
        " included; off: probes are counted, never named, and a measurement there withholds"
        " its packet evidence, resolver, annotations and job (nothing that places a volunteer).",
    )
    live_stale_after: Duration = Field(
        default=DEFAULT_COLLECTOR_LIVE_STALE_AFTER_S,
        gt=0,
        description='A cell of the live "now" page with no measurement newer than this shows'
        ' "no recent data".',
    )
    live_days: int = Field(
        default=DEFAULT_COLLECTOR_LIVE_DAYS,
        ge=1,
        le=90,
        description="Days the live timelines (and /api/v1/incidents by default) look back.",
    )
    claims_token: str | None = Field(
        default=None,
        description="Token that adding claims (`probe collector claims add`, POST"
        " /api/v1/claims) needs as `Authorization: Bearer`; unset: claims cannot be added.",
    )

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, listen: str) -> str:
        match = LISTEN.fullmatch(listen)
        if not match or not 0 < int(match.group(2)) < 65536:
            raise ValueError(f"{listen!r} is not HOST:PORT")
        return listen
