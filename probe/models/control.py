"""OONI's web-connectivity test-helper wire format (ts-017; probe-cli `model/th.go`).

`probe helper` serves it and `probe check` speaks it to OONI's helpers or ours. Our extensions are
`x_` fields that OONI clients ignore: `x_certificate` on each TLS handshake (issuer, SPKI and
fingerprints, so a probe can see interception even when the interception root is trusted locally);
on `http_request`, `x_page` (the page's identity summary, models/page.py), `x_address` and
`x_chain` (where the helper's fetch went), so that a probe can tell the target's page from
another with positive evidence (issue 17).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from probe.models._base import WireRecord
from probe.models.observations import CertificateSummary
from probe.models.page import PageSummary

# ip_info flags (probe-cli model/th.go)
IP_FLAG_RESOLVED_BY_PROBE = 1
IP_FLAG_RESOLVED_BY_HELPER = 2
IP_FLAG_BOGON = 4
IP_FLAG_VALID_FOR_DOMAIN = 8


class ControlRequest(WireRecord):
    """What a probe asks the helper to measure. Validated strictly: it comes from anyone."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    http_request: str = Field(description="The URL to fetch.")
    http_request_headers: dict[str, list[str]] = Field(default_factory=dict)
    tcp_connect: list[str] = Field(default_factory=list, description='"ip:port" endpoints.')
    x_quic_enabled: bool = False

    @field_validator("http_request_headers", "tcp_connect", mode="before")
    @classmethod
    def _null_is_empty(cls, value: object, info: ValidationInfo) -> object:
        # OONI probes send `"tcp_connect": null` when they resolved nothing (websiteDown*).
        if value is None:
            return [] if info.field_name == "tcp_connect" else {}
        return value


class ControlTcpConnect(WireRecord):
    """The helper's connect to one endpoint."""

    status: bool
    failure: str | None = None


class ControlTlsHandshake(WireRecord):
    """The helper's TLS handshake to one endpoint, plus our certificate summary."""

    server_name: str = ""
    status: bool
    failure: str | None = None
    x_certificate: CertificateSummary | None = None
    x_chain_issuers: list[str] = Field(default_factory=list)


class ControlDns(WireRecord):
    """The helper's DNS lookup of the URL host."""

    failure: str | None = None
    addrs: list[str] = Field(default_factory=list)


class ControlHttpRequest(WireRecord):
    """The helper's GET of the URL (the last response of its redirect chain)."""

    body_length: int = -1
    discovered_h3_endpoint: str = ""
    failure: str | None = None
    title: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    status_code: int = -1
    x_body_sha256: str | None = None
    x_final_url: str | None = None
    x_chain: list[str] = Field(
        default_factory=list,
        description="Every URL the helper requested, in order (the last is x_final_url).",
    )
    x_address: str | None = Field(
        default=None, description='"ip:port" the helper\'s last response came from.'
    )
    x_page: PageSummary | None = Field(
        default=None, description="Identity summary of the last response's page (ours only)."
    )


class ControlIpInfo(WireRecord):
    """What the helper knows about one IP: ASN and flags (1 probe, 2 helper, 4 bogon, 8 valid)."""

    asn: int = 0
    flags: int = 0


class ControlResponse(WireRecord):
    """What the helper saw from outside."""

    tcp_connect: dict[str, ControlTcpConnect] = Field(default_factory=dict)
    tls_handshake: dict[str, ControlTlsHandshake] = Field(default_factory=dict)
    quic_handshake: dict[str, ControlTlsHandshake] = Field(default_factory=dict)
    http3_request: ControlHttpRequest | None = None
    dns: ControlDns = Field(default_factory=ControlDns)
    http_request: ControlHttpRequest = Field(default_factory=ControlHttpRequest)
    ip_info: dict[str, ControlIpInfo] = Field(default_factory=dict)
    x_client_address: str | None = Field(
        default=None,
        description="The probe's address as the helper saw it (ours only): the probe scrubs it.",
    )
    x_client_asn: str | None = Field(
        default=None,
        description='The network the helper sees the probe from, e.g. "AS9198" (ours only, when'
        " the helper has an ASN database): names the probe's network when it has none.",
    )
