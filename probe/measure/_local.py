"""The probe's own addresses, learnt without sending a packet or echoed by its helpers, so
they can be scrubbed."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable

from probe.models.addresses import IPNetwork, is_bogon, is_ip_address, is_ipv6, is_loopback


def _canonical(address: str) -> str | None:
    """Return an IP literal's canonical text, an IPv4-mapped IPv6 address as IPv4; else None."""
    try:
        parsed = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)


class LocalAddresses:
    """Local source addresses the kernel picks towards the destinations we measured."""

    def __init__(self) -> None:
        self._known: set[str] = set()
        self._families_done: set[int] = set()
        self._echoed: set[str] = set()  # every plausible address a helper echoed: scrubbed
        self._latest: dict[str, str] = {}  # helper → the address it echoed last
        # Called once with each address that may be ours, learnt or echoed (the runner
        # prepares its scrubbing inside the late-reply window, issue 19).
        self.on_address: Callable[[str], None] | None = None
        self._told: set[str] = set()

    def learn_towards(self, destinations: list[str]) -> None:
        """Record the local address used towards one destination of each address family.

        A connected UDP socket makes the kernel choose a route and source address without
        sending anything.
        """
        for ip in destinations:
            family = socket.AF_INET6 if is_ipv6(ip) else socket.AF_INET
            if family in self._families_done or not is_ip_address(ip) or is_loopback(ip):
                continue
            self._families_done.add(family)
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as sock:
                    sock.connect((ip.strip("[]"), 9))
                    local = sock.getsockname()[0]
            except OSError:
                continue
            if not is_loopback(local):
                self._learnt(local)

    def add(self, address: str) -> None:
        """Record an address known to be ours (never loopback; anything else is ignored)."""
        if is_ip_address(address) and not is_loopback(address):
            self._learnt(address.strip("[]"))

    def _learnt(self, address: str) -> None:
        self._known.add(address)
        self.heard(address)

    def heard(self, address: str) -> None:
        """Tell `on_address` of an address that may be ours (a helper's echo is recorded by
        `add_echoed`, if plausible, once the measurement is over)."""
        if self.on_address is not None and address not in self._told:
            self._told.add(address)
            self.on_address(address)

    def add_echoed(self, helper: str, address: str, routable: Iterable[IPNetwork]) -> bool:
        """Record the address `helper` saw us come from (`x_client_address`), if plausible:
        an IP literal that is publicly routable (not a bogon unless `routable` covers it, never
        loopback). Return whether it was accepted.

        A helper is not trusted blindly (issue 18): anything else it echoes is ignored, and
        what it echoes is scrubbed but names our network (`public()`) only while every helper
        that echoed an address of that family agrees.
        """
        canonical = _canonical(address)
        if canonical is None or is_loopback(canonical) or is_bogon(canonical, routable):
            return False
        self._echoed.add(canonical)
        self._latest[helper] = canonical
        return True

    def disputed(self) -> list[int]:
        """Return the IP versions (4, 6) for which helpers echoed different addresses."""
        versions: dict[int, set[str]] = {}
        for address in self._latest.values():
            versions.setdefault(6 if is_ipv6(address) else 4, set()).add(address)
        return sorted(v for v, found in versions.items() if len(found) > 1)

    def public(self, routable: Iterable[IPNetwork]) -> list[str]:
        """Return our public addresses: the kernel's, and the helpers' agreed echoes."""
        routable = list(routable)
        disputed = self.disputed()
        echoed = {a for a in self._latest.values() if (6 if is_ipv6(a) else 4) not in disputed}
        found = {a for a in self._known if not is_bogon(a, routable)} | echoed
        return sorted(found, key=lambda a: (is_ipv6(a), a))

    @property
    def addresses(self) -> frozenset[str]:
        """Return every address known to be ours (each is scrubbed)."""
        return frozenset(self._known | self._echoed)
