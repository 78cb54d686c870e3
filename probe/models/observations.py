"""What happened on the wire, with no opinion: OONI data-format structures (df-001…df-008).

Field names follow OONI's so OONI-aware tools can read our records; `x_` fields are our additions.
Every entry carries `t0`/`t` (seconds since the measurement started), `tags` and `transaction_id`,
as OONI's do. Tags we use: `attempt=N` (retry number, from 1), `depth=N` (redirect depth),
`resolver=<address>`, `control_site`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from probe.models._base import Record


class BinaryData(Record):
    """Bytes that are not UTF-8 text, as OONI encodes them."""

    format: str = "base64"
    data: str


class DnsAnswer(Record):
    """One resource record of an answer (df-002 `answers[]`)."""

    answer_type: str = Field(description='"A", "AAAA" or "CNAME".')
    ipv4: str | None = None
    ipv6: str | None = None
    hostname: str | None = Field(default=None, description="CNAME target.")
    ttl: int | None = None
    asn: int | None = Field(default=None, description="Filled by observe/ from the ASN database.")
    as_org_name: str | None = None


class DnsLateReply(Record):
    """A reply to the same UDP query that arrived after the first one (injection evidence)."""

    rcode: str
    answers: list[DnsAnswer] = Field(default_factory=list)
    t: float
    ip_ttl: int | None = Field(default=None, description="IP TTL of the reply, when captured.")


# Resolvers reached through a transport of their own (HTTPS, TLS): a failure without a reply is
# the transport's, not the resolver's answer.
TRANSPORT_ENGINES = frozenset({"doh", "dot"})


class DnsObservation(Record):
    """One DNS query and what came back (df-002 `queries[]`)."""

    hostname: str
    query_type: str
    engine: str = Field(description='"system", "udp", "tcp", "dot" or "doh".')
    resolver_address: str
    answers: list[DnsAnswer] = Field(default_factory=list)
    rcode: str | None = Field(default=None, description='"NOERROR", "NXDOMAIN", … or null.')
    failure: str | None = None
    x_late_replies: list[DnsLateReply] = Field(default_factory=list)
    t0: float
    t: float
    tags: list[str] = Field(default_factory=list)
    transaction_id: int = 0

    def addresses(self) -> list[str]:
        """Return the A/AAAA addresses of the first answer."""
        return [a.ipv4 or a.ipv6 or "" for a in self.answers if a.answer_type in ("A", "AAAA")]

    def is_transport_failure(self) -> bool:
        """Return whether the resolver itself was never reached: a DoH or DoT query that got no
        reply (no rcode). Its failure string describes the way to the resolver (the lookup of
        `dns.google` itself, a blocked port 853), never the queried name: a failed control is
        absent, not an answer (issue 17)."""
        return self.engine in TRANSPORT_ENGINES and self.rcode is None and self.failure is not None


class TcpStatus(Record):
    """Outcome of one connect (df-005 `status`)."""

    success: bool
    failure: str | None = None
    blocked: bool | None = None


class TcpObservation(Record):
    """One TCP connect (df-005 `tcp_connect[]`)."""

    ip: str
    port: int
    status: TcpStatus
    t0: float
    t: float
    tags: list[str] = Field(default_factory=list)
    transaction_id: int = 0


class CertificateSummary(Record):
    """What a person needs to judge a certificate without decoding DER."""

    subject: str
    issuer: str
    sha256: str = Field(description="SHA-256 of the DER certificate, hex.")
    spki_sha256: str = Field(description="SHA-256 of the SubjectPublicKeyInfo, hex.")
    not_before: datetime
    not_after: datetime
    san: list[str] = Field(default_factory=list)
    public_key: str = Field(description='For example "RSA-2048 e=65537" or "EC-secp256r1".')


class TlsObservation(Record):
    """One TLS handshake (df-006 `tls_handshakes[]`), verified against the probe's trust store.

    `failure` is OONI's: `ssl_unknown_authority`, `ssl_invalid_hostname`, `ssl_invalid_certificate`
    for a chain that does not verify (the chain is still recorded), or a connection failure.
    """

    network: str = "tcp"
    address: str = Field(description='"ip:port" ("[ip6]:port" for IPv6).')
    server_name: str
    failure: str | None = None
    so_error: str | None = None
    tls_version: str | None = None
    cipher_suite: str | None = None
    negotiated_protocol: str | None = None
    no_tls_verify: bool = False
    peer_certificates: list[BinaryData] = Field(
        default_factory=list, description="DER certificates, leaf first, base64."
    )
    x_certificates: list[CertificateSummary] = Field(default_factory=list)
    t0: float
    t: float
    tags: list[str] = Field(default_factory=list)
    transaction_id: int = 0


class HttpRequestRecord(Record):
    """The request half of a transaction (df-001 `request`)."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    headers_list: list[tuple[str, str]] = Field(default_factory=list)
    body: str = ""
    body_is_truncated: bool = False
    x_transport: str = "tcp"


class HttpResponseRecord(Record):
    """The response half of a transaction (df-001 `response`); the body is capped."""

    code: int
    headers: dict[str, str] = Field(default_factory=dict)
    headers_list: list[tuple[str, str]] = Field(default_factory=list)
    body: str | BinaryData = ""
    body_is_truncated: bool = False
    x_body_length: int = Field(
        default=0, description="Decoded body bytes received, counted past the recorded cap."
    )
    x_body_sha256: str | None = Field(default=None, description="SHA-256 of the recorded body.")
    x_title: str | None = None


def response_text(response: HttpResponseRecord) -> str:
    """Return the recorded body as text (base64 bodies decoded, invalid UTF-8 replaced)."""
    body = response.body
    if not isinstance(body, BinaryData):
        return body
    try:
        raw = base64.b64decode(body.data, validate=False)
    except (binascii.Error, ValueError):
        return ""
    return raw.decode("utf-8", errors="replace")


class HttpTransaction(Record):
    """One request/response of a redirect chain (df-001 `requests[]`, newest first)."""

    network: str = "tcp"
    address: str | None = Field(default=None, description='"ip:port" the request went to.')
    alpn: str | None = None
    failure: str | None = None
    x_failed_operation: str | None = Field(
        default=None,
        description='Where the request failed: "connect", "tls_handshake", "write" or "read".',
    )
    request: HttpRequestRecord
    response: HttpResponseRecord | None = None
    t0: float
    t: float
    tags: list[str] = Field(default_factory=list)
    transaction_id: int = 0


class ThroughputSample(Record):
    """Bytes received so far on one transfer's socket (OONI's `bytes_received_cumulative`)."""

    t: float = Field(description="Seconds since the transfer's request was sent.")
    bytes: int = Field(ge=0, description="Bytes received on the wire since then (TLS included).")


class TransferRole(StrEnum):
    """What one download of a throughput test stands for."""

    TARGET = "target"
    SAME_ADDRESS = "same_address"
    CONTROL = "control"


class ThroughputTransfer(Record):
    """One capped download of a throughput test: how fast the bytes came, over time.

    `target`: the platform's object, from its address with its own SNI; `same_address`: the same
    object from the same address with an innocuous SNI (the certificate is not verified: it names
    the platform), the pair that isolates an SNI-keyed policer; `control`: a control site's object.
    A transfer stopped by its byte or time cap is complete data, not a failure.
    """

    role: TransferRole
    repeat: int = Field(ge=1, description="Which repeat of the test (from 1).")
    url: str
    address: str | None = Field(default=None, description='"ip:port" downloaded from.')
    server_name: str = Field(description="The SNI sent (https) or the Host (http).")
    verified: bool = Field(description="Whether the certificate chain and name were verified.")
    failure: str | None = None
    x_failed_operation: str | None = Field(
        default=None, description='"dns", "connect", "tls_handshake", "write" or "read".'
    )
    status_code: int | None = None
    connect_s: float | None = Field(default=None, description="TCP connect duration.")
    handshake_s: float | None = Field(default=None, description="TLS handshake duration.")
    ttfb_s: float | None = Field(
        default=None, description="Request sent → first byte of the response."
    )
    bytes: int = Field(default=0, ge=0, description="Bytes received after the request was sent.")
    duration_s: float = Field(default=0.0, description="Request sent → last byte (or the stop).")
    stopped: str = Field(
        description='"complete" (the body ended), "max_bytes", "max_duration" or "failure".'
    )
    samples: list[ThroughputSample] = Field(default_factory=list)
    t0: float = Field(description="Seconds since the measurement started.")


class ThroughputLimits(Record):
    """The caps the transfers ran with (the verdict needs them to judge a short transfer)."""

    repeats: int
    duration_s: float
    max_bytes: int
    min_bytes: int


class ThroughputChoice(StrEnum):
    """Why a target's throughput test measured what it measured (issue 19)."""

    CATALOGUE_OBJECTS = "catalogue_objects"  # the platform's objects (the default)
    PAGES = "pages"  # the target's own large pages: asked for ([throughput] pages)


class ThroughputTest(Record):
    """A target's throughput test: its objects, the references, every transfer (in order).

    A run measures one object at one address with one server name once: a later target with
    the same objects gets the same test, `measured_for` naming the target it was run for.
    """

    objects: list[str] = Field(default_factory=list, description="The target's URLs measured.")
    choice: ThroughputChoice = Field(
        default=ThroughputChoice.CATALOGUE_OBJECTS,
        description="What the candidates were: the catalogue platform's objects, or the"
        " target's own large pages (measured only when asked for).",
    )
    measured_for: str | None = Field(
        default=None,
        description="The input of the run's earlier target this test was measured for, when"
        " it was shared (once per address, server name and object per run); None: measured"
        " for this target.",
    )
    innocuous_sni: str | None = None
    limits: ThroughputLimits
    transfers: list[ThroughputTransfer] = Field(default_factory=list)
    queries: list[DnsObservation] = Field(
        default_factory=list, description="Lookups of the objects' and control sites' hosts."
    )
    skipped: str | None = Field(default=None, description="Why nothing was measured, if so.")
