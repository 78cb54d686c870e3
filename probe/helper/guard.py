"""What a public helper may dial, and whom it serves when busy.

A helper connects wherever its clients ask, so it must never become a way into its own host or
network: `DestinationPolicy` refuses loopback, private, link-local (cloud metadata at
169.254.169.254) and every other bogon, also when one hides inside an IPv6 address (IPv4-mapped,
NAT64, 6to4). `LoadShedder` follows OONI's oohelperd (probe#2649): below one limit every client is
served, below a second only probes we know, past it 503.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from probe.models.addresses import IPNetwork, is_bogon

# Clients served between the two load-shedding limits: OONI's probes and ours.
TRUSTED_USER_AGENT_PREFIXES = ("ooniprobe-", "probe/")

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


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


class DestinationPolicy:
    """Decides which addresses the helper may connect to.

    An address is allowed when it is publicly routable: not a bogon (METHODS.md §4.1), unless
    `routable` (the operator's `[network] routable`) covers it. Loopback and unspecified addresses
    reach the helper's own host and are refused even when `routable` lists them. `allow_loopback`
    lifts that last rule (loopback then follows the ordinary bogon rule, so it must also be listed
    in `routable`); it exists only so tests can stand loopback servers in for the internet, and
    nothing reachable from the network or the configuration sets it.
    """

    def __init__(self, routable: Iterable[IPNetwork] = (), *, allow_loopback: bool = False) -> None:
        self._routable = tuple(routable)
        self._allow_loopback = allow_loopback

    def allows(self, ip: str) -> bool:
        """Return whether the helper may connect to `ip` (an IP literal; anything else: no)."""
        addr = _parse(ip)
        if addr is None:
            return False
        embedded = _embedded_ipv4(addr)
        if embedded is not None and not self.allows(str(embedded)):
            return False
        if _reaches_this_host(addr) and not self._allow_loopback:
            return False
        return not is_bogon(str(addr), self._routable)


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
