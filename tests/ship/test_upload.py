"""`upload_outbox` against a real collector: every stored measurement arrives exactly once,
whatever fails on the way (a collector down, a reset mid-body, a lost answer, a hang, a
refusal), and through HTTP and SOCKS proxies."""

from __future__ import annotations

from pathlib import Path

from collector.harness import RunningCollector
from servers import FaultRelay, HttpProxy, ServerLoop, Socks5Proxy, TestPki, closed_port

from probe.config import CollectorSettings
from probe.ship.upload import STATE_KEY

from .conftest import ProbeSide, TlsCollector, collected_ids


def _pending(side: ProbeSide) -> int:
    return side.store.stats().pending


def test_every_measurement_arrives_once(probe_side: ProbeSide, collector: RunningCollector) -> None:
    ids = probe_side.fill(25)
    report = probe_side.upload([collector.url], max_bundle_records=10)
    assert report.ok, report.error
    assert (report.sealed, report.uploaded, report.measurements) == (3, 3, 25)
    assert sorted(collected_ids(collector.url)) == sorted(ids)
    assert _pending(probe_side) == 0 and probe_side.store.outbox() == []
    again = probe_side.upload([collector.url])
    assert (again.sealed, again.uploaded) == (0, 0) and again.ok
    probe_side.fill(2, start=100)  # later results go in a bundle of their own
    assert probe_side.upload([collector.url]).measurements == 2
    assert len(collected_ids(collector.url)) == 27
    state = probe_side.store.get_state(STATE_KEY)
    assert isinstance(state, dict) and state["failures"] == 0 and state["last_error"] is None


def test_collector_down_then_back(
    probe_side: ProbeSide, collector: RunningCollector, server_loop: ServerLoop
) -> None:
    """Down (every connection refused) for two passes: backoff grows, nothing is lost."""
    ids = probe_side.fill(5)
    relay = FaultRelay(server_loop, ("127.0.0.1", collector.port), mode="refuse")
    relay.start()
    try:
        url = f"http://127.0.0.1:{relay.port}"
        first = probe_side.upload([url], retry_initial=10, retry_max=100)
        second = probe_side.upload([url], retry_initial=10, retry_max=100)
        assert not first.ok and "connection_reset" in (first.error or ""), first.error
        assert (first.failures, second.failures) == (1, 2)
        assert first.retry_in_s is not None and 7.5 <= first.retry_in_s <= 12.5
        assert second.retry_in_s is not None and 15 <= second.retry_in_s <= 25
        (entry,) = probe_side.store.outbox()
        assert entry.attempts == 2 and "connection_reset" in (entry.last_error or "")
        relay.mode = "pass"
        third = probe_side.upload([url])
        assert third.ok and third.failures == 0 and third.uploaded == 1
    finally:
        relay.close()
    assert sorted(collected_ids(collector.url)) == sorted(ids)


def test_rotation_to_a_fallback_collector(
    probe_side: ProbeSide, collector: RunningCollector, server_loop: ServerLoop
) -> None:
    probe_side.fill(3)
    dead = FaultRelay(server_loop, ("127.0.0.1", collector.port), mode="refuse")
    dead.start()
    try:
        urls = [f"http://127.0.0.1:{closed_port()}", f"http://127.0.0.1:{dead.port}",
                collector.url]  # fmt: skip
        report = probe_side.upload(urls)
        assert report.ok and report.collector == collector.url
        assert dead.connections == 1
        probe_side.fill(1, start=10)
        assert probe_side.upload(urls).ok
        assert dead.connections == 1, "the collector that worked is tried first next time"
    finally:
        dead.close()
    assert len(collected_ids(collector.url)) == 4


def test_reset_mid_body_stores_nothing_and_the_resend_lands(
    probe_side: ProbeSide, collector: RunningCollector, server_loop: ServerLoop
) -> None:
    ids = probe_side.fill(40)
    relay = FaultRelay(server_loop, ("127.0.0.1", collector.port), mode="reset_mid_request",
                       cut_after=2000)  # fmt: skip
    relay.start()
    try:
        url = f"http://127.0.0.1:{relay.port}"
        report = probe_side.upload([url])
        assert not report.ok and collected_ids(collector.url) == []
        relay.mode = "pass"
        assert probe_side.upload([url]).ok
    finally:
        relay.close()
    assert sorted(collected_ids(collector.url)) == sorted(ids)


def test_lost_answer_is_resent_and_acknowledged_as_duplicate(
    probe_side: ProbeSide, collector: RunningCollector, server_loop: ServerLoop
) -> None:
    """The collector stored the bundle, the probe never heard: the same bytes go again."""
    ids = probe_side.fill(4)
    relay = FaultRelay(server_loop, ("127.0.0.1", collector.port), mode="drop_response")
    relay.start()
    try:
        url = f"http://127.0.0.1:{relay.port}"
        lost = probe_side.upload([url])
        assert not lost.ok and len(collected_ids(collector.url)) == 4
        assert _pending(probe_side) == 4, "no acknowledgement, so still pending"
        relay.mode = "pass"
        resent = probe_side.upload([url])
        assert resent.ok and resent.duplicates == 1 and resent.uploaded == 1
    finally:
        relay.close()
    assert sorted(collected_ids(collector.url)) == sorted(ids)
    assert _pending(probe_side) == 0


def test_a_hanging_collector_times_out(
    probe_side: ProbeSide, collector: RunningCollector, server_loop: ServerLoop
) -> None:
    probe_side.fill(1)
    relay = FaultRelay(server_loop, ("127.0.0.1", collector.port), mode="hang")
    relay.start()
    try:
        report = probe_side.upload([f"http://127.0.0.1:{relay.port}"], timeout=1)
    finally:
        relay.close()
    assert not report.ok and "timeout" in (report.error or ""), report.error
    assert _pending(probe_side) == 1


def test_token_gated_collector(probe_side: ProbeSide, tmp_path: Path) -> None:
    gated = RunningCollector(
        CollectorSettings(data_dir=tmp_path / "gated", register_token="s3cret-token")
    )
    try:
        probe_side.fill(2)
        refused = probe_side.upload([gated.url])
        assert not refused.ok and "register_token" in (refused.error or ""), refused.error
        assert _pending(probe_side) == 2
        wrong = probe_side.upload([gated.url], register_token="guess")
        assert not wrong.ok
        report = probe_side.upload([gated.url], register_token="s3cret-token")
        assert report.ok and report.measurements == 2
    finally:
        gated.close()


def test_a_refused_bundle_is_set_aside_and_the_rest_goes(
    probe_side: ProbeSide, tmp_path: Path
) -> None:
    strict = RunningCollector(CollectorSettings(data_dir=tmp_path / "strict", max_records=5))
    try:
        probe_side.fill(8)
        report = probe_side.upload([strict.url], max_bundle_records=8)
        assert report.ok and len(report.rejected) == 1
        assert "too_many_records" in report.rejected[0]
        assert probe_side.store.outbox_stats().rejected_bundles == 1
        probe_side.fill(3, start=20)
        later = probe_side.upload([strict.url], max_bundle_records=8)
        assert later.ok and later.measurements == 3, "a rejected bundle blocks nothing"
        assert len(collected_ids(strict.url)) == 3
    finally:
        strict.close()


def test_through_an_http_proxy(
    probe_side: ProbeSide, collector: RunningCollector, server_loop: ServerLoop
) -> None:
    ids = probe_side.fill(30)
    proxy = HttpProxy(server_loop)
    proxy.start()
    try:
        report = probe_side.upload([collector.url], proxy=proxy.url(), max_bundle_records=10)
    finally:
        proxy.close()
    assert report.ok, report.error
    assert proxy.connections >= 1 and f"127.0.0.1:{collector.port}" in proxy.targets
    assert sorted(collected_ids(collector.url)) == sorted(ids)


def test_https_collector_through_connect_proxy(
    probe_side: ProbeSide, tls_collector: TlsCollector, server_loop: ServerLoop, pki: TestPki
) -> None:
    ids = probe_side.fill(3)
    proxy = HttpProxy(server_loop)
    proxy.start()
    try:
        report = probe_side.upload([tls_collector.url], proxy=proxy.url(), ca_bundle=pki.ca_pem)
    finally:
        proxy.close()
    assert report.ok, report.error
    assert "CONNECT" in proxy.methods
    got = collected_ids(tls_collector.url, verify=tls_collector.verify)
    assert sorted(got) == sorted(ids)


def test_https_collector_needs_its_ca(probe_side: ProbeSide, tls_collector: TlsCollector) -> None:
    probe_side.fill(1)
    report = probe_side.upload([tls_collector.url])
    assert not report.ok and "ssl" in (report.error or ""), report.error


def test_through_socks5h_the_proxy_resolves_the_name(
    probe_side: ProbeSide, collector: RunningCollector, server_loop: ServerLoop
) -> None:
    ids = probe_side.fill(2)
    proxy = Socks5Proxy(server_loop)
    proxy.start()
    try:
        url = f"http://localhost:{collector.port}"
        report = probe_side.upload([url], proxy=proxy.url("socks5h"))
    finally:
        proxy.close()
    assert report.ok, report.error
    assert proxy.targets == [f"localhost:{collector.port}"]
    assert sorted(collected_ids(collector.url)) == sorted(ids)
