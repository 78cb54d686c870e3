"""Our probe's helper client (probe.measure.control) against our helper, end to end."""

from __future__ import annotations

import asyncio

from probe.measure import http
from probe.measure.control import query_helpers
from probe.measure.tls import TrustStore
from probe.models.control import ControlRequest, ControlResponse

from .conftest import StartHelper
from .loopback import Internet, RunningHelper


async def _ask(
    helpers: list[str], request: ControlRequest
) -> tuple[ControlResponse | None, str | None, str | None]:
    async with http.make_client(TrustStore()) as client:
        return await query_helpers(helpers, request, client=client, timeout_s=10, overlap_s=0.5)


def test_the_probe_gets_our_helpers_view(
    internet: Internet, helper: RunningHelper, closed_port: int
) -> None:
    request = ControlRequest(
        http_request=internet.url(tls=True),
        http_request_headers={"User-Agent": [http.user_agent()]},
        tcp_connect=[f"127.0.0.1:{internet.https.port}"],
    )
    dead = f"http://127.0.0.1:{closed_port}/"
    response, answered, failure = asyncio.run(_ask([dead, helper.url], request))
    assert (answered, failure) == (helper.url, None)
    assert response is not None and response.http_request.status_code == 200
    assert response.tls_handshake[f"127.0.0.1:{internet.https.port}"].x_certificate is not None


def test_a_shedding_helper_is_that_helpers_failure(
    internet: Internet, start_helper: StartHelper
) -> None:
    busy = start_helper(internet.settings(helper={"max_in_flight_all": 1, "max_in_flight": 1}))
    request = ControlRequest(http_request=internet.url())
    with busy.app.state.shedder.admission("probe/0.1"):  # as if a measurement were running
        response, answered, failure = asyncio.run(_ask([busy.url], request))
    assert (response, answered, failure) == (None, None, "http_request_failed")
