"""What the user asked us to measure: targets, their endpoints, and the platform catalogue."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from probe.models._base import Record


class TargetKind(StrEnum):
    """How the user named the target."""

    DOMAIN = "domain"
    URL = "url"
    PLATFORM = "platform"


class EndpointKind(StrEnum):
    """What is measured at an endpoint: a web URL (DNS, TCP, TLS, HTTP) or a bare TCP service."""

    WEB = "web"
    TCP = "tcp"


class Endpoint(Record):
    """One thing measured end to end: a URL to fetch, or a host:port to connect to."""

    kind: EndpointKind
    host: str = Field(description="Host name or IP literal (IDNA-encoded, lower case).")
    port: int = Field(ge=1, le=65535)
    url: str | None = Field(default=None, description="The URL fetched (web endpoints only).")

    @property
    def label(self) -> str:
        """Return the text that names this endpoint in reasons and tables."""
        if self.url is not None:
            return self.url
        return f"{self.host}:{self.port}"


class Target(Record):
    """One target of one invocation, as parsed from the user's input."""

    input: str = Field(description="The target exactly as the user typed it.")
    kind: TargetKind
    name: str = Field(description="Platform name, domain or URL host.")
    platform: str | None = Field(default=None, description="Catalogue platform, if any.")
    endpoints: list[Endpoint]
    expected_asns: list[int] = Field(default_factory=list)
    objects: list[str] = Field(
        default_factory=list, description="Large objects to measure throughput with (URLs)."
    )
    category_code: str | None = Field(
        default=None, description="Citizen Lab test-list category, when read from a test list."
    )
    note: str | None = None


class Platform(Record):
    """One platform of the catalogue (`configs/platforms.toml`)."""

    name: str
    title: str
    aliases: list[str] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)
    tcp_endpoints: list[str] = Field(default_factory=list, description='"host:port" entries.')
    asns: list[int] = Field(default_factory=list)
    objects: list[str] = Field(
        default_factory=list,
        description="https URLs of large, stable objects (images, scripts) for throughput.",
    )
    note: str | None = None
