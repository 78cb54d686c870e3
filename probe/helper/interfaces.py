"""The addresses of the helper's own host, on every interface, read again every few seconds.

A service bound to 0.0.0.0 behind a cloud firewall answers on the host's own public address as
it does on loopback, so the helper refuses its own addresses like loopback (issue 18). On Linux
they come from the kernel over rtnetlink (RTM_GETADDR, what `ip addr` reads: every address of
every interface, secondary and IPv6 ones included); elsewhere from the host name's addresses.
A dump costs a few syscalls, and `HostAddresses` caches it for `refresh_s`.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import time
from collections.abc import Callable

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_REFRESH_S = 2.0
_RTM_NEWADDR, _RTM_GETADDR = 20, 22
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_IFA_ADDRESS, _IFA_LOCAL = 1, 2
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, interface index
_RTATTR = struct.Struct("=HH")  # length, type
_FAMILIES: dict[int, int] = {int(socket.AF_INET): 4, int(socket.AF_INET6): 16}


def _align(length: int) -> int:
    return (length + 3) & ~3


def _attributes(data: bytes, start: int, end: int, family: int) -> list[_Address]:
    found: list[_Address] = []
    while start + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(data, start)
        if length < _RTATTR.size:
            break
        raw = data[start + _RTATTR.size : start + length]
        if kind in (_IFA_ADDRESS, _IFA_LOCAL) and len(raw) == _FAMILIES.get(family):
            found.append(ipaddress.ip_address(raw))
        start += _align(length)
    return found


def _parse_dump(data: bytes, found: set[_Address]) -> bool:
    """Add the addresses of one netlink reply to `found`; return whether the dump is done."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _, _, _ = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or kind == _NLMSG_DONE:
            return True
        if kind == _NLMSG_ERROR:
            raise OSError("rtnetlink refused the address dump")
        if kind == _RTM_NEWADDR:
            family = data[offset + _HEADER.size]
            start = offset + _HEADER.size + _IFADDRMSG.size
            found.update(_attributes(data, start, offset + length, family))
        offset += _align(length)
    return False


def netlink_addresses() -> frozenset[_Address]:
    """Return every address of every interface, from the kernel (Linux; OSError elsewhere)."""
    request = _HEADER.pack(
        _HEADER.size + _IFADDRMSG.size, _RTM_GETADDR, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0
    ) + _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    found: set[_Address] = set()
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.settimeout(1.0)
        sock.bind((0, 0))
        sock.send(request)
        while not _parse_dump(sock.recv(1 << 16), found):
            pass
    return frozenset(found)


def hostname_addresses() -> frozenset[_Address]:
    """Return the addresses the host's own name resolves to (the fallback off Linux)."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:
        return frozenset()
    return frozenset(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)


def host_addresses() -> frozenset[_Address]:
    """Return the host's own addresses: from the kernel if it tells, else from its name."""
    try:
        return netlink_addresses()
    except (OSError, AttributeError):  # AttributeError: no AF_NETLINK on this platform
        return hostname_addresses()


class HostAddresses:
    """The host's own addresses, read again when older than `refresh_s` (monotonic clock)."""

    def __init__(
        self,
        refresh_s: float = DEFAULT_REFRESH_S,
        read: Callable[[], frozenset[_Address]] = host_addresses,
    ) -> None:
        self._refresh_s = refresh_s
        self._read = read
        self._known: frozenset[_Address] = frozenset()
        self._read_at: float | None = None

    def current(self) -> frozenset[_Address]:
        """Return the host's addresses, at most `refresh_s` old."""
        now = time.monotonic()
        if self._read_at is None or now - self._read_at >= self._refresh_s:
            self._known = self._read()
            self._read_at = now
        return self._known
