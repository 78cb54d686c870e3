"""measure/plan.py: overlapping attempts, redirects, the control and the control sites."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from servers import (
    DnsEntry,
    DnsServer,
    HttpRequest,
    HttpServer,
    TestPki,
    closed_port,
    page,
    reset_after_request,
    respond,
)

from probe.config import Settings, load_settings
from probe.decide import DecisionContext, endpoint_verdict
from probe.measure._clock import Clock
from probe.measure.plan import _control_url, check_control_site, measure_endpoint, open_context
from probe.models.results import TestKeys, Verdict
from probe.models.targets import Endpoint, EndpointKind

NAME = "plan.site.test"


def _settings(dns_server: DnsServer, pki: TestPki, **sections: dict[str, Any]) -> Settings:
    base: dict[str, dict[str, Any]] = {
        "resolver": {"servers": [f"udp://{dns_server.address}"], "late_reply_window_s": 0.05},
        "control": {"helpers": [], "doh": [], "sites": []},
        "tls": {"ca_bundle": str(pki.ca_pem)},
        "network": {"routable": ["127.0.0.1/32"]},
        "timeouts": {"dns": 1, "connect": 1, "tls": 1, "http": 2},
        "measure": {"attempts": 3, "retry_backoff_s": 0.05},
    }
    for name, values in sections.items():
        base[name] = {**base[name], **values}
    return load_settings(None, base)


def _web(url: str) -> Endpoint:
    return Endpoint(
        kind=EndpointKind.WEB, host=NAME, port=int(url.split(":")[2].split("/")[0]), url=url
    )


def _measure(settings: Settings, endpoint: Endpoint) -> TestKeys:
    async def run() -> TestKeys:
        async with open_context(settings) as ctx:
            return await measure_endpoint(endpoint, ctx, Clock())

    return asyncio.run(run())


def _flaky(failures: int) -> Any:
    calls = {"n": 0}

    async def handler(request: HttpRequest, writer: asyncio.StreamWriter) -> None:
        calls["n"] += 1
        if calls["n"] <= failures:
            await reset_after_request(request, writer)
        else:
            await respond(page())(request, writer)

    return handler


def test_a_transient_reset_is_retried_and_the_target_is_accessible(
    dns_server: DnsServer, https_server: HttpServer, pki: TestPki
) -> None:
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.1",)))
    https_server.route("/plan/flaky", _flaky(1))
    url = https_server.url("/plan/flaky", host=NAME)
    # A third attempt would start at 3 × backoff: leave the second one ample time under load
    # (at 0.05 s this failed once in CI with the other core busy).
    settings = _settings(dns_server, pki, measure={"retry_backoff_s": 0.5})
    keys = _measure(settings, _web(url))
    assert keys.attempts == 2, "the second attempt succeeds and ends the run"
    assert keys.requests[0].failure is None and keys.requests[0].response is not None
    assert any(r.failure == "connection_reset" for r in keys.requests)
    result = endpoint_verdict(_web(url), keys, DecisionContext(routable=()))
    assert result.verdict is Verdict.ACCESSIBLE, result.reasons


def test_every_observation_is_tagged_with_its_attempt_and_depth(
    dns_server: DnsServer, https_server: HttpServer, pki: TestPki
) -> None:
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.1",)))
    url = https_server.url("/redirect", host=NAME)
    keys = _measure(_settings(dns_server, pki), _web(url))
    observations = [*keys.queries, *keys.tcp_connect, *keys.tls_handshakes, *keys.requests]
    assert observations
    for observation in observations:
        assert any(t.startswith("attempt=") for t in observation.tags), observation
        assert any(t.startswith("depth=") for t in observation.tags), observation
    assert keys.requests[0].response is not None and keys.requests[0].response.code == 200
    decisive = next(t for t in keys.requests[0].tags if t.startswith("attempt="))
    chain = [r.response.code for r in keys.requests if r.response and decisive in r.tags]
    assert chain == [200, 302], "each attempt's chain is contiguous, newest first"
    assert {q.query_type for q in keys.queries} == {"A", "AAAA"}


def test_a_redirect_to_an_unresolvable_host_is_not_a_success(
    dns_server: DnsServer, https_server: HttpServer, pki: TestPki
) -> None:
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.1",)))
    https_server.route(
        "/plan/to-nowhere",
        respond(b"", status=302, headers=[("Location", "https://nxdomain.test/")]),
    )
    keys = _measure(
        _settings(dns_server, pki), _web(https_server.url("/plan/to-nowhere", host=NAME))
    )
    assert keys.attempts == 3, "an unfinished chain is a failed attempt: the retries go on"
    assert any(q.hostname == "nxdomain.test" and "depth=1" in q.tags for q in keys.queries)


def test_control_sites_report_where_they_failed(
    dns_server: DnsServer, pki: TestPki, https_server: HttpServer
) -> None:
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.1",)))
    settings = _settings(dns_server, pki)

    async def run() -> list[Any]:
        async with open_context(settings) as ctx:
            return [
                await check_control_site(https_server.url("/page", host=NAME), "before", ctx),
                await check_control_site(f"https://{NAME}:{closed_port()}/", "after", ctx),
                await check_control_site("https://nxdomain.test/", "after", ctx),
            ]

    ok, refused, unresolved = asyncio.run(run())
    assert (ok.success, ok.status_code, ok.phase) == (True, 200, "before")
    assert (refused.success, refused.step, refused.failure) == (False, "tls", "connection_refused")
    assert (unresolved.success, unresolved.step) == (False, "dns")
    assert unresolved.failure == "dns_nxdomain_error"


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("e1.whatsapp.net", 5222, "https://e1.whatsapp.net:5222/"),
        ("e1.whatsapp.net", 443, "https://e1.whatsapp.net/"),
        ("149.154.175.50", 80, "http://149.154.175.50/"),
        ("2001:db8::1", 5222, "https://[2001:db8::1]:5222/"),
    ],
)
def test_a_tcp_service_asks_the_helper_about_its_own_port(host: str, port: int, url: str) -> None:
    endpoint = Endpoint(kind=EndpointKind.TCP, host=host, port=port)
    assert _control_url(endpoint) == url


def test_a_resolver_answering_many_addresses_gets_only_max_addresses_connects(
    dns_server: DnsServer, https_server: HttpServer, pki: TestPki
) -> None:
    many = tuple(f"127.0.0.{i}" for i in range(1, 41))
    dns_server.zone.set("plan-many.site.test", DnsEntry(a=many))
    settings = _settings(
        dns_server,
        pki,
        measure={"attempts": 1, "max_addresses": 4},
        network={"routable": ["127.0.0.0/8"]},
    )
    url = https_server.url("/page", host="plan-many.site.test")
    endpoint = Endpoint(
        kind=EndpointKind.WEB, host="plan-many.site.test", port=https_server.port, url=url
    )
    keys = _measure(settings, endpoint)
    assert len({c.ip for c in keys.tcp_connect if "depth=0" in c.tags}) == 4


def test_once_the_run_stops_retrying_one_attempt_is_enough(
    dns_server: DnsServer, pki: TestPki
) -> None:
    """Issue 19: with the run's evidence of an outage decisive (`stop_retrying`), a failing
    endpoint gets no attempt after its first, and the helper is not waited for."""
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.1",)))
    url = f"https://{NAME}:{closed_port()}/"
    settings = _settings(dns_server, pki, measure={"retry_backoff_s": 0.5})

    async def run(stop: bool) -> TestKeys:
        async with open_context(settings) as ctx:
            if stop:
                ctx.stop_retrying.set()
            return await measure_endpoint(_web(url), ctx, Clock())

    assert asyncio.run(run(stop=False)).attempts == 3
    stopped = asyncio.run(run(stop=True))
    assert stopped.attempts == 1, "no attempt after the first once the run stopped retrying"
    assert {c.status.failure for c in stopped.tcp_connect} == {"connection_refused"}


def test_control_sites_report_their_first_attempt(
    dns_server: DnsServer, pki: TestPki, https_server: HttpServer
) -> None:
    """The evidence of an outage: where each control site's first attempt stopped."""
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.1",)))
    settings = _settings(dns_server, pki)
    loads, refused = https_server.url("/page", host=NAME), f"https://{NAME}:{closed_port()}/"
    heard: list[dict[str, str | None]] = []

    async def run() -> dict[str, str | None]:
        async with open_context(settings) as ctx:
            ctx.on_evidence = lambda: heard.append(dict(ctx.first_control_attempts))
            for url in (loads, refused, "https://nxdomain.test/"):
                await check_control_site(url, "before", ctx)
            await check_control_site(loads, "after", ctx)  # the after side is not evidence
            return ctx.first_control_attempts

    first = asyncio.run(run())
    assert first == {loads: None, refused: "tcp", "https://nxdomain.test/": "dns"}, first
    assert heard[-1] == first and len(heard) == 4, heard  # and once: something loaded


def test_the_targets_queries_go_out_before_the_doh_control(
    dns_server: DnsServer, https_server: HttpServer, pki: TestPki
) -> None:
    """Issue 19: the late-reply window runs from the first reply's arrival, so the target's own
    queries are sent first and the controls' CPU work (here the DoH control's client, TLS
    context and connection) happens while the window runs (MeasureContext.first_queries)."""
    dns_server.zone.set(NAME, DnsEntry(a=("127.0.0.1",)))
    https_server.route("/page", respond(page()))
    doh = f"https://127.0.0.1:{closed_port()}/dns-query"  # refused: its lookups still record t0
    settings = _settings(dns_server, pki, control={"doh": [doh]})
    keys = _measure(settings, _web(https_server.url("/page", host=NAME)))
    assert keys.queries and keys.x_doh
    assert max(q.t0 for q in keys.queries) <= min(q.t0 for q in keys.x_doh), (
        [q.t0 for q in keys.queries],
        [q.t0 for q in keys.x_doh],
    )
