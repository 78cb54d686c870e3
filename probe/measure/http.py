"""One HTTP(S) request to a chosen address, with capped body and decompression.

STUB: owned by the measure helper.
"""

from __future__ import annotations

import httpx

from probe.measure._clock import Clock
from probe.models.observations import HttpTransaction

DEFAULT_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.9",
}


def user_agent() -> str:
    """Return our honest User-Agent (software name and version, and where to read about it)."""
    raise NotImplementedError


async def request(
    client: httpx.AsyncClient,
    url: str,
    ip: str | None,
    *,
    timeout_s: float,
    body_cap_bytes: int,
    body_read_limit_bytes: int,
    clock: Clock,
    tags: list[str],
) -> HttpTransaction:
    """Return the transaction of one GET of `url` sent to `ip` (None: let the OS resolve).

    Never follows redirects (the caller does, recording each hop). The whole exchange, body
    included, is bounded by `timeout_s` (a slow drip ends as generic_timeout_error with what was
    received). Bodies are decompressed with a bound: at most `body_read_limit_bytes` decoded bytes
    are read and counted, `body_cap_bytes` are recorded; past that `body_is_truncated`.
    """
    raise NotImplementedError
