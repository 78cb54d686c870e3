"""The URL a client asks the helper to measure, checked before anything is dialled."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_MAX_NAME_CHARS = 253


@dataclass(frozen=True)
class ControlTarget:
    """A parsed http(s) URL: what the helper resolves, dials and fetches."""

    url: str
    scheme: str
    host: str  # lower-case ASCII (IDNA) name or IP literal without brackets
    port: int | None = None  # only when the URL gives one

    @property
    def is_ip_literal(self) -> bool:
        """Return whether the host is an IP address (then there is nothing to resolve)."""
        return _is_ip(self.host)

    @property
    def ports(self) -> tuple[int, ...]:
        """Return the ports measured: the URL's, else 443 for https and 80 and 443 for http."""
        if self.port is not None:
            return (self.port,)
        return (443,) if self.scheme == "https" else (80, 443)

    def uses_tls(self, port: int) -> bool:
        """Return whether an endpoint on `port` gets a TLS handshake (443, or the https port)."""
        return port == 443 or (self.scheme == "https" and port == self.port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _ascii_host(host: str) -> str:
    """Return `host` as a lower-case ASCII name, or raise ValueError naming the problem."""
    if _is_ip(host):
        return str(ipaddress.ip_address(host))
    try:
        name = host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError(f"invalid host name {host!r}") from exc
    name = name.removesuffix(".")
    labels = name.split(".")
    if len(name) > _MAX_NAME_CHARS or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"invalid host name {host!r}")
    return name


def parse_target(url: str) -> ControlTarget:
    """Return the ControlTarget of an http(s) URL; raise ValueError saying what is wrong."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid URL {url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValueError(f"unsupported URL scheme {scheme!r}: only http and https are measured")
    if not parts.hostname:
        raise ValueError(f"the URL {url!r} has no host")
    if port == 0:
        raise ValueError(f"invalid port 0 in {url!r}")
    return ControlTarget(
        url=url.strip(), scheme=scheme, host=_ascii_host(parts.hostname), port=port
    )


def split_endpoint(endpoint: str) -> str | None:
    """Return the canonical IP of an "ip:port" / "[ip6]:port" entry, None if malformed."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ":" not in host:
            return None
    elif ":" in host:  # IPv6 needs brackets, as in Go's net.SplitHostPort
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None
