"""The destination policy and load shedding, case by case (pure: no sockets)."""

from __future__ import annotations

import ipaddress

import pytest

from probe.helper.guard import DestinationPolicy, LoadShedder
from probe.helper.legacy import dns_failure, http_failure, tcp_failure

REFUSED = {
    "loopback": "127.0.0.1",
    "loopback elsewhere in 127/8": "127.8.9.10",
    "this host (0.0.0.0)": "0.0.0.0",
    "rfc1918 10/8": "10.1.2.3",
    "rfc1918 172.16/12": "172.16.5.4",
    "rfc1918 192.168/16": "192.168.1.1",
    "link-local (cloud metadata)": "169.254.169.254",
    "carrier-grade nat": "100.64.0.1",
    "multicast": "224.0.0.1",
    "broadcast": "255.255.255.255",
    "ipv6 loopback": "::1",
    "ipv6 unspecified": "::",
    "ipv6 unique local fc00::/7": "fc00::1",
    "ipv6 unique local fd00::/8": "fd12:3456::1",
    "ipv6 link-local": "fe80::1",
    "ipv4-mapped loopback": "::ffff:127.0.0.1",
    "ipv4-mapped private": "::ffff:10.0.0.1",
    "nat64 of link-local": "64:ff9b::a9fe:a9fe",
    "6to4 of private": "2002:c0a8:0101::1",
    "documentation": "192.0.2.1",
    "not an address": "example.com",
    "empty": "",
}
ALLOWED = {
    "public ipv4": "8.8.8.8",
    "public ipv6": "2001:4860:4860::8888",
    "nat64 of public": "64:ff9b::808:808",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_policy_refuses_every_non_public_destination(case: str) -> None:
    assert not DestinationPolicy().allows(REFUSED[case]), f"{case}: {REFUSED[case]} was allowed"


@pytest.mark.parametrize("case", sorted(ALLOWED))
def test_policy_allows_public_destinations(case: str) -> None:
    assert DestinationPolicy().allows(ALLOWED[case]), f"{case}: {ALLOWED[case]} was refused"


def test_routable_opens_a_lab_range_but_never_loopback() -> None:
    policy = DestinationPolicy(
        [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "127.0.0.0/8", "::1/128", "0.0.0.0/8")]
    )
    assert policy.allows("10.1.2.3")
    for ip in ("127.0.0.1", "::1", "0.0.0.0", "::ffff:127.0.0.1"):
        assert not policy.allows(ip), f"{ip}: loopback must be refused even when routable"


def test_allow_loopback_still_needs_routable() -> None:
    policy = DestinationPolicy([ipaddress.ip_network("127.0.0.1/32")], allow_loopback=True)
    assert policy.allows("127.0.0.1")
    assert not policy.allows("127.0.0.2"), "loopback outside routable must stay refused"
    assert not policy.allows("::1")
    assert not policy.allows("10.0.0.1")


def test_load_shedding_serves_all_then_trusted_then_nobody() -> None:
    shedder = LoadShedder(max_in_flight_all=1, max_in_flight=2)
    with shedder.admission("curl/8") as first:
        assert first
        assert not shedder.admits("curl/8"), "a third-party client past the first limit"
        with shedder.admission("ooniprobe-cli/3.20") as second:
            assert second, "OONI probes are served up to the second limit"
            assert not shedder.admits("probe/0.1"), "past the second limit nobody is served"
            assert not shedder.admits("ooniprobe-cli/3.20")
        assert shedder.admits("probe/0.1 (+https://example.org)")
    assert shedder.in_flight == 0
    with shedder.admission("curl/8") as again:
        assert again


def test_refused_admissions_are_not_counted() -> None:
    shedder = LoadShedder(max_in_flight_all=1, max_in_flight=1)
    with shedder.admission("x"), shedder.admission("y") as refused:
        assert not refused
        assert shedder.in_flight == 1


LEGACY = {
    # (section, measured failure): legacy name (probe-cli oohelperd dns.go, tcptls.go, http.go)
    ("dns", None): None,
    ("dns", "dns_nxdomain_error"): "dns_name_error",
    ("dns", "dns_no_answer"): None,
    ("dns", "dns_servfail_error"): "dns_server_failure",
    ("dns", "dns_refused_error"): "dns_server_failure",
    ("dns", "dns_server_misbehaving"): "dns_server_failure",
    ("dns", "generic_timeout_error"): "unknown_error",
    ("tcp", None): None,
    ("tcp", "generic_timeout_error"): "generic_timeout_error",
    ("tcp", "connection_refused"): "connection_refused_error",
    ("tcp", "connection_reset"): "connect_error",
    ("tcp", "host_unreachable"): "connect_error",
    ("http", None): None,
    ("http", "dns_nxdomain_error"): "dns_lookup_error",
    ("http", "dns_no_answer"): "dns_lookup_error",
    ("http", "connection_refused"): "connection_refused_error",
    ("http", "generic_timeout_error"): "generic_timeout_error",
    ("http", "connection_reset"): "unknown_error",
    ("http", "ssl_unknown_authority"): "unknown_error",
}
_RENAMES = {"dns": dns_failure, "tcp": tcp_failure, "http": http_failure}


@pytest.mark.parametrize("case", list(LEGACY), ids=lambda c: f"{c[0]}-{c[1]}")
def test_failures_get_the_legacy_names(case: tuple[str, str | None]) -> None:
    section, failure = case
    got = _RENAMES[section](failure)
    assert got == LEGACY[case], f"{section} {failure}: expected {LEGACY[case]}, got {got}"
