"""What one client may hold of the collector: requests in flight, body bytes, registrations.

Issue 18: sixteen slow uploads took every upload slot for up to 300 s, a registration body had
no deadline, and one address registered 2,980 probes in 30 s. Here:

- a body is read under a deadline, and while it arrives it holds no slot: only the bytes it
  has delivered count, against a budget all bodies share (`max_buffered_bytes`, 503 past it);
  a slot for the CPU work (`ingest_concurrency`) is taken once the body is complete;
- one client address has at most `max_requests_per_client` bodies in flight (429 past it);
- one client address registers at most `max_registrations_per_client_per_hour` new probes.

A client is its address (an IPv6 address by its /64, which one subscriber usually holds
whole), taken from `X-Forwarded-For` only when the peer is a configured proxy. Addresses live
in memory only, as counters, and are never stored or logged (docs/privacy.md).
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

import anyio
from starlette.requests import ClientDisconnect, Request

from probe.errors import BundleError
from probe.models.addresses import IPNetwork

_TRACKED_CLIENTS = 65_536  # registration counters kept at most (each a few dozen bytes)
_HOUR_S = 3600.0


class Refused(Exception):
    """A request the collector answers with a CollectorErrorBody (status from its code)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _client_key(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def client_of(request: Request, proxies: Sequence[IPNetwork]) -> str:
    """Return the key the per-client limits count `request` under (never stored)."""
    peer = request.client.host if request.client else ""
    key = _client_key(peer) or "unknown"
    if not proxies or not _is_proxy(peer, proxies):
        return key
    hops = [h for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    for hop in reversed(hops):  # the rightmost hop our proxies did not add is the client
        if not _is_proxy(hop, proxies):
            return _client_key(hop) or key
    return key


def _is_proxy(text: str, proxies: Sequence[IPNetwork]) -> bool:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return False
    return any(address in network for network in proxies)


class ClientGate:
    """Requests with a body in flight per client, at most `per_client`."""

    def __init__(self, per_client: int) -> None:
        self.per_client = per_client
        self._in_flight: dict[str, int] = {}

    @contextlib.contextmanager
    def enter(self, client: str) -> Iterator[None]:
        """Hold one of `client`'s places for the block; Refused `too_many_requests` if none."""
        held = self._in_flight.get(client, 0)
        if held >= self.per_client:
            raise Refused("too_many_requests", f"{held} requests of yours are in flight; this"
                          f" collector takes {self.per_client} at once, retry later")  # fmt: skip
        self._in_flight[client] = held + 1
        try:
            yield
        finally:
            left = self._in_flight[client] - 1
            if left:
                self._in_flight[client] = left
            else:
                del self._in_flight[client]


class _Lease:
    """The bytes one body holds of a BodyBudget."""

    def __init__(self, budget: BodyBudget) -> None:
        self.budget = budget
        self.held = 0

    def take(self, count: int) -> None:
        budget = self.budget
        if budget.used + count > budget.total:
            raise Refused("busy", "the collector holds as many request bodies as it may;"
                          " retry later")  # fmt: skip
        budget.used += count
        self.held += count


class BodyBudget:
    """Body bytes held in memory by every request together, at most `total` (one event loop:
    no lock needed)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0

    @contextlib.asynccontextmanager
    async def read(self, request: Request, limit: int, timeout_s: float) -> AsyncIterator[bytes]:
        """Yield the body; its bytes count against the budget until the block ends.

        Refused: `body_too_large` past `limit` (at once, from a Content-Length over it),
        `busy` when the budget is spent, `body_timeout` past `timeout_s`,
        `client_disconnected`, `unsupported_encoding`.
        """
        lease = _Lease(self)
        try:
            try:
                with anyio.fail_after(timeout_s):
                    body = await _receive(request, limit, lease)
            except TimeoutError as exc:
                raise Refused("body_timeout", f"the body took longer than {timeout_s:g} s to"
                              " arrive") from exc  # fmt: skip
            yield body
        finally:
            self.used -= lease.held


async def _receive(request: Request, limit: int, lease: _Lease) -> bytes:
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise Refused("unsupported_encoding", f"Content-Encoding {encoding!r}: send the bundle"
                      " as is (its payload is compressed already)")  # fmt: skip
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refused("body_too_large", f"the body is {declared} bytes; this collector accepts"
                      f" at most {limit}")  # fmt: skip
    body = bytearray()
    try:
        async for chunk in request.stream():
            if len(body) + len(chunk) > limit:
                raise Refused("body_too_large", f"the body passes {limit} bytes, the most"
                              " this collector accepts")  # fmt: skip
            lease.take(len(chunk))
            body += chunk
    except ClientDisconnect as exc:
        raise Refused("client_disconnected", "the client went away mid-body") from exc
    return bytes(body)


class RegistrationLimit:
    """New probes per client in the last hour, at most `per_hour`; thread-safe, memory only."""

    def __init__(self, per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> None:
        """Count one registration for `client`; BundleError `too_many_registrations` if it
        has had its hour's share (a BundleError, so the ingest thread can raise it too)."""
        now = self._clock()
        with self._lock:
            times = self._seen.get(client)
            if times is None:
                if len(self._seen) >= _TRACKED_CLIENTS:
                    self._forget(now)
                times = self._seen.setdefault(client, deque())
            while times and times[0] <= now - _HOUR_S:
                times.popleft()
            if len(times) >= self.per_hour:
                raise BundleError(f"{len(times)} probes were registered from your address in"
                                  f" the last hour, the most this collector takes; retry later",
                                  "too_many_registrations")  # fmt: skip
            times.append(now)

    def _forget(self, now: float) -> None:
        """Drop clients with nothing in the last hour; if none, the oldest (bounded memory)."""
        stale = [c for c, t in self._seen.items() if not t or t[-1] <= now - _HOUR_S]
        for client in stale or [next(iter(self._seen))]:
            del self._seen[client]


__all__ = ["BodyBudget", "ClientGate", "Refused", "RegistrationLimit", "client_of"]
