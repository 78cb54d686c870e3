"""What a public helper may dial, and whom it serves when busy.

A helper connects wherever its clients ask, so it must never become a way into its own host or
network: `DestinationPolicy` refuses loopback, the host's own addresses on every interface,
private, link-local (cloud metadata at 169.254.169.254) and every other bogon, cloud metadata
endpoints outside the bogon ranges (Azure's 168.63.129.16), IPv6 prefixes that carry IPv4 in
ways no public service uses (::/96, ::ffff:0:0:0/96, 64:ff9b:1::/48), also when an address
hides inside an IPv6 address (IPv4-mapped, NAT64, 6to4). `LoadShedder` follows OONI's
oohelperd (probe#2649): below one limit every client is served, below a second only probes
we know, past it 503.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from probe.helper.interfaces import HostAddresses
from probe.models.addresses import IPNetwork, is_bogon

# Clients served between the two load-shedding limits: OONI's probes and ours.
TRUSTED_USER_AGENT_PREFIXES = ("ooniprobe-", "probe/")

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")

# Cloud metadata and host services (issue 18). Most sit in bogon ranges and are refused anyway;
# listed here they stay refused even when `[network] routable` covers their range.
METADATA_ENDPOINTS = (
    "169.254.169.254/32",  # AWS, GCP, Azure IMDS, Oracle, DigitalOcean, Hetzner, OpenStack
    "169.254.170.2/32",  # AWS ECS task credentials
    "169.254.0.23/32",  # Tencent Cloud
    "100.100.100.200/32",  # Alibaba Cloud
    "168.63.129.16/32",  # Azure WireServer (DNS, DHCP, health probes): public space
    "fd00:ec2::254/128",  # AWS IMDS over IPv6
    "fd20:ce::254/128",  # GCP metadata over IPv6
)
# IPv6 prefixes that carry IPv4 in ways no public service uses: never dialled.
_NEVER_PREFIXES = (
    "::/96",  # IPv4-compatible (deprecated; a sit tunnel sends ::a.b.c.d to a.b.c.d)
    "::ffff:0:0:0/96",  # IPv4-translated (SIIT, RFC 2765)
    "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215): where the IPv4 sits is the operator's
)
NEVER_DIALLED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n) for n in (*METADATA_ENDPOINTS, *_NEVER_PREFIXES)
)


def _parse(ip: str) -> _Address | None:
    try:
        return ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return None


def _embedded_ipv4(addr: _Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), if any."""
    if isinstance(addr, ipaddress.IPv4Address):
        return None
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr.sixtofour if addr in _SIX_TO_FOUR else None


def _reaches_this_host(addr: _Address) -> bool:
    # 0.0.0.0 and :: reach local services on Linux just as 127.0.0.1 does.
    if addr.is_loopback or addr.is_unspecified:
        return True
    return isinstance(addr, ipaddress.IPv4Address) and addr in _THIS_NETWORK


def _within(addr: _Address, networks: Iterable[IPNetwork]) -> bool:
    return any(addr.version == net.version and addr in net for net in networks)


class DestinationPolicy:
    """Decides which addresses the helper may connect to.

    An address is allowed when it is publicly routable: not a bogon (METHODS.md §4.1), unless
    `routable` (the operator's `[network] routable`) covers it. Refused even when `routable`
    lists them: loopback and unspecified addresses and the host's own addresses (`own`, read
    from its interfaces), which reach the helper's own host; `NEVER_DIALLED` (cloud metadata,
    IPv4-carrying IPv6 prefixes); and `refused` (the operator's `[helper] refused`, e.g. a
    public address that reaches the host through NAT without being on an interface).
    `own_allowed` (`[helper] own_addresses_allowed`, for labs whose helper shares a network
    namespace with the sites it measures) exempts own non-loopback addresses in its ranges.
    `allow_loopback` lets loopback addresses follow the ordinary bogon rule (so they must also
    be listed in `routable`); it exists only so tests can stand loopback servers in for the
    internet, and nothing reachable from the network or the configuration sets it.
    """

    def __init__(
        self,
        routable: Iterable[IPNetwork] = (),
        *,
        allow_loopback: bool = False,
        refused: Iterable[IPNetwork] = (),
        own: HostAddresses | None = None,
        own_allowed: Iterable[IPNetwork] = (),
    ) -> None:
        self._routable = tuple(routable)
        self._allow_loopback = allow_loopback
        self._refused = (*NEVER_DIALLED, *refused)
        self._own = own if own is not None else HostAddresses()
        self._own_allowed = tuple(own_allowed)

    def allows(self, ip: str) -> bool:
        """Return whether the helper may connect to `ip` (an IP literal; anything else: no)."""
        addr = _parse(ip)
        if addr is None:
            return False
        embedded = _embedded_ipv4(addr)
        if embedded is not None and not self.allows(str(embedded)):
            return False
        if _within(addr, self._refused):
            return False
        if _reaches_this_host(addr) or self._is_own(addr):
            if not (self._allow_loopback and addr.is_loopback):
                return False
        return not is_bogon(str(addr), self._routable)

    def _is_own(self, addr: _Address) -> bool:
        bare = ipaddress.ip_address(str(addr).split("%")[0])  # without an IPv6 zone
        if _within(bare, self._own_allowed) and not bare.is_loopback:
            return False  # a lab's helper among its sites ([helper] own_addresses_allowed)
        return bare in self._own.current()


class LoadShedder:
    """Counts measurements in flight and admits a new one or not (OONI probe#2649).

    With fewer than `max_in_flight_all` in flight every client is served; with fewer than
    `max_in_flight` only clients whose User-Agent starts with one of
    `TRUSTED_USER_AGENT_PREFIXES`; otherwise nobody (the caller answers 503).
    """

    def __init__(self, max_in_flight_all: int, max_in_flight: int) -> None:
        self._all = max_in_flight_all
        self._trusted = max(max_in_flight, max_in_flight_all)
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Return how many admitted requests have not finished."""
        return self._in_flight

    def admits(self, user_agent: str) -> bool:
        """Return whether a request from `user_agent` would be served now."""
        if self._in_flight < self._all:
            return True
        return self._in_flight < self._trusted and user_agent.startswith(
            TRUSTED_USER_AGENT_PREFIXES
        )

    @contextmanager
    def admission(self, user_agent: str) -> Iterator[bool]:
        """Yield whether the request is admitted; an admitted one counts until the block ends."""
        if not self.admits(user_agent):
            yield False
            return
        self._in_flight += 1
        try:
            yield True
        finally:
            self._in_flight -= 1
