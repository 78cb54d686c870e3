"""Properties of the verdict functions over generated measurements (STYLE.md §5)."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from probe.decide import DecisionContext, endpoint_verdict, target_verdict
from probe.decide.attempts import outcomes
from probe.models.results import Blocking, EndpointResult, TestKeys, Verdict
from probe.models.targets import Endpoint, Target, TargetKind

from .builders import (
    HOST,
    certificate,
    connect,
    control,
    doh,
    fetch,
    fingerprint_csv,
    http,
    https,
    keys,
    query,
    redirect,
    site,
    tcp,
    tls_step,
)
from .builders import context as make_context

PUBLIC = ["93.184.216.34", "104.244.42.1", "5.6.7.8", "2606:2800:220:1:248:1893:25c8:1946"]
BOGONS = ["10.10.34.35", "127.0.0.1", "203.0.113.10"]
JUNK = ["", "not-an-ip", "999.1.1.1"]
DNS_FAILURES = [
    None,
    "dns_nxdomain_error",
    "dns_no_answer",
    "dns_servfail_error",
    "generic_timeout_error",
]
CONNECT_FAILURES = [
    None,
    "generic_timeout_error",
    "connection_refused",
    "connection_reset",
    "network_unreachable",
    "host_unreachable",
    "unknown_failure: odd",
]
TLS_FAILURES = [
    None,
    "connection_reset",
    "eof_error",
    "generic_timeout_error",
    "ssl_unknown_authority",
    "ssl_invalid_hostname",
    "ssl_failed_handshake",
]
HTTP_FAILURES = [
    None,
    "connection_reset",
    "eof_error",
    "generic_timeout_error",
    "connection_refused",
    "ssl_unknown_authority",
    "unknown_failure: odd",
]
SITE_FAILURES = [
    "generic_timeout_error",
    "connection_reset",
    "dns_nxdomain_error",
    "connection_refused",
]
ISSUERS = ["CN=R3,O=Let's Encrypt,C=US", "CN=Security Certificate,C=KZ", "CN=Other CA,O=Other"]
FINGERPRINTS = fingerprint_csv(
    "t.body,nat,,body,contains,blocked by order,8,,t,,",
    "t.vague,vbw,,body,contains,restricted,2,,t,,",
    "t.benign,fp,,body,contains,Just a moment,10,,t,,",
    "t.dns,isp,,dns,full,5.6.7.8,5,,t,,",
)
BODIES = [
    "<title>Example Domain</title>" + "x" * 900,
    "blocked by order",
    "restricted",
    "Just a moment",
    "",
]
ENDPOINTS = [https(), http(), tcp(), https("93.184.216.34"), http(HOST, 8080)]


def mostly_none(values: list[str | None]) -> st.SearchStrategy[str | None]:
    """Return a failure strategy where success is as likely as all failures together."""
    failing = [v for v in values if v]
    return st.one_of(st.none(), st.sampled_from(failing))


junk_failures = st.one_of(mostly_none(HTTP_FAILURES), st.text(max_size=12))


@st.composite
def web_steps(draw: st.DrawFn, endpoint: Endpoint, ips: list[str], a: int) -> list[Any]:
    """The connect/handshake/fetch part of one attempt (any step may fail or be missing)."""
    steps: list[Any] = []
    cleartext = (endpoint.url or "").startswith("http:")
    for ip in ips:
        if endpoint.kind.value == "tcp" or cleartext:
            steps.append(connect(ip, endpoint.port, draw(mostly_none(CONNECT_FAILURES)), attempt=a))
        if endpoint.kind.value == "web" and (not cleartext or draw(st.booleans())):
            issuer = draw(st.sampled_from(ISSUERS[:1] * 4 + ISSUERS[1:]))
            chain = [certificate(issuer=issuer, spki=draw(st.sampled_from(["aa" * 32, "bb" * 32])))]
            steps += tls_step(
                ip,
                draw(mostly_none(TLS_FAILURES)),
                tcp_failure=draw(mostly_none(CONNECT_FAILURES)),
                attempt=a,
                chain=chain,
                validation=cleartext,
            )
    if endpoint.kind.value == "web" and draw(st.integers(0, 4)) > 0:
        url = endpoint.url or ""
        depth = draw(st.sampled_from([0, 0, 0, 1, 2]))
        steps += [redirect(url, url, attempt=a, depth=d) for d in range(depth)]
        if draw(st.integers(0, 3)) == 0:
            steps.append(
                query(
                    draw(st.lists(st.sampled_from(PUBLIC), max_size=1)),
                    attempt=a,
                    depth=depth,
                    failure=draw(st.sampled_from(DNS_FAILURES)),
                )
            )
        steps.append(
            fetch(
                url,
                draw(st.sampled_from([200, 200, 200, 302, 403, 503, None])),
                body=draw(st.sampled_from(BODIES)),
                failure=draw(junk_failures),
                attempt=a,
                depth=depth,
            )
        )
    return steps


@st.composite
def attempt(draw: st.DrawFn, endpoint: Endpoint, a: int) -> list[Any]:
    addresses = st.sampled_from(PUBLIC * 3 + BOGONS + JUNK)
    ips = draw(st.lists(addresses, max_size=3, unique=True))
    late = draw(st.sampled_from([[]] * 7 + [[["5.6.7.8"]], [["10.10.34.35"]]]))
    dns_failure = None if ips else draw(st.sampled_from(DNS_FAILURES))
    observations: list[Any] = [
        query(
            ips,
            failure=dns_failure,
            attempt=a,
            late=late,
            asn=draw(st.sampled_from([None, 15133, 13414])),
        )
    ]
    if draw(st.booleans()):
        observations.append(query([], qtype="AAAA", failure="dns_no_answer", attempt=a))
    if draw(st.integers(0, 9)) == 0:  # a cancelled attempt
        return observations
    return observations + draw(web_steps(endpoint, ips, a))


@st.composite
def control_responses(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return None
    return control(
        draw(st.lists(st.sampled_from(PUBLIC + BOGONS), max_size=2, unique=True)),
        ports=draw(st.sampled_from([(443,), (80, 443), (5222,), ()])),
        tcp_failure=draw(mostly_none(CONNECT_FAILURES)),
        tls_failure=draw(mostly_none(TLS_FAILURES)),
        status=draw(st.sampled_from([200, 403, 503])),
        http_failure=draw(st.sampled_from([None, "generic_timeout_error", "dns_lookup_error"])),
        dns_failure=draw(st.sampled_from([None, "dns_name_error", "dns_server_failure"])),
        certificate_seen=draw(st.sampled_from([None, certificate()])),
    )


@st.composite
def measurements(draw: st.DrawFn) -> tuple[Endpoint, TestKeys]:
    endpoint = draw(st.sampled_from(ENDPOINTS))
    count = draw(st.integers(0, 3))
    observations = [draw(attempt(endpoint, a)) for a in range(1, count + 1)]
    doh_answers = draw(
        st.lists(
            st.sampled_from([doh(), doh([]), doh([], failure="dns_nxdomain_error")]), max_size=2
        )
    )
    built = keys(
        observations,
        control=draw(control_responses()),
        doh=doh_answers,
        control_failure=draw(st.sampled_from([None, "generic_timeout_error"])),
        attempts=max(count, 1),
    )
    return endpoint, built


@st.composite
def contexts(draw: st.DrawFn) -> DecisionContext:
    checks = draw(
        st.lists(
            st.builds(
                site,
                st.sampled_from(["before", "after"]),
                st.booleans(),
                st.sampled_from(["dns", "tcp", "tls", "http"]),
                st.sampled_from([*SITE_FAILURES, "ssl_invalid_hostname"]),
            ),
            max_size=3,
        )
    )
    routable = draw(st.sampled_from([(), (ipaddress.ip_network("203.0.113.0/24"),)]))
    prints = draw(st.sampled_from(["", FINGERPRINTS]))
    return make_context(*checks, sites=bool(checks), fingerprints=prints, routable=routable)


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(measurements(), contexts())
def test_endpoint_verdict_is_total_and_consistent(
    measured: tuple[Endpoint, TestKeys], ctx: DecisionContext
) -> None:
    endpoint, test_keys = measured
    result = endpoint_verdict(endpoint, test_keys, ctx)
    if result.verdict in (Verdict.BLOCKED, Verdict.THROTTLED):
        assert result.blocking is not None, f"{result.verdict} without blocking: {result.reasons}"
        assert result.reasons, f"{result.verdict} without reasons"
    else:
        assert result.blocking is None, f"{result.verdict} with blocking {result.blocking}"
    assert result.reasons, f"{result.verdict}: reasons expected non-empty"
    again = EndpointResult.model_validate_json(result.model_dump_json())
    assert again == result, "EndpointResult changed in a JSON round trip"
    assert endpoint_verdict(endpoint, test_keys, ctx) == result, (
        "endpoint_verdict is not deterministic"
    )


@st.composite
def same_failure_at_control(draw: st.DrawFn) -> tuple[Endpoint, TestKeys]:
    """Consistent DNS; every attempt fails at one layer; the helper fails there too."""
    endpoint = https()
    ips = draw(st.lists(st.sampled_from(PUBLIC[:3]), min_size=1, max_size=2, unique=True))
    layer = draw(st.sampled_from(["tcp", "tls", "http"]))
    failure = draw(st.sampled_from([f for f in HTTP_FAILURES if f] + ["ssl_invalid_certificate"]))
    observations: list[Any] = []
    for a in range(1, draw(st.integers(1, 3)) + 1):
        observations.append(query(ips, attempt=a))
        for ip in ips:
            if layer == "tcp":
                observations += tls_step(ip, tcp_failure=failure, attempt=a)
            else:
                observations += tls_step(ip, failure if layer == "tls" else None, attempt=a)
        if layer == "http":
            observations.append(fetch(failure=failure, attempt=a))
    helper = control(
        ips,
        tcp_failure=failure if layer == "tcp" else None,
        tls_failure=failure if layer == "tls" else None,
        http_failure=failure,
    )
    return endpoint, keys(observations, control=helper)


@SETTINGS
@given(same_failure_at_control(), contexts())
def test_same_failure_at_the_control_is_never_blocked(
    measured: tuple[Endpoint, TestKeys], ctx: DecisionContext
) -> None:
    endpoint, test_keys = measured
    result = endpoint_verdict(endpoint, test_keys, DecisionContext(controls=ctx.controls))
    assert result.verdict is not Verdict.BLOCKED, (
        f"control failed the same way, got blocked: {result.reasons}"
    )


@SETTINGS
@given(
    measurements(),
    st.lists(st.sampled_from(SITE_FAILURES), min_size=1, max_size=3),
    st.sampled_from(["before", "after"]),
)
def test_target_and_every_control_site_failed_is_an_outage(
    measured: tuple[Endpoint, TestKeys], site_failures: list[str], phase: str
) -> None:
    endpoint, test_keys = measured
    ran = outcomes(endpoint, test_keys)
    assume(ran and not any(o.succeeded for o in ran))
    checks = tuple(site(phase, False, "tcp", f) for f in site_failures)
    result = endpoint_verdict(endpoint, test_keys, DecisionContext(controls=checks))
    assert result.verdict is Verdict.NETWORK_OUTAGE, (
        f"everything failed, got {result.verdict}: {result.reasons}"
    )


VERDICTS = st.sampled_from(list(Verdict))


@st.composite
def endpoint_results(draw: st.DrawFn) -> EndpointResult:
    verdict = draw(VERDICTS)
    blocking = (
        draw(st.sampled_from(list(Blocking)))
        if verdict in (Verdict.BLOCKED, Verdict.THROTTLED)
        else None
    )
    return EndpointResult(
        endpoint=draw(st.sampled_from(ENDPOINTS)),
        verdict=verdict,
        blocking=blocking,
        reasons=["r"],
        test_keys=TestKeys(),
    )


@SETTINGS
@given(st.lists(endpoint_results(), max_size=6))
def test_target_verdict_is_total(results: list[EndpointResult]) -> None:
    target = Target(
        input="t", kind=TargetKind.PLATFORM, name="t", endpoints=[r.endpoint for r in results]
    )
    decision = target_verdict(target, results, DecisionContext())
    verdict, blocking, reasons = decision.verdict, decision.blocking, list(decision.reasons)
    assert (blocking is not None) == (verdict in (Verdict.BLOCKED, Verdict.THROTTLED)), (
        f"{verdict} with blocking {blocking}"
    )
    assert reasons, f"{verdict}: reasons expected non-empty"
    if any(r.verdict is Verdict.BLOCKED for r in results) and verdict is not Verdict.BLOCKED:
        assert any("another port" in r for r in reasons), (
            f"a blocked endpoint was dropped: {reasons}"
        )
