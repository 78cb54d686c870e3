"""Host names, IP literals, URLs and "host:port" strings → the normalised form we measure.

Every function raises `TargetError` whose message is only the reason ("label longer than 63
characters"); the caller adds where the text came from (the target, or the catalogue key).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import idna

from probe.errors import TargetError
from probe.models.targets import Endpoint, EndpointKind

SCHEMES = {"http": 80, "https": 443}
MAX_LABEL_CHARS = 63
MAX_NAME_CHARS = 253

# One LDH label (RFC 1035 §2.3.1 as relaxed by RFC 1123 §2.1): letters, digits and inner hyphens.
# Hyphens in positions 3–4 are allowed in ASCII labels (CheckHyphens=false, as in the WHATWG URL
# standard) because real hosts have them: rr3---sn-abc.googlevideo.com.
_LDH_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_DIGITS = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class ParsedUrl:
    """A URL after normalisation, with the host and port it connects to."""

    url: str
    host: str
    port: int


def is_ip_literal(host: str) -> bool:
    """Return whether `host` (without brackets) is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def url_host(host: str) -> str:
    """Return `host` as written inside a URL: IPv6 addresses go in brackets."""
    return f"[{host}]" if ":" in host else host


def _ip_literal(text: str) -> str | None:
    """Return the canonical form of an IP literal, None if `text` is not one."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        raise TargetError(f"scoped IPv6 address {text!r} is not supported")
    return address.compressed


def _to_ascii(name: str) -> str:
    """Return the A-label form of a name that has non-ASCII characters.

    We use the `idna` package, not Python's "idna" codec: the codec implements IDNA 2003, which
    maps "faß.de" to "fass.de", a different domain from the "xn--fa-hia.de" that browsers (WHATWG
    URL: UTS #46, non-transitional) and registries (IDNA 2008) use, and it accepts symbols that
    IDNA 2008 disallows. `idna` applies the UTS #46 mapping (case folding, full-width dots), then
    IDNA 2008 label checks. `idna` is already installed as an httpx dependency.
    """
    try:
        mapped = idna.uts46_remap(name, std3_rules=False, transitional=False)
        labels = [
            label if label.isascii() else idna.alabel(label).decode("ascii")
            for label in mapped.split(".")
        ]
    except idna.IDNAError as exc:
        raise TargetError(f"invalid internationalised domain name: {exc}") from exc
    return ".".join(labels).lower()


def _check_label(label: str) -> None:
    if not label:
        raise TargetError("empty label (two dots in a row, or a leading dot)")
    if len(label) > MAX_LABEL_CHARS:
        raise TargetError(f"label {label[:20]!r}… is longer than {MAX_LABEL_CHARS} characters")
    if not _LDH_LABEL.match(label):
        raise TargetError(
            f"label {label!r} has characters other than letters, digits and inner hyphens"
        )
    if label.startswith("xn--"):
        try:
            idna.ulabel(label)
        except idna.IDNAError as exc:
            raise TargetError(f"label {label!r} is not a valid IDNA A-label: {exc}") from exc


def _check_name(name: str) -> None:
    if len(name) > MAX_NAME_CHARS:
        raise TargetError(f"name is longer than {MAX_NAME_CHARS} characters")
    labels = name.split(".")
    for label in labels:
        _check_label(label)
    if _DIGITS.match(labels[-1]):
        raise TargetError("looks like an IPv4 address but is not a valid one")


def normalize_host(text: str) -> str:
    """Return the host we measure: an IDNA A-label name in lower case, or a canonical IP.

    IPv6 may be given with or without brackets and is returned without them. One trailing dot
    (a fully qualified name) is dropped.
    """
    if not text:
        raise TargetError("no host name")
    if text.startswith("[") and text.endswith("]"):
        inner = _ip_literal(text[1:-1])
        if inner is None or ":" not in inner:
            raise TargetError(f"{text!r} is not an IPv6 address")
        return inner
    literal = _ip_literal(text)
    if literal is not None:
        return literal
    name = text[:-1] if text.endswith(".") else text
    if not name:
        raise TargetError("no host name")
    name = name.lower() if name.isascii() else _to_ascii(name)
    _check_name(name)
    return name


def _split_netloc(netloc: str) -> tuple[str, str | None]:
    """Return the host and the port text (None if absent) of a URL's authority."""
    if "@" in netloc:
        raise TargetError("user name or password in a URL is not supported; remove the 'user@'")
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise TargetError("unclosed '[' in the IPv6 address")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise TargetError(f"unexpected {rest!r} after the IPv6 address")
        return host, rest[1:] if rest else None
    if netloc.count(":") > 1:
        raise TargetError("an IPv6 address in a URL must be in brackets: http://[2001:db8::1]/")
    host, colon, port = netloc.partition(":")
    return host, port if colon else None


def parse_port(text: str) -> int:
    """Return the port number in `text`, a decimal from 1 to 65535."""
    if not _DIGITS.match(text) or not 1 <= int(text) <= 65535:
        raise TargetError(f"invalid port {text!r}: give a number from 1 to 65535")
    return int(text)


def _ascii_only(text: str) -> str:
    """Return `text` with non-ASCII characters percent-encoded (UTF-8), the rest untouched."""
    return "".join(c if c.isascii() else quote(c, safe="") for c in text)


def normalize_url(text: str) -> ParsedUrl:
    """Return an http(s) URL normalised: lower-case scheme, IDNA host, no default port, path "/".

    Path and query are kept as given (non-ASCII characters percent-encoded); the fragment is
    dropped because it is never sent to the server.
    """
    if any(c.isspace() or not c.isprintable() for c in text):
        raise TargetError("contains whitespace or control characters")
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # bracket trouble: "http://[::1/", "http://[::1]x/" (3.11.4+)
        # Name the problem ourselves: what urlsplit refuses differs between Python releases.
        netloc = re.split(r"[/?#]", text.partition("://")[2], maxsplit=1)[0]
        _split_netloc(netloc)
        raise TargetError(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise TargetError(f"unsupported scheme {parts.scheme!r}: use http:// or https://")
    host_text, port_text = _split_netloc(parts.netloc)
    host = normalize_host(host_text)
    default_port = SCHEMES[scheme]
    port = parse_port(port_text) if port_text else default_port
    authority = url_host(host) if port == default_port else f"{url_host(host)}:{port}"
    path = _ascii_only(parts.path or "/")
    query = f"?{_ascii_only(parts.query)}" if parts.query else ""
    return ParsedUrl(url=f"{scheme}://{authority}{path}{query}", host=host, port=port)


def web_endpoint(text: str) -> Endpoint:
    """Return the web endpoint that fetches the URL `text`."""
    parsed = normalize_url(text)
    return Endpoint(kind=EndpointKind.WEB, host=parsed.host, port=parsed.port, url=parsed.url)


def tcp_endpoint(text: str) -> Endpoint:
    """Return the TCP endpoint of a "host:port" string ("[2001:db8::1]:443" for IPv6)."""
    host_text, port_text = _split_netloc(text)
    if port_text is None:
        raise TargetError("no port: write host:port")
    return Endpoint(
        kind=EndpointKind.TCP, host=normalize_host(host_text), port=parse_port(port_text)
    )
