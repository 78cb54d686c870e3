"""Who a request comes from, and how many requests one client may have open (issue 18).

Behind a reverse proxy every request comes from the proxy: `client_address()` takes the client
from `Forwarded` (RFC 7239) or `X-Forwarded-For`, but only when the connection comes from one of
`[helper] trusted_proxies`, and then the right-most address no trusted proxy added (a client can
write anything at the left). From anyone else these headers are ignored.

`ClientLimiter` caps the requests one client address has open at once, body arriving included,
so slow clients cannot take every slot (the body is read before a request counts against the
load shedder's in-flight limit: app.py).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from probe.models.addresses import IPNetwork

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> _Address | None:
    """Return the address of a header entry: "ip", "ip:port", "[ip6]", "[ip6]:port"."""
    text = text.strip().strip('"').strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_for(values: Iterable[str]) -> list[str]:
    """Return the `for=` values of Forwarded headers, in order (RFC 7239 §4)."""
    found: list[str] = []
    for value in values:
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, entry = pair.partition("=")
                if name.strip().lower() == "for":
                    found.append(entry)
    return found


def _trusted(address: _Address | None, proxies: Iterable[IPNetwork]) -> bool:
    return address is not None and any(
        address.version == net.version and address in net for net in proxies
    )


def client_address(
    peer: str | None,
    forwarded: list[str],
    x_forwarded_for: list[str],
    trusted_proxies: Iterable[IPNetwork],
) -> str | None:
    """Return the client's address: the peer's, or from a trusted proxy the right-most address
    of `Forwarded` (else `X-Forwarded-For`) that is not a trusted proxy's. None when a trusted
    proxy's header names no usable address (obfuscated, "unknown", malformed)."""
    proxies = tuple(trusted_proxies)
    address = _address(peer) if peer is not None else None
    if not _trusted(address, proxies):
        return None if address is None else str(address)
    chain = _forwarded_for(forwarded) if forwarded else []
    if not chain:
        chain = [entry for value in x_forwarded_for for entry in value.split(",")]
    if not chain:
        return str(address)
    for entry in reversed(chain):
        hop = _address(entry)
        if hop is None:
            return None
        if not _trusted(hop, proxies):
            return str(hop)
    return str(_address(chain[0]))


@dataclass
class ClientLimiter:
    """Counts each client's open requests; admits up to `max_per_client` at once."""

    max_per_client: int
    _open: dict[str, int] = field(default_factory=dict)

    def open_requests(self, client: str) -> int:
        """Return how many requests `client` has open."""
        return self._open.get(client, 0)

    @contextmanager
    def hold(self, client: str) -> Iterator[bool]:
        """Yield whether `client` may open one more request; an admitted one counts until the
        block ends."""
        if self._open.get(client, 0) >= self.max_per_client:
            yield False
            return
        self._open[client] = self._open.get(client, 0) + 1
        try:
            yield True
        finally:
            self._open[client] -= 1
            if not self._open[client]:
                del self._open[client]
