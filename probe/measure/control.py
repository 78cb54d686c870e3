"""Client for the web-connectivity test helper. STUB: owned by the measure helper."""

from __future__ import annotations

import httpx

from probe.models.control import ControlRequest, ControlResponse


async def query_helpers(
    helpers: list[str],
    control_request: ControlRequest,
    *,
    client: httpx.AsyncClient,
    timeout_s: float,
    overlap_s: float,
) -> tuple[ControlResponse | None, str | None, str | None]:
    """Return (response, helper URL that answered, failure) from the first helper that answers.

    Helpers are tried in order; the next starts if the current has not answered after
    `overlap_s`; the first valid answer wins and the others are cancelled. A non-2xx answer, invalid
    JSON or a response that does not validate counts as that helper's failure. With every helper
    failed: (None, None, failure string of the last one).
    """
    raise NotImplementedError
