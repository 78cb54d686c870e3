"""measure/throughput.py against real loopback servers: paced, fast, small, hostile objects.

The servers pace their bodies per SNI (a policer keyed on the name, as Russia's was in 2021), so
these tests check the downloads' order and roles, what their byte counters record, every way a
download stops, and that the finding computed from a real recording names the technique.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from servers import (
    DnsEntry,
    DnsServer,
    HttpServer,
    SilentServer,
    TestPki,
    gzip_bomb_body,
    paced,
    respond,
    streamed,
)

from probe._run.throughput import ThroughputRun
from probe.config import Settings, load_settings
from probe.decide.throughput import measured, plateau, rate_bps, throughput_finding
from probe.measure._clock import Clock
from probe.measure.plan import open_context
from probe.measure.throughput import BUDGET_SPENT, measure_throughput
from probe.models.observations import ThroughputChoice, ThroughputTest, TransferRole
from probe.models.results import Blocking, EndpointResult, TestKeys, Verdict
from probe.models.targets import Endpoint, EndpointKind, Target, TargetKind

NAME = "trusted.test"  # the "platform": its SNI is the one the server paces
CONTROL = "site.test"
INNOCUOUS = "example.org"
PACED_BPS = 800_000


# Generous timeouts: a loaded machine may take a second over a handshake with the test servers
# (a thread of this process), and only the silent server's test waits one out (it passes its own).
TIMEOUTS = {"dns": 5, "connect": 5, "tls": 5, "http": 5}


def _settings(
    dns_server: DnsServer, pki: TestPki, timeouts: dict[str, float] = TIMEOUTS, **throughput: Any
) -> Settings:
    return load_settings(
        None,
        {
            "resolver": {"servers": [f"udp://{dns_server.address}"], "late_reply_window_s": 0.05},
            "control": {"helpers": [], "doh": [], "sites": []},
            "tls": {"ca_bundle": str(pki.ca_pem)},
            "network": {"routable": ["127.0.0.0/8"]},
            "timeouts": timeouts,
            "throughput": {
                "repeats": 2,
                "duration_s": 1.2,
                "max_bytes": 4 << 20,
                "max_bytes_per_run": 1 << 30,
                "min_bytes": 64 << 10,
                "innocuous_sni": INNOCUOUS,
                **throughput,
            },
        },
    )


def _run(settings: Settings, candidates: list[str], known: dict[str, str]) -> ThroughputTest:
    async def run() -> ThroughputTest:
        async with open_context(settings) as ctx:
            return await measure_throughput(candidates, known, ctx, Clock())

    test = asyncio.run(run())
    gc.collect()  # an unclosed socket would warn now (and warnings are errors)
    return test


KNOWN = {NAME: "127.0.0.1", CONTROL: "127.0.0.1"}


@pytest.fixture
def urls(https_server: HttpServer) -> dict[str, str]:
    return {
        "paced": https_server.route("/tp/paced.bin", paced(PACED_BPS, {NAME})).replace(
            "127.0.0.1", NAME
        ),
        "fast": https_server.url("/tp/fast.bin", host=CONTROL),
        "small": https_server.url("/tp/small.js", host=NAME),
        "missing": https_server.url("/tp/missing.png", host=NAME),
        "bomb": https_server.url("/tp/bomb.bin", host=NAME),
    }


@pytest.fixture(autouse=True)
def _routes(https_server: HttpServer) -> None:
    https_server.route("/tp/fast.bin", streamed(64 << 20))
    https_server.route("/tp/small.js", respond(b"x" * 2_000))
    https_server.route("/tp/missing.png", respond(b"<h1>not found</h1>", status=404))
    bomb = respond(gzip_bomb_body(), headers=[("Content-Encoding", "gzip")])
    https_server.route("/tp/bomb.bin", bomb)


def test_sni_paced_object_against_its_references(
    dns_server: DnsServer, pki: TestPki, urls: dict[str, str]
) -> None:
    settings = _settings(dns_server, pki, controls=[urls["fast"]])
    test = _run(settings, [urls["paced"]], KNOWN)
    roles = [(t.role, t.repeat) for t in test.transfers]
    assert roles == [
        (TransferRole.TARGET, 1),
        (TransferRole.SAME_ADDRESS, 1),
        (TransferRole.CONTROL, 1),
        (TransferRole.CONTROL, 2),
        (TransferRole.TARGET, 2),
        (TransferRole.SAME_ADDRESS, 2),
    ], f"downloads out of order: {roles}"
    assert test.objects == [urls["paced"]] and test.skipped is None
    for transfer in test.transfers:
        assert transfer.failure is None, transfer
        assert measured(transfer, test.limits), transfer
        times = [s.t for s in transfer.samples]
        counts = [s.bytes for s in transfer.samples]
        assert times == sorted(times) and counts == sorted(counts), "samples must grow"
        assert counts[-1] == transfer.bytes, "the last sample is the total"
    targets = [t for t in test.transfers if t.role is TransferRole.TARGET]
    for target in targets:
        assert target.server_name == NAME and target.verified
        assert target.stopped == "max_duration", target.stopped
        assert 0.5 * PACED_BPS < rate_bps(target) < 1.5 * PACED_BPS, rate_bps(target)
        shape = plateau(target)
        assert shape is not None and shape.flat, f"a paced body is a plateau: {shape}"
    for same in (t for t in test.transfers if t.role is TransferRole.SAME_ADDRESS):
        assert same.server_name == INNOCUOUS and not same.verified
        assert same.address == targets[0].address
        assert same.stopped == "max_bytes" and rate_bps(same) > 10 * PACED_BPS, rate_bps(same)
    finding = throughput_finding(test)
    assert (finding.rule_id, finding.verdict, finding.blocking) == (
        "throughput.throttled_sni",
        Verdict.THROTTLED,
        Blocking.THROTTLING,
    ), finding.reasons
    assert "keyed on the server name (SNI)" in finding.reasons[0]


def test_small_and_missing_objects_give_way_to_the_next_candidate(
    dns_server: DnsServer, pki: TestPki, urls: dict[str, str]
) -> None:
    settings = _settings(dns_server, pki, controls=[urls["fast"]], repeats=1)
    test = _run(settings, [urls["missing"], urls["small"], urls["fast"]], KNOWN)
    tried = [(t.url, t.role) for t in test.transfers]
    assert test.objects == [urls["fast"]], tried
    missing, small = test.transfers[:2]
    assert missing.status_code == 404 and small.stopped == "complete" and small.bytes < 64 << 10
    assert throughput_finding(test).rule_id == "throughput.normal"


def test_nothing_measurable_is_recorded_as_skipped(
    dns_server: DnsServer, pki: TestPki, urls: dict[str, str]
) -> None:
    settings = _settings(dns_server, pki, controls=[urls["fast"]])
    test = _run(settings, [urls["small"]], KNOWN)
    assert test.objects == [] and test.skipped == "no candidate object could be measured"
    finding = throughput_finding(test)
    assert (finding.rule_id, finding.verdict) == ("throughput.not_run", Verdict.ACCESSIBLE)


def test_a_compressed_bomb_is_counted_on_the_wire_not_inflated(
    dns_server: DnsServer, pki: TestPki, urls: dict[str, str]
) -> None:
    settings = _settings(dns_server, pki, controls=[urls["fast"]], repeats=1, min_bytes=4096)
    test = _run(settings, [urls["bomb"]], KNOWN)
    first = test.transfers[0]
    # The bomb is ~10 KiB of gzip that inflates to 10 MiB: the wire bytes are what count.
    assert first.failure is None and first.bytes < 64 << 10, first


def test_hostile_and_unreachable_servers_are_recorded_failures(
    dns_server: DnsServer, pki: TestPki, silent_server: SilentServer, closed_port: int
) -> None:
    dns_server.zone.set("tp-nowhere.test", DnsEntry(rcode="NXDOMAIN"))
    silent = f"https://{NAME}:{silent_server.port}/x.bin"
    closed = f"https://{CONTROL}:{closed_port}/y.bin"
    settings = _settings(
        dns_server,
        pki,
        {"dns": 1, "connect": 1, "tls": 1, "http": 2},  # the silent server's handshake times out
        controls=["https://tp-nowhere.test/z.bin"],
        duration_s=0.5,
    )
    test = _run(settings, [silent, closed], KNOWN)
    failures = {t.url: (t.failure, t.x_failed_operation) for t in test.transfers}
    assert failures[silent] == ("generic_timeout_error", "tls_handshake"), failures
    assert failures[closed][1] == "connect" and "refused" in (failures[closed][0] or "")
    assert test.objects == [] and test.skipped is not None
    assert test.queries == [], "no object: not even the control sites are looked up"


def test_a_control_that_does_not_resolve_is_a_failed_reference(
    dns_server: DnsServer, pki: TestPki, urls: dict[str, str]
) -> None:
    dns_server.zone.set("tp-nowhere.test", DnsEntry(rcode="NXDOMAIN"))
    settings = _settings(dns_server, pki, controls=["https://tp-nowhere.test/z.bin"], repeats=1)
    test = _run(settings, [urls["fast"]], KNOWN)
    (control,) = [t for t in test.transfers if t.role is TransferRole.CONTROL]
    assert (control.failure, control.x_failed_operation) == ("dns_no_answer", "dns"), control
    assert [q.hostname for q in test.queries if q.query_type == "A"] == ["tp-nowhere.test"]
    # The same address with the innocuous SNI is still a reference.
    assert throughput_finding(test).rule_id == "throughput.normal"


def _budgeted(settings: Settings, candidates: list[str], budget_bytes: int) -> ThroughputTest:
    async def run() -> ThroughputTest:
        async with open_context(settings) as ctx:
            return await measure_throughput(
                candidates, KNOWN, ctx, Clock(), budget_bytes=budget_bytes
            )

    test = asyncio.run(run())
    gc.collect()
    return test


def test_a_spent_budget_downloads_nothing_and_says_so(
    dns_server: DnsServer, pki: TestPki, urls: dict[str, str]
) -> None:
    """Issue 19: what is left of the run's budget cannot hold one object's test (every download
    at its cap): nothing is downloaded, not even looked up."""
    settings = _settings(dns_server, pki, controls=[urls["fast"]], repeats=1)
    one_test = settings.throughput.max_bytes * 3
    test = _budgeted(settings, [urls["fast"]], one_test - 1)
    assert (test.transfers, test.queries, test.skipped) == ([], [], BUDGET_SPENT), test


def test_the_budget_stops_before_the_next_object(
    dns_server: DnsServer, pki: TestPki, urls: dict[str, str]
) -> None:
    settings = _settings(dns_server, pki, controls=[urls["fast"]], repeats=1, objects_per_target=2)
    one_test = settings.throughput.max_bytes * 3
    test = _budgeted(settings, [urls["fast"], urls["paced"]], one_test + 1)
    assert test.objects == [urls["fast"]] and test.skipped is None, test.objects
    assert {t.url for t in test.transfers if t.role is TransferRole.TARGET} == {urls["fast"]}


def _loaded(url: str) -> list[EndpointResult]:
    endpoint = Endpoint(kind=EndpointKind.WEB, host=NAME, port=443, url=url)
    return [EndpointResult(endpoint=endpoint, verdict=Verdict.ACCESSIBLE, test_keys=TestKeys())]


def _target(text: str, objects: list[str], platform: str | None = None) -> Target:
    endpoint = _loaded(text)[0].endpoint
    kind = TargetKind.PLATFORM if objects else TargetKind.URL
    return Target(
        input=text, kind=kind, name=NAME, platform=platform, endpoints=[endpoint], objects=objects
    )


def test_a_run_measures_an_object_once_and_shares_it(
    dns_server: DnsServer, pki: TestPki, urls: dict[str, str]
) -> None:
    """Issue 19: 200 URLs of one platform download one platform's worth. Two targets with the
    same object at the same address share one test; a URL of no platform gets none unless
    pages were asked for."""
    settings = _settings(dns_server, pki, controls=[urls["fast"]], repeats=1)
    first, second = _target("one", [urls["fast"]]), _target("two", [urls["fast"]])
    plain = _target("https://trusted.test/page", [])

    async def run(settings: Settings) -> list[ThroughputTest | None]:
        async with open_context(settings) as ctx:
            tests = ThroughputRun(settings, ctx)
            try:
                return list(
                    await asyncio.gather(
                        *(tests.test(t, _loaded(t.input), Clock()) for t in (first, second)),
                        tests.test(plain, _loaded(plain.input), Clock()),
                    )
                )
            finally:
                await tests.close()

    one, two, none = asyncio.run(run(settings))
    gc.collect()
    assert one is not None and two is not None and none is None, (one, two, none)
    assert (one.measured_for, two.measured_for) == (None, "one")
    assert one.choice is two.choice is ThroughputChoice.CATALOGUE_OBJECTS
    assert one.transfers == two.transfers and one.objects == [urls["fast"]]
