"""Settings: one typed place for every default, timeout and limit.

Precedence: CLI flag > `PROBE_*` environment variable (`__` for nesting, e.g.
`PROBE_TIMEOUTS__CONNECT=3`) > TOML file (`--config PATH` or `PROBE_CONFIG`) > model default.
Unknown keys are errors. Nothing is read at import time: `load_settings()` is called once by the
entry point and the frozen `Settings` is passed down.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from probe.config_errors import describe
from probe.errors import ConfigError
from probe.models.addresses import IPNetwork
from probe.paths import default_data_dir

DEFAULT_DNS_TIMEOUT_S = 4.0
DEFAULT_CONNECT_TIMEOUT_S = 8.0
DEFAULT_TLS_TIMEOUT_S = 8.0
DEFAULT_HTTP_TIMEOUT_S = 15.0
DEFAULT_HELPER_TIMEOUT_S = 30.0
DEFAULT_HELPER_OVERLAP_S = 5.0
# OONI's helpers serve every client only below 25 requests in flight (probe#2649): stay well under.
DEFAULT_HELPER_REQUESTS_IN_FLIGHT = 8
DEFAULT_LATE_REPLY_WINDOW_S = 0.5
DEFAULT_ATTEMPTS = 3
DEFAULT_RETRY_BACKOFF_S = 1.0
DEFAULT_TARGET_CONCURRENCY = 32
DEFAULT_CONNECTION_CONCURRENCY = 128
DEFAULT_BODY_CAP_BYTES = 1 << 19  # 512 KiB recorded, as OONI LTE
DEFAULT_BODY_READ_LIMIT_BYTES = 1 << 23  # 8 MiB read (and counted) at most, then we stop
DEFAULT_MAX_REDIRECTS = 10
DEFAULT_MAX_ADDRESSES = 16

# OONI's public test helpers (ts-017): our default control vantage points.
DEFAULT_HELPERS = (
    "https://0.th.ooni.org/",
    "https://1.th.ooni.org/",
    "https://2.th.ooni.org/",
    "https://3.th.ooni.org/",
)
# Well-known public DoH resolvers: trusted control resolvers reached over TLS.
DEFAULT_DOH = (
    "https://dns.google/dns-query",
    "https://cloudflare-dns.com/dns-query",
    "https://dns.quad9.net/dns-query",
)
# Innocuous sites measured on the probe's own path before and after the targets.
DEFAULT_CONTROL_SITES = ("https://www.wikipedia.org/", "https://example.com/")
# The country whose domestic control sites (probe/data/platforms.toml [controls.domestic]) are
# measured beside the foreign ones: Kazakhstan, the reference case (issue 17, METHODS §10).
DEFAULT_CONTROL_COUNTRY = "KZ"
# Speed-test downloads run for exactly this purpose: large, innocuous, served from nearby caches.
DEFAULT_THROUGHPUT_CONTROLS = (
    "https://speed.cloudflare.com/__down?bytes=4194304",
    "https://proof.ovh.net/files/10Mb.dat",
)
DEFAULT_THROUGHPUT_REPEATS = 2
DEFAULT_THROUGHPUT_DURATION_S = 5.0
DEFAULT_THROUGHPUT_MAX_BYTES = 1 << 19  # OONI's throttling methodology caps bodies here too
DEFAULT_THROUGHPUT_MIN_BYTES = 1 << 16
# About five objects' tests (2 repeats x 3 downloads x 512 KiB each): a run of a long list
# downloads a few platforms' worth, never one test per URL (issue 19).
DEFAULT_THROUGHPUT_MAX_BYTES_PER_RUN = 16 << 20
DEFAULT_INNOCUOUS_SNI = "example.org"
# Packet evidence (CenTrace, CoNEXT 2022, waits 3 s between TTL probes; a volunteer's daemon
# cannot spend a minute per blocked target, so 1 s, and one traced address per target).
DEFAULT_PACKET_CONTROL_NAME = "example.com"
DEFAULT_PACKET_DNS_LISTEN_S = 2.0
DEFAULT_PACKET_MAX_TTL = 30
DEFAULT_PACKET_PROBE_INTERVAL_S = 1.0
DEFAULT_PACKET_HOP_TIMEOUT_S = 2.0
DEFAULT_PACKET_MAX_SILENT_HOPS = 4

DEFAULT_HELPER_LISTEN = "127.0.0.1:8780"
# DB-IP's free ASN database in MaxMind format (CC BY 4.0), published monthly.
DEFAULT_GEOIP_URL = "https://download.db-ip.com/free/dbip-asn-lite-{year}-{month}.mmdb.gz"
DEFAULT_GEOIP_REFRESH_S = 30 * 86400.0
DEFAULT_HELPER_MAX_IN_FLIGHT_ALL = 25
DEFAULT_HELPER_MAX_IN_FLIGHT = 50
DEFAULT_HELPER_MAX_REQUEST_BYTES = 1 << 20
DEFAULT_HELPER_MAX_ENDPOINTS = 32
DEFAULT_HELPER_MAX_PER_CLIENT = 16  # probes behind one carrier-grade NAT share an address
DEFAULT_HELPER_BODY_TIMEOUT_S = 5.0

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> float:
    """Return seconds for a duration like 30, "30s", "15m", "24h", "500ms"."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like '15m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    else:
        raise ValueError(f"invalid duration {value!r}: use seconds or '30s', '15m', '24h'")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """Return the shortest exact duration string for `seconds` (inverse of parse_duration)."""
    for unit in ("d", "h", "m", "s"):
        count = seconds / _UNIT_S[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    return f"{round(seconds * 1000)}ms" if seconds * 1000 == int(seconds * 1000) else f"{seconds}s"


Duration = Annotated[float, BeforeValidator(parse_duration)]

_RESOLVER = re.compile(r"^(system|udp://\S+|tcp://\S+|tls://\S+|https://\S+)$")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ResolverSettings(_Section):
    servers: list[str] = Field(
        default=["system"],
        description='Resolvers the probe measures: "system" (the nameserver in /etc/resolv.conf),'
        ' "udp://IP[:port]", "tcp://IP[:port]", "tls://IP[:port]" (DoT),'
        ' "https://HOST/dns-query" (DoH).',
    )
    late_reply_window_s: Duration = Field(
        default=DEFAULT_LATE_REPLY_WINDOW_S,
        description="How long to keep listening after the first UDP reply (injection evidence).",
    )

    @field_validator("servers")
    @classmethod
    def _check_servers(cls, servers: list[str]) -> list[str]:
        if not servers:
            raise ValueError("at least one resolver is needed")
        for server in servers:
            if not _RESOLVER.fullmatch(server):
                raise ValueError(
                    f"unknown resolver {server!r}: use system, udp://IP, tcp://IP, tls://IP or https://…"
                )
        return servers


class ControlSettings(_Section):
    helpers: list[str] = Field(
        default=list(DEFAULT_HELPERS),
        description="Test helpers (control vantage points), tried in order and overlapped."
        " Defaults are OONI's public helpers.",
    )
    doh: list[str] = Field(
        default=list(DEFAULT_DOH), description="Trusted DoH resolvers used as control resolvers."
    )
    sites: list[str] = Field(
        default=list(DEFAULT_CONTROL_SITES),
        description="Innocuous sites measured on the probe's path before and after the targets.",
    )
    country: str = Field(
        default=DEFAULT_CONTROL_COUNTRY,
        pattern=r"^([A-Z]{2})?$",
        description="ISO 3166 code of the country the probe runs in: its domestic control sites"
        " come from the catalogue ([controls.domestic]). Empty: none (unless domestic_sites"
        " names some).",
    )
    domestic_sites: list[str] | None = Field(
        default=None,
        description="Sites in the probe's own country, measured beside the foreign control"
        " sites: when everything abroad fails while these load, the network is whitelisted (a"
        " deliberate cut), not down. Unset: the catalogue's sites for `country`; [] for none.",
    )
    helper_timeout_s: Duration = Field(
        default=DEFAULT_HELPER_TIMEOUT_S, description="Budget for one helper call."
    )
    helper_overlap_s: Duration = Field(
        default=DEFAULT_HELPER_OVERLAP_S,
        description="Start the next helper if the current one has not answered after this long.",
    )
    helper_requests_in_flight: int = Field(
        default=DEFAULT_HELPER_REQUESTS_IN_FLIGHT,
        ge=1,
        description="Helper requests this probe keeps in flight at once (public helpers shed"
        " load past about 25 in flight from everyone); raise it for a helper of your own.",
    )


class TlsSettings(_Section):
    ca_bundle: Path | None = Field(
        default=None,
        description="Extra trusted roots (PEM), in addition to the bundled Mozilla store"
        " (certifi).",
    )


def _parse_networks(value: Any) -> Any:
    if isinstance(value, list):
        try:
            return [
                ipaddress.ip_network(v, strict=False) if isinstance(v, str) else v for v in value
            ]
        except ValueError as exc:
            raise ValueError(str(exc)) from exc
    return value


class NetworkSettings(_Section):
    routable: list[IPNetwork] = Field(
        default_factory=list,
        description="Ranges treated as publicly routable (not bogons): for labs.",
    )

    _networks = field_validator("routable", mode="before")(_parse_networks)


class TimeoutSettings(_Section):
    dns: Duration = Field(default=DEFAULT_DNS_TIMEOUT_S, gt=0, description="One DNS query.")
    connect: Duration = Field(
        default=DEFAULT_CONNECT_TIMEOUT_S, gt=0, description="One TCP connect."
    )
    tls: Duration = Field(default=DEFAULT_TLS_TIMEOUT_S, gt=0, description="One TLS handshake.")
    http: Duration = Field(
        default=DEFAULT_HTTP_TIMEOUT_S, gt=0, description="One HTTP request, body included."
    )


class MeasureSettings(_Section):
    attempts: int = Field(
        default=DEFAULT_ATTEMPTS,
        ge=1,
        le=10,
        description="Tries before a failure may count as blocking (retries overlap).",
    )
    retry_backoff_s: Duration = Field(
        default=DEFAULT_RETRY_BACKOFF_S,
        description="Delay before the second try; doubles for each further try.",
    )
    target_concurrency: int = Field(
        default=DEFAULT_TARGET_CONCURRENCY, ge=1, description="Targets measured at once."
    )
    connection_concurrency: int = Field(
        default=DEFAULT_CONNECTION_CONCURRENCY,
        ge=1,
        description="Network operations (queries, connects, requests) in flight at once.",
    )
    body_cap_bytes: int = Field(
        default=DEFAULT_BODY_CAP_BYTES, ge=1024, description="Body bytes recorded per response."
    )
    body_read_limit_bytes: int = Field(
        default=DEFAULT_BODY_READ_LIMIT_BYTES,
        ge=1024,
        description="Body bytes read and counted (after decompression) before we stop reading.",
    )
    max_redirects: int = Field(default=DEFAULT_MAX_REDIRECTS, ge=0, le=30)
    max_addresses: int = Field(
        default=DEFAULT_MAX_ADDRESSES,
        ge=1,
        description="Addresses of one name connected to per attempt (IPv4 first), so a hostile"
        " resolver cannot make the probe open hundreds of connections.",
    )


class ThroughputSettings(_Section):
    enabled: bool = Field(
        default=True,
        description="Measure the goodput of an accessible target's large object against the"
        " same address with an innocuous SNI and control sites (throttling). By default only"
        " a catalogue platform's objects (a platform, or a URL or domain on one of its hosts),"
        " once per address, server name and object in a run.",
    )
    pages: bool = Field(
        default=False,
        description="Also measure the large pages of targets with no catalogue object"
        " (arbitrary URLs and domains). `probe check --throughput` and a job's"
        " `throughput = true` turn it on.",
    )
    max_bytes_per_run: int = Field(
        default=DEFAULT_THROUGHPUT_MAX_BYTES_PER_RUN,
        ge=0,
        description="Bytes the throughput tests of one run may receive in all; a test that"
        " could exceed what is left (every download at its byte cap) is skipped, and says so."
        " At least one test's worth: max_bytes × repeats × 3.",
    )
    repeats: int = Field(
        default=DEFAULT_THROUGHPUT_REPEATS,
        ge=1,
        le=10,
        description="Rounds of target, same-address and control downloads; `throttled` needs"
        " at least 2.",
    )
    duration_s: Duration = Field(
        default=DEFAULT_THROUGHPUT_DURATION_S,
        gt=0,
        le=60,
        description="One download stops after this long (a throttled one is cut here).",
    )
    max_bytes: int = Field(
        default=DEFAULT_THROUGHPUT_MAX_BYTES,
        ge=1 << 14,
        le=1 << 28,
        description="One download stops after this many bytes.",
    )
    min_bytes: int = Field(
        default=DEFAULT_THROUGHPUT_MIN_BYTES,
        ge=1 << 12,
        description="A page smaller than this is not measured; a download that ended sooner"
        " is too short to judge.",
    )
    controls: list[str] = Field(
        default=list(DEFAULT_THROUGHPUT_CONTROLS),
        description="https URLs of large innocuous objects, used in turn as control downloads.",
    )
    innocuous_sni: str = Field(
        default=DEFAULT_INNOCUOUS_SNI,
        description="The SNI sent to the target's own address for the same-address download.",
    )
    objects_per_target: int = Field(
        default=1, ge=1, le=4, description="Large objects measured per target."
    )

    @field_validator("controls")
    @classmethod
    def _check_controls(cls, controls: list[str]) -> list[str]:
        for url in controls:
            parts = urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                raise ValueError(f"{url!r} is not an https URL")
        return controls

    @field_validator("innocuous_sni")
    @classmethod
    def _check_sni(cls, name: str) -> str:
        if not _HOST_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a host name")
        return name.lower()

    @model_validator(mode="after")
    def _min_below_max(self) -> ThroughputSettings:
        if self.min_bytes > self.max_bytes:
            raise ValueError("min_bytes must not exceed max_bytes")
        one_test = self.max_bytes * self.repeats * 3
        if self.enabled and self.max_bytes_per_run < one_test:
            raise ValueError(
                f"max_bytes_per_run ({self.max_bytes_per_run}) cannot hold one object's test"
                f" (max_bytes × repeats × 3 downloads = {one_test}): raise it, or set"
                " enabled = false"
            )
        return self


class PacketSettings(_Section):
    enabled: bool = Field(
        default=True,
        description="For each blocked target, capture the packets that answer the probe (IP TTL,"
        " IP-ID) and trace where the censor sits. Needs root or CAP_NET_RAW (the systemd unit"
        " grants it); without it the tests are recorded as skipped.",
    )
    silent_hosts: list[str] = Field(
        default_factory=list,
        description="IP addresses beyond the border that run no DNS server: the target's name is"
        " asked of them, and any reply is forged on the path. Empty: the control helpers'"
        " addresses.",
    )
    control_name: str = Field(
        default=DEFAULT_PACKET_CONTROL_NAME,
        description="The innocuous name of the control queries and control traces.",
    )
    dns_listen_s: Duration = Field(
        default=DEFAULT_PACKET_DNS_LISTEN_S,
        gt=0,
        le=10,
        description="How long every reply to a DNS packet probe is captured.",
    )
    localise: bool = Field(
        default=True,
        description="Send the trigger (ClientHello, HTTP request, SYN or DNS query) with IP TTL"
        " 1, 2, 3… toward the target's own address (or the resolver) to find the hop where the"
        " blocking begins, with a control run carrying `control_name`.",
    )
    traces_per_target: int = Field(
        default=1,
        ge=0,
        le=4,
        description="Addresses traced per target: this many resolvers (DNS blocking) and this"
        " many blocked server addresses. Each also gets a TCP probe (at least one, even at 0).",
    )
    max_ttl: int = Field(
        default=DEFAULT_PACKET_MAX_TTL,
        ge=1,
        le=64,
        description="The highest IP TTL a trace sends the trigger with.",
    )
    probe_interval_s: Duration = Field(
        default=DEFAULT_PACKET_PROBE_INTERVAL_S,
        ge=0,
        le=60,
        description="Pause between two TTL-limited probes (a rate limit on the trace).",
    )
    hop_timeout_s: Duration = Field(
        default=DEFAULT_PACKET_HOP_TIMEOUT_S,
        gt=0,
        le=30,
        description="How long one TTL-limited probe waits for a reaction (or an ICMP reply).",
    )
    max_silent_hops: int = Field(
        default=DEFAULT_PACKET_MAX_SILENT_HOPS,
        ge=1,
        le=16,
        description="A trace stops after this many TTLs in a row answered by nothing.",
    )

    @field_validator("silent_hosts")
    @classmethod
    def _check_hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            try:
                address = ipaddress.ip_address(host)
            except ValueError:
                raise ValueError(f"{host!r} is not an IP address") from None
            if address.version != 4:
                raise ValueError(f"{host!r}: packet tests speak IPv4 only")
        return hosts

    @field_validator("control_name")
    @classmethod
    def _check_control_name(cls, name: str) -> str:
        if not _HOST_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a host name")
        return name.lower()


class BlockpageSettings(_Section):
    fingerprints: list[Path] = Field(
        default_factory=list,
        description="Extra blockpage fingerprint CSVs in OONI's blocking-fingerprints format;"
        " probe's own list (probe/data/blockpages.csv) is always loaded.",
    )


class GeoipSettings(_Section):
    asn_db: Path | None = Field(
        default=None,
        description="MaxMind-format ASN database (e.g. GeoLite2-ASN, ip2asn). Unset: the one"
        " `probe geoip update` installed, if any.",
    )
    country_db: Path | None = Field(default=None, description="MaxMind-format country database.")
    update_url: str = Field(
        default=DEFAULT_GEOIP_URL,
        description="Where `probe geoip update` fetches the ASN database; {year} and {month}"
        " name the month (this one, else the last). Default: DB-IP's IP to ASN Lite (CC BY"
        " 4.0, https://db-ip.com), installed as <data_dir>/geoip/asn.mmdb unless asn_db is set.",
    )
    refresh_every: Duration | None = Field(
        default=DEFAULT_GEOIP_REFRESH_S,
        description="The daemon fetches the database `probe geoip update` installed again once"
        " it is this old (DB-IP publishes monthly); never over a configured asn_db. Unset:"
        " never.",
    )


class HelperSettings(_Section):
    listen: str = Field(
        default=DEFAULT_HELPER_LISTEN, description="HOST:PORT `probe helper` binds."
    )
    tls_cert: Path | None = Field(default=None, description="PEM certificate to serve HTTPS.")
    tls_key: Path | None = Field(default=None, description="PEM key for tls_cert.")
    max_in_flight_all: int = Field(
        default=DEFAULT_HELPER_MAX_IN_FLIGHT_ALL,
        ge=1,
        description="Below this many requests in flight, every client is served.",
    )
    max_in_flight: int = Field(
        default=DEFAULT_HELPER_MAX_IN_FLIGHT,
        ge=1,
        description="Up to this many, only probe/ooniprobe clients; past it, 503.",
    )
    max_request_bytes: int = Field(default=DEFAULT_HELPER_MAX_REQUEST_BYTES, ge=256)
    max_endpoints: int = Field(
        default=DEFAULT_HELPER_MAX_ENDPOINTS,
        ge=1,
        description="tcp_connect entries measured per request; the rest are ignored.",
    )
    max_per_client: int = Field(
        default=DEFAULT_HELPER_MAX_PER_CLIENT,
        ge=1,
        description="Requests one client address may have open at once (body arriving or"
        " measuring); past it, 429. Behind a proxy, list it in trusted_proxies.",
    )
    body_timeout: Duration = Field(
        default=DEFAULT_HELPER_BODY_TIMEOUT_S,
        gt=0,
        description="A request body must arrive within this (else 408); it is read before the"
        " request counts against max_in_flight.",
    )
    trusted_proxies: list[IPNetwork] = Field(
        default_factory=list,
        description="Reverse proxies whose X-Forwarded-For / Forwarded header names the client;"
        " from any other address these headers are ignored.",
    )
    refused: list[IPNetwork] = Field(
        default_factory=list,
        description="Ranges never dialled, besides bogons and the host's own interface"
        " addresses: e.g. a public address that reaches this host through NAT.",
    )
    own_addresses_allowed: list[IPNetwork] = Field(
        default_factory=list,
        description="Labs only: the host's own addresses in these ranges may be measured (the"
        " lab's helper shares a namespace with the sites). Never on a public helper: it opens"
        " services bound to 0.0.0.0 to anyone.",
    )

    _networks = field_validator(
        "trusted_proxies", "refused", "own_addresses_allowed", mode="before"
    )(_parse_networks)


_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z]{2,63}$"
)
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LISTEN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$")

DEFAULT_MIN_FREE_BYTES = 50 << 20
DEFAULT_STOP_GRACE_S = 5.0


class StorageSettings(_Section):
    data_dir: Path | None = Field(
        default=None,
        description="Where the store (results.sqlite3) and the probe's key pair live. Unset:"
        " $STATE_DIRECTORY (set by systemd), else $XDG_DATA_HOME/probe or ~/.local/share/probe.",
    )
    min_free_bytes: int = Field(
        default=DEFAULT_MIN_FREE_BYTES,
        ge=0,
        description="Below this much free space on data_dir's disk, measuring pauses (logged)"
        " until space returns.",
    )
    retention_max_age: Duration | None = Field(
        default=None,
        description='Delete uploaded or exported results older than this (e.g. "90d").'
        " Results not yet uploaded are never deleted.",
    )
    retention_max_bytes: int | None = Field(
        default=None,
        ge=0,
        description="Delete the oldest uploaded or exported results while the stored records"
        " exceed this many bytes. Results not yet uploaded are never deleted.",
    )


class JobSettings(_Section):
    name: str = Field(description="Unique job name; stored with every result as `job`.")
    targets: list[str] = Field(
        default_factory=list, description="Platform names, domains or URLs (as `probe check`)."
    )
    input_file: Path | None = Field(
        default=None, description="One target per line, or a Citizen Lab test-list CSV."
    )
    every: Duration = Field(description='How often the job runs, e.g. "15m".')
    jitter: Duration = Field(
        default=0.0, description="Random delay added to each start, up to this long."
    )
    throughput: bool | None = Field(
        default=None,
        description="Run the throughput (throttling) test in this job, arbitrary URLs' pages"
        " included (`[throughput] pages`); unset: as `[throughput] enabled` and `pages`. Its"
        " downloads are most of a run's traffic: a metered VPS can give it a job of its own"
        " that runs less often.",
    )
    packets: bool | None = Field(
        default=None,
        description="Run packet tests for this job's blocked targets; unset: as `[packets]"
        " enabled`. A long test list with many blocked targets can keep them for the job of"
        " its own, or without them.",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _JOB_NAME.fullmatch(name):
            raise ValueError("a job name is 1-64 letters, digits, '.', '_' or '-'")
        return name

    @field_validator("every")
    @classmethod
    def _check_every(cls, every: float) -> float:
        if every < 1:
            raise ValueError("a job runs at most once a second")
        return every

    @model_validator(mode="after")
    def _has_input(self) -> JobSettings:
        if not self.targets and self.input_file is None:
            raise ValueError(f"job {self.name!r} has neither targets nor input_file")
        if self.jitter >= self.every:
            raise ValueError(f"job {self.name!r}: jitter must be shorter than every")
        return self


class ScheduleSettings(_Section):
    jobs: list[JobSettings] = Field(
        default_factory=list,
        description="`[[schedule.jobs]]` tables: name, targets and/or input_file, every, jitter,"
        " throughput (run the throttling test in this job; unset: `[throughput] enabled`)."
        " Control sites are measured in every run.",
    )
    daily_budget_bytes: int | None = Field(
        default=None,
        ge=0,
        description="Estimated traffic allowed per UTC day (metered VPS); a run that would"
        " exceed it is skipped and logged. Unset: no limit.",
    )

    @field_validator("jobs")
    @classmethod
    def _unique_names(cls, jobs: list[JobSettings]) -> list[JobSettings]:
        names = [job.name for job in jobs]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"duplicate job name(s): {', '.join(duplicated)}")
        return jobs


class DaemonSettings(_Section):
    metrics_listen: str | None = Field(
        default=None,
        description='HOST:PORT for a Prometheus /metrics endpoint, e.g. "127.0.0.1:9780".'
        " Unset: no endpoint. Keep it on localhost (it tells which platforms you measure).",
    )
    stop_grace_s: Duration = Field(
        default=DEFAULT_STOP_GRACE_S,
        description="On SIGTERM, how long runs in flight may finish before they are recorded"
        " as interrupted.",
    )
    log_format: Literal["logfmt", "json"] = Field(
        default="logfmt", description="Log lines on stdout: logfmt (key=value) or JSON."
    )

    @field_validator("metrics_listen")
    @classmethod
    def _check_listen(cls, listen: str | None) -> str | None:
        if listen is not None:
            match = _LISTEN.fullmatch(listen)
            if not match or not 0 < int(match.group(2)) < 65536:
                raise ValueError(f"{listen!r} is not HOST:PORT")
        return listen


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


class UploadSettings(_Section):
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


class CollectorSettings(_Section):
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
        match = _LISTEN.fullmatch(listen)
        if not match or not 0 < int(match.group(2)) < 65536:
            raise ValueError(f"{listen!r} is not HOST:PORT")
        return listen


class Settings(BaseSettings):
    """Everything configurable, validated once at the entry point."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix="PROBE_",
        env_nested_delimiter="__",
        nested_model_default_partial_update=True,
    )

    resolver: ResolverSettings = Field(default_factory=ResolverSettings)
    control: ControlSettings = Field(default_factory=ControlSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    measure: MeasureSettings = Field(default_factory=MeasureSettings)
    throughput: ThroughputSettings = Field(default_factory=ThroughputSettings)
    packets: PacketSettings = Field(default_factory=PacketSettings)
    blockpages: BlockpageSettings = Field(default_factory=BlockpageSettings)
    geoip: GeoipSettings = Field(default_factory=GeoipSettings)
    helper: HelperSettings = Field(default_factory=HelperSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    upload: UploadSettings = Field(default_factory=UploadSettings)
    collector: CollectorSettings = Field(default_factory=CollectorSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init (the TOML file, via load_settings) < env; CLI flags are applied after.
        return (env_settings, init_settings)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    path: Path | str | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    text: str | None = None,
) -> Settings:
    """Return validated Settings from the TOML file, `PROBE_*` variables and CLI overrides.

    `path` falls back to `PROBE_CONFIG`; no file at all means defaults. `text`, when given, is
    the file's content already read (the daemon hands its workers the config it validated).
    Raises ConfigError naming the file and the key on any problem.
    """
    chosen = path if path is not None else os.environ.get("PROBE_CONFIG") or None
    data: dict[str, Any] = {}
    source = "defaults"
    if text is not None:
        source = str(chosen or "<config>")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    elif chosen is not None:
        source = str(chosen)
        data = _read_toml(Path(chosen))
    try:
        settings = Settings(**data)
        if overrides:
            # Flags beat the environment: re-apply them on top of what the file and env set,
            # with an env prefix no variable can have so the environment is not read again.
            merged = _merge(settings.model_dump(mode="python", exclude_unset=False), overrides)
            settings = Settings(**merged, _env_prefix="\x00")
    except ValidationError as exc:
        raise ConfigError(describe(exc, source)) from exc
    return settings


def resolve_data_dir(settings: Settings) -> Path:
    """`[storage] data_dir`, else systemd's $STATE_DIRECTORY, else a per-user default."""
    return settings.storage.data_dir or default_data_dir()


def _default_text(field_info: Any) -> str:
    from pydantic_core import PydanticUndefined

    if field_info.default_factory is not None:
        value = field_info.default_factory()
    elif field_info.default is PydanticUndefined:
        return "(required)"
    else:
        value = field_info.default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    if value is None:
        return "(unset)"
    return f'"{value}"' if isinstance(value, str | Path) else str(value)


def render_reference() -> str:
    """Return docs/configuration.md, generated from the field descriptions of Settings."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `probe/config.py` (`python -m probe.config > docs/configuration.md`);",
        "a test fails when this page is stale.",
        "",
        "One TOML file, given by `--config PATH` or `PROBE_CONFIG`. No file at all means the"
        " defaults below. Precedence: CLI flag > `PROBE_*` environment variable (`__` for"
        " nesting, e.g. `PROBE_TIMEOUTS__CONNECT=3`) > TOML file > default. Unknown or"
        " mistyped keys are errors that name the key. Durations accept seconds or strings"
        ' like `"500ms"`, `"30s"`, `"15m"`, `"24h"`.',
        "",
    ]
    for name, section in Settings.model_fields.items():
        model = section.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        lines += [f"## `[{name}]`", "", "| key | default | meaning |", "| --- | --- | --- |"]
        for key, info in model.model_fields.items():
            text = (info.description or "").replace("|", "\\|")
            lines.append(f"| `{key}` | `{_default_text(info)}` | {text} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_reference(), end="")
