"""The sections of a measurement: `[resolver]`, `[control]`, `[tls]`, `[network]`,
`[timeouts]`, `[measure]`, `[blockpages]`, `[geoip]`, and their defaults."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from probe.config.values import Duration, Section, parse_networks
from probe.models.addresses import IPNetwork

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
# DB-IP's free ASN database in MaxMind format (CC BY 4.0), published monthly.
DEFAULT_GEOIP_URL = "https://download.db-ip.com/free/dbip-asn-lite-{year}-{month}.mmdb.gz"
DEFAULT_GEOIP_REFRESH_S = 30 * 86400.0

_RESOLVER = re.compile(r"^(system|udp://\S+|tcp://\S+|tls://\S+|https://\S+)$")


class ResolverSettings(Section):
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


class ControlSettings(Section):
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


class TlsSettings(Section):
    ca_bundle: Path | None = Field(
        default=None,
        description="Extra trusted roots (PEM), in addition to the bundled Mozilla store"
        " (certifi).",
    )


class NetworkSettings(Section):
    routable: list[IPNetwork] = Field(
        default_factory=list,
        description="Ranges treated as publicly routable (not bogons): for labs.",
    )

    _networks = field_validator("routable", mode="before")(parse_networks)


class TimeoutSettings(Section):
    dns: Duration = Field(default=DEFAULT_DNS_TIMEOUT_S, gt=0, description="One DNS query.")
    connect: Duration = Field(
        default=DEFAULT_CONNECT_TIMEOUT_S, gt=0, description="One TCP connect."
    )
    tls: Duration = Field(default=DEFAULT_TLS_TIMEOUT_S, gt=0, description="One TLS handshake.")
    http: Duration = Field(
        default=DEFAULT_HTTP_TIMEOUT_S, gt=0, description="One HTTP request, body included."
    )


class MeasureSettings(Section):
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


class BlockpageSettings(Section):
    fingerprints: list[Path] = Field(
        default_factory=list,
        description="Extra blockpage fingerprint CSVs in OONI's blocking-fingerprints format;"
        " probe's own list (probe/data/blockpages.csv) is always loaded.",
    )


class GeoipSettings(Section):
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
