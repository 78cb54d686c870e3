"""The probe's own addresses, learnt without sending a packet, so they can be scrubbed."""

from __future__ import annotations

import socket

from probe.models.addresses import is_ip_address, is_ipv6, is_loopback


class LocalAddresses:
    """Local source addresses the kernel picks towards the destinations we measured."""

    def __init__(self) -> None:
        self._known: set[str] = set()
        self._families_done: set[int] = set()

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
                self._known.add(local)

    def add(self, address: str) -> None:
        """Record an address reported for us by someone else (e.g. our helper)."""
        if is_ip_address(address) and not is_loopback(address):
            self._known.add(address.strip("[]"))

    @property
    def addresses(self) -> frozenset[str]:
        """Return every address known to be ours."""
        return frozenset(self._known)
