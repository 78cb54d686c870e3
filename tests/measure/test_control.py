"""measure.control: the test-helper client is staggered, bounded and never raises."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from typing import Any

import pytest
from servers import HttpServer, SilentServer, json_response, respond

from probe.measure import http
from probe.measure.control import (
    MAX_RESPONSE_BYTES,
    NO_HELPERS,
    RETRY_SKIPPED_AFTER_S,
    SKIP_AFTER_FAILURES,
    HelperHealth,
    query_helpers,
)
from probe.measure.tls import TrustStore
from probe.models.control import ControlRequest, ControlResponse

REQUEST = ControlRequest(
    http_request="https://site.test/",
    http_request_headers={"User-Agent": [http.user_agent()]},
    tcp_connect=["127.0.0.1:443"],
)
ANSWER = {
    "tcp_connect": {"127.0.0.1:443": {"status": True, "failure": None}},
    "dns": {"failure": None, "addrs": ["127.0.0.1"]},
    "http_request": {"body_length": 1234, "status_code": 200, "title": "Hello", "headers": {}},
    "x_future_field": "ignored",  # OONI adds fields between releases
}
Outcome = tuple[ControlResponse | None, str | None, str | None]


def _query(
    trust: TrustStore, helpers: list[str], *, timeout_s: float = 3.0, overlap_s: float = 0.2
) -> tuple[Outcome, float]:
    async def run() -> Outcome:
        async with http.make_client(trust) as client:
            return await query_helpers(
                helpers, REQUEST, client=client, timeout_s=timeout_s, overlap_s=overlap_s
            )

    start = time.monotonic()
    outcome = asyncio.run(run())
    return outcome, time.monotonic() - start


def _helper(server: HttpServer, name: str, document: Any, **options: Any) -> str:
    return server.route(f"/helper-{name}/", json_response(document, **options))


def test_valid_answer(https_server: HttpServer, trust_store: TrustStore) -> None:
    url = _helper(https_server, "valid", ANSWER)
    (response, helper, failure), _ = _query(trust_store, [url])
    assert (helper, failure) == (url, None)
    assert response is not None and response.dns.addrs == ["127.0.0.1"]
    assert response.tcp_connect["127.0.0.1:443"].status is True


def test_request_is_posted_as_ooni_does(https_server: HttpServer, trust_store: TrustStore) -> None:
    url = _helper(https_server, "recorded", ANSWER)
    _query(trust_store, [url])
    posted = next(r for r in reversed(https_server.requests) if r.path == "/helper-recorded/")
    assert posted.method == "POST" and posted.header("content-type") == "application/json"
    assert (posted.header("user-agent") or "").startswith("probe/")
    assert ControlRequest.model_validate_json(posted.body) == REQUEST


# name: (route, failure)
BROKEN = {
    "status_500": (respond(b"oops", status=500), "http_request_failed"),
    "status_503_load_shedding": (json_response(ANSWER, status=503), "http_request_failed"),
    "redirect": (respond(b"", status=302, headers=[("Location", "/")]), "http_request_failed"),
    "invalid_json": (json_response("{not json"), "json_parse_error"),
    "wrong_shape": (json_response([1, 2, 3]), "json_parse_error"),
    "wrong_types": (json_response({"dns": {"addrs": "not a list"}}), "json_parse_error"),
    "oversized": (
        json_response(json.dumps({"pad": "x" * (MAX_RESPONSE_BYTES + 10)})),
        f"unknown_failure: helper response larger than {MAX_RESPONSE_BYTES} bytes",
    ),
    "gzip_bomb": (
        respond(
            gzip.compress(b" " * (8 * MAX_RESPONSE_BYTES)),
            content_type="application/json",
            headers=[("Content-Encoding", "gzip")],
        ),
        f"unknown_failure: helper response larger than {MAX_RESPONSE_BYTES} bytes",
    ),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_helper_is_a_failure(
    case: str, https_server: HttpServer, trust_store: TrustStore
) -> None:
    handler, failure = BROKEN[case]
    url = https_server.route(f"/broken-{case}/", handler)
    outcome, _ = _query(trust_store, [url])
    assert outcome == (None, None, failure), f"{case}: got {outcome[2]}"


def test_next_helper_after_a_failure(https_server: HttpServer, trust_store: TrustStore) -> None:
    bad = https_server.route("/helper-500/", respond(b"", status=500))
    good = _helper(https_server, "second", ANSWER)
    (response, helper, failure), elapsed = _query(trust_store, [bad, good], overlap_s=5)
    assert (response is not None, helper, failure) == (True, good, None)
    assert elapsed < 2, "a failed helper starts the next at once, without waiting the overlap"


def test_slow_helper_is_overlapped(https_server: HttpServer, trust_store: TrustStore) -> None:
    slow = _helper(https_server, "slow", ANSWER, delay_s=3)
    fast = _helper(https_server, "fast", ANSWER)
    (response, helper, failure), elapsed = _query(trust_store, [slow, fast], overlap_s=0.2)
    assert (response is not None, helper, failure) == (True, fast, None)
    assert elapsed < 1.5, f"the first valid answer wins: took {elapsed:.2f}s"


def test_first_helper_wins_when_it_answers_in_time(
    https_server: HttpServer, trust_store: TrustStore
) -> None:
    first = _helper(https_server, "first", ANSWER)
    second = _helper(https_server, "never-asked", ANSWER)
    before = len(https_server.requests)
    (_, helper, _), _ = _query(trust_store, [first, second], overlap_s=2)
    assert helper == first
    assert all(r.path != "/helper-never-asked/" for r in https_server.requests[before:])


def test_hanging_helper_times_out(silent_server: SilentServer, trust_store: TrustStore) -> None:
    url = f"https://127.0.0.1:{silent_server.port}/"
    (response, helper, failure), elapsed = _query(trust_store, [url], timeout_s=0.5)
    assert (response, helper, failure) == (None, None, "generic_timeout_error")
    assert elapsed < 1.5


def test_all_failed_reports_the_last_failure(
    https_server: HttpServer, closed_port: int, trust_store: TrustStore
) -> None:
    bad = https_server.route("/helper-bad-json/", json_response("nope"))
    refused = f"https://127.0.0.1:{closed_port}/"
    outcome, _ = _query(trust_store, [bad, refused], overlap_s=5)
    assert outcome == (None, None, "connection_refused")


def test_no_helpers(trust_store: TrustStore) -> None:
    outcome, _ = _query(trust_store, [])
    assert outcome == (None, None, NO_HELPERS)


def test_a_helper_that_keeps_failing_is_skipped_then_retried() -> None:
    health = HelperHealth()
    url = "https://helper.test/"
    for n in range(SKIP_AFTER_FAILURES):
        assert health.should_ask(url, now=float(n)), f"failure {n}: still asked"
        health.record(url, "generic_timeout_error", now=float(n))
    assert not health.should_ask(url, now=5.0), "after repeated failures: expected skipped"
    assert health.skipped(url).startswith("generic_timeout_error (not asked"), health.skipped(url)
    later = RETRY_SKIPPED_AFTER_S + 1
    assert health.should_ask(url, now=later), "after the retry delay: one request goes through"
    assert not health.should_ask(url, now=later + 1), "only one retry per delay"
    health.record(url, None, now=later + 2)
    assert health.should_ask(url, now=later + 3), "a valid answer: asked again"


def test_an_unreachable_helper_stops_costing_its_timeout(
    silent_server: SilentServer, https_server: HttpServer, trust_store: TrustStore
) -> None:
    # The lab's controls_unreachable_bogon scenario: with the helper blocked, every target
    # waited for the helper timeout while holding one of the few in-flight slots.
    dead = f"https://127.0.0.1:{silent_server.port}/"
    good = _helper(https_server, "after-dead", ANSWER)
    health = HelperHealth()

    async def run() -> list[tuple[Outcome, float]]:
        found = []
        async with http.make_client(trust_store) as client:
            for _ in range(SKIP_AFTER_FAILURES + 1):
                start = time.monotonic()
                outcome = await query_helpers(
                    [dead, good], REQUEST, client=client, timeout_s=0.3, overlap_s=5,
                    health=health,
                )  # fmt: skip
                found.append((outcome, time.monotonic() - start))
        return found

    outcomes = asyncio.run(run())
    for n, ((response, helper, _), _) in enumerate(outcomes):
        assert response is not None and helper == good, f"query {n}: the good helper answered"
    slow = [elapsed for _, elapsed in outcomes[:SKIP_AFTER_FAILURES]]
    assert min(slow) >= 0.3, f"while the dead helper is still asked: {slow}"
    assert outcomes[-1][1] < 0.3, f"once skipped, no timeout is waited for: {outcomes[-1][1]}"


def test_is_skipped_has_no_side_effect() -> None:
    health = HelperHealth()
    url = "https://helper.test/"
    for n in range(SKIP_AFTER_FAILURES):
        health.record(url, "connection_refused", now=float(n))
    assert health.is_skipped(url, now=5.0), "after repeated failures: skipped"
    later = RETRY_SKIPPED_AFTER_S + 1
    assert not health.is_skipped(url, now=later), "a retry is due"
    assert not health.is_skipped(url, now=later), "asking does not consume the retry"
    assert health.should_ask(url, now=later), "the retry itself goes through once"
    assert health.is_skipped(url, now=later + 1), "then skipped again"


def test_a_reached_but_slow_helper_is_never_skipped(
    https_server: HttpServer, trust_store: TrustStore
) -> None:
    # Lab scenario platform_down: the helper was busy measuring a dead platform and answered
    # after the probe's deadline; skipping it made every other target lose its control.
    slow = _helper(https_server, "slow-busy", ANSWER, delay_s=1.0)
    health = HelperHealth()

    async def run() -> list[str | None]:
        async with http.make_client(trust_store) as client:
            return [
                (await query_helpers(
                    [slow], REQUEST, client=client, timeout_s=0.3, overlap_s=5, health=health
                ))[2]
                for _ in range(SKIP_AFTER_FAILURES + 1)
            ]  # fmt: skip

    failures = asyncio.run(run())
    assert failures == ["generic_timeout_error"] * (SKIP_AFTER_FAILURES + 1), (
        f"a slow helper: expected asked every time (timeouts, never 'not asked'), got {failures}"
    )
