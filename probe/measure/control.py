"""Client for the web-connectivity test helper (OONI ts-017): POST the request, read the view.

As OONI's probes do, the JSON request is POSTed to the helper's base URL. Helpers are raced with
a stagger, and a hostile or broken helper is bounded: `timeout_s` per call, at most
`MAX_RESPONSE_BYTES` read (decompressed with a bound), and a response that does not validate is
that helper's failure, never an exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pydantic

from probe.measure._body import read_capped
from probe.measure._health import RETRY_SKIPPED_AFTER_S, SKIP_AFTER_FAILURES, HelperHealth
from probe.measure._transfer import open_response
from probe.measure.failures import NETWORK_ERRORS, failure_string
from probe.measure.http import user_agent
from probe.models.control import ControlRequest, ControlResponse
from probe.models.failures import Failure, unknown_failure

MAX_RESPONSE_BYTES = 4 << 20  # OONI's answers are a few KiB; 4 MiB leaves room, bounds abuse
NO_HELPERS = unknown_failure("no test helper to ask")

_Answer = tuple[ControlResponse | None, str | None]
# (response, failure, whether the request reached the helper: its headers were being sent)
_Asked = tuple[ControlResponse | None, str | None, bool]


async def _read_json(response: httpx.Response) -> _Answer:
    """Return (response, failure) from a helper's HTTP response, reading at most the limit."""
    if not 200 <= response.status_code < 300:
        return None, Failure.HTTP_REQUEST_FAILED
    body = await read_capped(response, MAX_RESPONSE_BYTES)
    if body.is_truncated:
        return (
            None,
            unknown_failure(f"helper response larger than {MAX_RESPONSE_BYTES} bytes"),
        )
    try:
        return ControlResponse.model_validate_json(bytes(body.recorded)), None
    except pydantic.ValidationError:  # invalid JSON and JSON of the wrong shape alike
        return None, Failure.JSON_PARSE_ERROR


async def _ask(helper: str, payload: bytes, client: httpx.AsyncClient, timeout_s: float) -> _Asked:
    """Return (response, failure, reached) of one helper; never raises for network problems.

    `reached`: the connection to the helper was made and the request was being sent, so a
    failure after that is the helper's slowness (it may be measuring a dead site), not the
    helper being unreachable.
    """
    reached = False

    def note(event: str) -> None:
        nonlocal reached
        reached = reached or event.endswith("send_request_headers.started")

    response, failure = await _send(helper, payload, client, timeout_s, note)
    return response, failure, reached


async def _send(
    helper: str,
    payload: bytes,
    client: httpx.AsyncClient,
    timeout_s: float,
    on_event: Callable[[str], None],
) -> _Answer:
    try:
        request = client.build_request(
            "POST",
            helper,
            content=payload,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": user_agent(),
            },
            timeout=timeout_s,
        )
        async with (
            asyncio.timeout(timeout_s),
            open_response(client, request, on_event=on_event) as response,
        ):
            return await _read_json(response)
    except NETWORK_ERRORS as exc:
        return None, failure_string(exc)


async def query_helpers(
    helpers: list[str],
    control_request: ControlRequest,
    *,
    client: httpx.AsyncClient,
    timeout_s: float,
    overlap_s: float,
    health: HelperHealth | None = None,
) -> tuple[ControlResponse | None, str | None, str | None]:
    """Return (response, helper URL that answered, failure) from the first helper that answers.

    Helpers are tried in order; the next starts if the current has not answered after
    `overlap_s`; the first valid answer wins and the others are cancelled. A non-2xx answer, invalid
    JSON or a response that does not validate counts as that helper's failure. With every helper
    failed: (None, None, failure string of the last one).

    A helper that fails before `overlap_s` starts the next one at once. With `health`, helpers
    that kept failing in this run are skipped (see `HelperHealth`).
    """
    payload = control_request.model_dump_json().encode()
    loop = asyncio.get_running_loop()
    waiting = list(enumerate(helpers))
    running: dict[asyncio.Task[_Asked], int] = {}
    last_failure = NO_HELPERS
    if health is not None:
        skipped = [h for _, h in waiting if not health.should_ask(h, loop.time())]
        waiting = [(i, h) for i, h in waiting if h not in skipped]
        last_failure = health.skipped(skipped[-1]) if skipped else last_failure
    try:
        while waiting or running:
            if waiting:
                index, helper = waiting.pop(0)
                running[asyncio.create_task(_ask(helper, payload, client, timeout_s))] = index
            done, _ = await asyncio.wait(
                running, timeout=overlap_s if waiting else None, return_when=asyncio.FIRST_COMPLETED
            )
            # Helpers that finished together are judged in configured order.
            for task in sorted(done, key=running.__getitem__):
                index = running.pop(task)
                response, failure, reached = task.result()
                if health is not None and not (failure is not None and reached):
                    health.record(helpers[index], failure, loop.time())
                if response is not None:
                    return response, helpers[index], None
                last_failure = failure or last_failure
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    return None, None, last_failure


__all__ = [
    "MAX_RESPONSE_BYTES",
    "NO_HELPERS",
    "RETRY_SKIPPED_AFTER_S",
    "SKIP_AFTER_FAILURES",
    "HelperHealth",
    "query_helpers",
]
