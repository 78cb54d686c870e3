"""TCP connects. STUB: owned by the measure helper."""

from __future__ import annotations

from probe.measure._clock import Clock
from probe.models.observations import TcpObservation


async def connect(
    ip: str, port: int, *, timeout_s: float, clock: Clock, tags: list[str]
) -> TcpObservation:
    """Return the observation of one TCP connect to ip:port (the socket is closed afterwards)."""
    raise NotImplementedError
