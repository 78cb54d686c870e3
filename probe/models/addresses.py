"""Address facts every stage needs: which IPs are bogons (METHODS.md §4.1, netxlite.IsBogon),
and "ip:port" parsing of resolver addresses."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_BOGON_RANGES = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "100::/64",
    "2001:10::/28",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
    "2002::/24",
    "2002:a00::/24",
    "2002:7f00::/24",
    "2002:a9fe::/32",
    "2002:ac10::/28",
    "2002:c000::/40",
    "2002:c000:200::/40",
    "2002:c0a8::/32",
    "2002:c612::/31",
    "2002:c633:6400::/40",
    "2002:cb00:7100::/40",
    "2002:e000::/20",
    "2002:f000::/20",
    "2002:ffff:ffff::/48",
    "2001::/40",
    "2001:0:a00::/40",
    "2001:0:7f00::/40",
    "2001:0:a9fe::/48",
    "2001:0:ac10::/44",
    "2001:0:c000::/56",
    "2001:0:c000:200::/56",
    "2001:0:c0a8::/48",
    "2001:0:c612::/47",
    "2001:0:c633:6400::/56",
    "2001:0:cb00:7100::/56",
    "2001:0:e000::/36",
    "2001:0:f000::/36",
    "2001:0:ffff:ffff::/64",
)

BOGON_NETWORKS: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(r) for r in _BOGON_RANGES)


@lru_cache(maxsize=4096)
def _parse(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return None


def is_ip_address(text: str) -> bool:
    """Return whether `text` is an IPv4 or IPv6 literal."""
    return _parse(text) is not None


def is_ipv6(ip: str) -> bool:
    """Return whether `ip` is an IPv6 literal."""
    addr = _parse(ip)
    return addr is not None and addr.version == 6


def is_loopback(ip: str) -> bool:
    """Return whether `ip` is a loopback address (never dialled, whatever `routable` says)."""
    addr = _parse(ip)
    return addr is not None and addr.is_loopback


def is_bogon(ip: str, routable: Iterable[IPNetwork] = ()) -> bool:
    """Return whether `ip` is a bogon: not publicly routable, unless a `routable` range covers it.

    `routable` wins over every bogon range, loopback included, so loopback test rigs can stand in
    for the internet; the helper refuses loopback separately (`is_loopback`), whatever it is told.
    An unparseable string counts as a bogon (it cannot be a real answer).
    """
    addr = _parse(ip)
    if addr is None:
        return True
    for net in routable:
        if addr.version == net.version and addr in net:
            return False
    return any(addr.version == net.version and addr in net for net in BOGON_NETWORKS)


def split_address(address: str, default_port: int) -> tuple[str, int]:
    """Return (ip, port) of "ip", "ip:port", "[ip6]" or "[ip6]:port"; raises ValueError."""
    text = address.strip().rstrip("/")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":") if rest.startswith(":") else rest
    elif is_ip_address(text):  # a bare IPv6 address has colons but no port
        host, port_text = text, ""
    else:
        host, _, port_text = text.partition(":")
    if not is_ip_address(host):
        raise ValueError(f"{host!r} is not an IP address")
    port = int(port_text) if port_text else default_port
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    return host, port
