"""Retries, the sandwich, layer order and the scenario catalogue (METHODS.md §9, §11)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest

from probe.decide import DecisionContext
from probe.models.results import Blocking, TestKeys, Verdict
from probe.models.targets import Endpoint

from .builders import (
    HOST,
    IP,
    PAGE,
    connect,
    context,
    control,
    doh,
    fetch,
    fingerprint_csv,
    http,
    http_chain,
    https,
    https_chain,
    judge,
    keys,
    query,
    redirect,
    site,
    tls_step,
)

TIMEOUT = "generic_timeout_error"
V6 = "2606:2800:220:1:248:1893:25c8:1946"
WIREFILTER = fingerprint_csv(
    "test.wirefilter,nat,,header.server,prefix,Protected by WireFilter,5,AE,test,,"
)


@dataclass(frozen=True)
class Scenario:
    endpoint: Endpoint
    keys: TestKeys
    verdict: Verdict
    blocking: Blocking | None = None
    reason: str = ""
    ctx: DecisionContext | None = None


SCENARIOS: dict[str, Scenario] = {
    "flaky link: two timeouts then a page (§11 #26)": Scenario(
        https(),
        keys(
            query([IP]),
            tls_step(tcp_failure=TIMEOUT),
            query([IP], attempt=2),
            tls_step(tcp_failure=TIMEOUT, attempt=2),
            https_chain(attempt=3),
            control=control(),
        ),
        Verdict.ACCESSIBLE,
        None,
        "2 of 3 attempts failed",
    ),
    "a cancelled attempt is ignored": Scenario(
        https(),
        keys(https_chain(), query([IP], attempt=2), control=control()),
        Verdict.ACCESSIBLE,
        None,
        "over a verified TLS connection",
    ),
    "sandwich changed but a bogon stands alone": Scenario(
        https(),
        keys(
            query(["10.10.34.35"]), tls_step("10.10.34.35", tcp_failure=TIMEOUT), control=control()
        ),
        Verdict.BLOCKED,
        Blocking.DNS_HIJACK,
        "a bogon",
        context(site("before"), site("after", False)),
    ),
    "spoofed DNS and a reset: DNS departs first (§11 #12)": Scenario(
        https(),
        keys(query(["5.6.7.8"]), tls_step("5.6.7.8", "connection_reset"), control=control()),
        Verdict.BLOCKED,
        Blocking.DNS_HIJACK,
        "were cut",
    ),
    "spoofed DNS and a block page: DNS departs first (§11 #16)": Scenario(
        http(),
        keys(
            query(["5.6.7.8"]),
            connect("5.6.7.8", 80),
            tls_step("5.6.7.8", "ssl_invalid_hostname", validation=True),
            fetch(
                f"http://{HOST}/",
                body="denied",
                headers=(("Server", "Protected by WireFilter"),),
                address="5.6.7.8:80",
            ),
            control=control(ports=(80, 443)),
        ),
        Verdict.BLOCKED,
        Blocking.DNS_HIJACK,
        "test.wirefilter",
        context(fingerprints=WIREFILTER),
    ),
    "AAAA unreachable, IPv4 fine (§11 #25)": Scenario(
        https(),
        keys(
            query([IP]),
            query([V6], qtype="AAAA"),
            tls_step(),
            tls_step(V6, tcp_failure="network_unreachable"),
            fetch(),
            control=control([IP, V6]),
        ),
        Verdict.ACCESSIBLE,
        None,
        "over a verified TLS connection",
    ),
    "IPv4 blocked, IPv6 unreachable: the IPv4 failure counts": Scenario(
        https(),
        keys(
            query([IP]),
            query([V6], qtype="AAAA"),
            tls_step(tcp_failure=TIMEOUT),
            tls_step(V6, tcp_failure="network_unreachable"),
            control=control([IP, V6]),
        ),
        Verdict.BLOCKED,
        Blocking.TCP_TIMEOUT,
        "93.184.216.34:443 generic_timeout_error",
    ),
    "DoT resolver blocked, system resolver fine (§11 #27)": Scenario(
        https(),
        keys(
            query([IP], engine="system"),
            query([], engine="dot", resolver="1.1.1.1:853", failure="connection_reset"),
            tls_step(),
            fetch(),
            control=control(),
        ),
        Verdict.ACCESSIBLE,
        None,
        "dot resolver 1.1.1.1:853 failed (connection_reset) while other",
    ),
    "one resolver lies NXDOMAIN while another answers (§11 #2)": Scenario(
        https(),
        keys(
            query([], engine="system", failure="dns_nxdomain_error", rcode="NXDOMAIN"),
            query([IP], resolver="8.8.8.8:53"),
            tls_step(),
            fetch(),
            control=control(),
        ),
        Verdict.BLOCKED,
        Blocking.DNS_NXDOMAIN,
        "system resolver 10.0.0.53:53 answered NXDOMAIN",
    ),
    "Android cache no data counts as NXDOMAIN (§11 #2)": Scenario(
        https(),
        keys(query([], failure="android_dns_cache_no_data"), control=control()),
        Verdict.BLOCKED,
        Blocking.DNS_NXDOMAIN,
        "answered NXDOMAIN",
    ),
    "DoH control resolver alone confirms a forged NXDOMAIN": Scenario(
        https(),
        keys(
            query([], failure="dns_nxdomain_error", rcode="NXDOMAIN"),
            doh=[doh([IP])],
            control_failure=TIMEOUT,
        ),
        Verdict.BLOCKED,
        Blocking.DNS_NXDOMAIN,
        "the control resolved 93.184.216.34",
    ),
    "lab range declared routable is not a bogon": Scenario(
        https(),
        keys(https_chain("203.0.113.10"), control=control(["203.0.113.10"])),
        Verdict.ACCESSIBLE,
        None,
        "over a verified TLS connection",
        context(routable=(ipaddress.ip_network("203.0.113.0/24"),)),
    ),
    "large truncated body: no body proportion (§11 #1)": Scenario(
        http(),
        keys(
            query([IP]),
            connect(IP, 80),
            fetch(f"http://{HOST}/", body=PAGE * 3, address=f"{IP}:80"),
            control=control(ports=(80, 443), body_length=32 << 20),
        ),
        Verdict.ACCESSIBLE,
        None,
        "with the control's page: the same title",
    ),
    "broken redirect to the probe only, cleartext (§11 #17)": Scenario(
        http(),
        keys(
            query([IP]),
            connect(IP, 80),
            redirect(f"http://{HOST}/", "http://"),
            control=control(ports=(80, 443)),
        ),
        Verdict.BLOCKED,
        Blocking.HTTP_DIFF,
        "status 302 vs 200",
    ),
    "broken redirect to the probe only, verified TLS (§11 #17)": Scenario(
        https(),
        keys(query([IP]), tls_step(), redirect(f"https://{HOST}/", "https://"), control=control()),
        Verdict.INCONCLUSIVE,
        None,
        "server-side refusal",
    ),
    "transparent proxy serving the genuine page over http (§11 #4)": Scenario(
        http(),
        keys(http_chain("5.6.7.8", validated=False), control=control(ports=(80, 443))),
        Verdict.ACCESSIBLE,
        None,
        "the page served there matches the control's",
    ),
    "whitelist: foreign controls and the target fail (§11 #29)": Scenario(
        https(),
        keys(query([IP]), tls_step(IP, "connection_reset"), control_failure="connection_reset"),
        Verdict.NETWORK_OUTAGE,
        None,
        "the failure is not particular to this target",
        context(site("before", False, "tls", "connection_reset")),
    ),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(name: str) -> None:
    case = SCENARIOS[name]
    result = judge(case.endpoint, case.keys, case.ctx)
    got = (result.verdict, result.blocking)
    assert got == (case.verdict, case.blocking), (
        f"{name}: (verdict, blocking) expected {(case.verdict, case.blocking)}, got {got}:"
        f" {result.reasons}"
    )
    joined = " | ".join(result.reasons)
    assert case.reason in joined, (
        f"{name}: reasons expected to contain {case.reason!r}, got {joined!r}"
    )


def test_first_layer_that_departs_names_the_method() -> None:
    # dns_hijack with a later TLS reset: one method, the other kept as evidence.
    case = SCENARIOS["spoofed DNS and a reset: DNS departs first (§11 #12)"]
    result = judge(case.endpoint, case.keys)
    assert result.reasons[0].startswith("udp resolver"), (
        f"first reason is the DNS one, got {result.reasons}"
    )


def test_inputs_are_not_mutated() -> None:
    case = SCENARIOS["flaky link: two timeouts then a page (§11 #26)"]
    before = case.keys.model_dump_json()
    judge(case.endpoint, case.keys)
    assert case.keys.model_dump_json() == before, "endpoint_verdict mutated its TestKeys"
