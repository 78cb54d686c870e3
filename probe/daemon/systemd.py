"""sd_notify(3) over the datagram socket systemd names in $NOTIFY_SOCKET (no libsystemd)."""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send `message` (e.g. "READY=1") to systemd; False when not run by systemd or on error.

    Never blocks: the socket is non-blocking, so a receiver whose queue is full (a datagram
    socket holds few messages) costs this one message, not the event loop that sends the
    watchdog pings and runs the schedule (a blocked send once stopped every later run).
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        kind = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
        with socket.socket(socket.AF_UNIX, kind) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings (half of WatchdogSec=), or None when not asked for."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        microseconds = int(usec)
    except ValueError:
        return None
    if microseconds <= 0:  # as sd_watchdog_enabled(3): zero or less means no watchdog
        return None
    return max(microseconds / 2_000_000, 0.05)
