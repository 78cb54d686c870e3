"""measure.dns: answers, rcodes, failures and late replies through a real loopback DNS server."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import dns.message
import dns.rrset
import pytest
from hypothesis import given
from hypothesis import strategies as st
from servers import INJECTED_ADDRESS, DnsEntry, DnsServer, HttpServer, json_response, respond

from probe.errors import ConfigError
from probe.measure import _dns_udp, http
from probe.measure._clock import Clock
from probe.measure.dns import (
    ResolverSpec,
    parse_resolver,
    resolve,
    system_nameserver,
)
from probe.measure.tls import TrustStore
from probe.models.addresses import split_address
from probe.models.observations import DnsObservation

QUICK_S = 0.05  # late-reply window when a test does not look at late replies
TIMEOUT_S = 0.4


def _resolve(
    hostname: str, query_type: str, resolver: ResolverSpec, **options: Any
) -> DnsObservation:
    trust = options.pop("trust")

    async def run() -> DnsObservation:
        async with http.make_client(trust) as client:
            return await resolve(
                hostname,
                query_type,
                resolver,
                timeout_s=options.pop("timeout_s", TIMEOUT_S),
                late_reply_window_s=options.pop("late_reply_window_s", QUICK_S),
                clock=Clock(),
                tags=["attempt=1"],
                http_client=client,
                trust=trust,
                **options,
            )

    return asyncio.run(run())


def _answers(observation: DnsObservation) -> list[tuple[str, str | None, int | None]]:
    return [(a.answer_type, a.ipv4 or a.ipv6 or a.hostname, a.ttl) for a in observation.answers]


@pytest.fixture(scope="module")
def engines(dns_server: DnsServer, https_server: HttpServer) -> dict[str, ResolverSpec]:
    return {
        "udp": ResolverSpec("udp", dns_server.address),
        "system": ResolverSpec("system", dns_server.address),
        "tcp": ResolverSpec("tcp", dns_server.address),
        "dot": ResolverSpec("dot", dns_server.dot_address),
        "doh": ResolverSpec("doh", https_server.url("/dns-query")),
    }


# name: (hostname, query type, rcode, failure, answers as (type, value, ttl))
CASES: dict[str, tuple[str, str, str | None, str | None, list[tuple[str, str, int]]]] = {
    "a": ("site.test", "A", "NOERROR", None, [("A", "127.0.0.1", 300)]),
    "aaaa": ("site.test", "AAAA", "NOERROR", None, [("AAAA", "::1", 300)]),
    "cname_chain": (
        "alias.test",
        "A",
        "NOERROR",
        None,
        [("CNAME", "www.site.test", 30), ("CNAME", "site.test", 60), ("A", "127.0.0.1", 300)],
    ),
    "case_insensitive": ("SITE.Test", "A", "NOERROR", None, [("A", "127.0.0.1", 300)]),
    "nxdomain": ("nxdomain.test", "A", "NXDOMAIN", "dns_nxdomain_error", []),
    "unknown_name": ("not-in-zone.test", "A", "NXDOMAIN", "dns_nxdomain_error", []),
    "servfail": ("servfail.test", "A", "SERVFAIL", "dns_servfail_error", []),
    "refused": ("refused.test", "A", "REFUSED", "dns_refused_error", []),
    "no_records": ("noanswer.test", "A", "NOERROR", "dns_no_answer", []),
    "no_record_of_type": ("v4only.test", "AAAA", "NOERROR", "dns_no_answer", []),
    "malformed": ("malformed.test", "A", None, "dns_server_misbehaving", []),
    "timeout": ("timeout.test", "A", None, "generic_timeout_error", []),
}
ENGINES = ["udp", "system", "tcp", "dot", "doh"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES)
def test_resolve(
    case: str, engine: str, engines: dict[str, ResolverSpec], trust_store: TrustStore
) -> None:
    hostname, query_type, rcode, failure, answers = CASES[case]
    resolver = engines[engine]
    got = _resolve(hostname, query_type, resolver, trust=trust_store)
    where = f"{case}/{engine}"
    assert got.rcode == rcode, f"{where}: rcode expected {rcode}, got {got.rcode}"
    assert got.failure == failure, f"{where}: failure expected {failure}, got {got.failure}"
    assert _answers(got) == answers, f"{where}: answers expected {answers}, got {_answers(got)}"
    assert (got.engine, got.resolver_address) == (engine, resolver.address)
    assert (got.hostname, got.query_type, got.tags) == (hostname, query_type, ["attempt=1"])
    assert 0 <= got.t0 <= got.t
    if failure == "generic_timeout_error":
        assert TIMEOUT_S <= got.t - got.t0 < TIMEOUT_S + 1.0, f"{where}: took {got.t - got.t0}"
    assert got.x_late_replies == []


def test_injected_answer_first_and_genuine_one_late(
    dns_server: DnsServer, trust_store: TrustStore
) -> None:
    resolver = ResolverSpec("udp", dns_server.address)
    got = _resolve("injected.test", "A", resolver, trust=trust_store, late_reply_window_s=0.6)
    assert (got.rcode, got.failure) == ("NOERROR", None)
    assert _answers(got) == [("A", INJECTED_ADDRESS, 60)], "the forged reply arrives first"
    assert len(got.x_late_replies) == 1, got.x_late_replies
    late = got.x_late_replies[0]
    assert late.rcode == "NOERROR"
    assert [a.ipv4 for a in late.answers] == ["127.0.0.1"], "the genuine reply comes late"
    # `t` is when the first reply came; the genuine one arrives after it.
    assert got.t < got.t0 + 0.15 <= late.t, (late.t, got.t0, got.t)
    assert late.ip_ttl is not None and 0 < late.ip_ttl <= 255


def test_late_window_shorter_than_the_genuine_delay_records_nothing(
    dns_server: DnsServer, trust_store: TrustStore
) -> None:
    resolver = ResolverSpec("udp", dns_server.address)
    got = _resolve("injected.test", "A", resolver, trust=trust_store, late_reply_window_s=0.02)
    assert _answers(got) == [("A", INJECTED_ADDRESS, 60)]
    assert got.x_late_replies == []


def test_tcp_sees_only_the_genuine_answer(dns_server: DnsServer, trust_store: TrustStore) -> None:
    got = _resolve("injected.test", "A", ResolverSpec("tcp", dns_server.address), trust=trust_store)
    assert _answers(got) == [("A", "127.0.0.1", 300)]


def test_reply_with_wrong_id_is_ignored(dns_server: DnsServer, trust_store: TrustStore) -> None:
    got = _resolve("wrongid.test", "A", ResolverSpec("udp", dns_server.address), trust=trust_store)
    assert (got.failure, _answers(got)) == (None, [("A", "127.0.0.1", 300)])


def test_only_wrong_id_replies(dns_server: DnsServer, trust_store: TrustStore) -> None:
    dns_server.zone.set(
        "only-wrong-id.test", DnsEntry(a=("127.0.0.1",), wrong_id_first=True, delay_s=5)
    )
    got = _resolve(
        "only-wrong-id.test", "A", ResolverSpec("udp", dns_server.address), trust=trust_store
    )
    assert (got.rcode, got.failure) == (None, "dns_reply_with_wrong_query_id")


def test_slow_reply_within_timeout(dns_server: DnsServer, trust_store: TrustStore) -> None:
    got = _resolve("slow.test", "A", ResolverSpec("udp", dns_server.address), trust=trust_store)
    assert got.failure is None and got.t - got.t0 >= 0.3


def test_udp_port_unreachable_is_refused(trust_store: TrustStore) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    got = _resolve("site.test", "A", ResolverSpec("udp", f"127.0.0.1:{port}"), trust=trust_store)
    assert got.failure == "connection_refused"


def test_tcp_refused(closed_port: int, trust_store: TrustStore) -> None:
    got = _resolve(
        "site.test", "A", ResolverSpec("tcp", f"127.0.0.1:{closed_port}"), trust=trust_store
    )
    assert got.failure == "connection_refused"


def test_dot_with_an_untrusted_certificate(dns_server: DnsServer) -> None:
    got = _resolve(
        "site.test", "A", ResolverSpec("dot", dns_server.dot_address), trust=TrustStore()
    )
    assert (got.rcode, got.failure) == (None, "ssl_unknown_authority")


DOH_ROUTES = {
    "doh_status_500": (respond(b"oops", status=500), "http_request_failed"),
    "doh_html_instead_of_dns": (respond(b"<html>captive portal</html>"), "dns_server_misbehaving"),
    "doh_json_instead_of_dns": (json_response({"Status": 0}), "dns_server_misbehaving"),
}


@pytest.mark.parametrize("case", DOH_ROUTES)
def test_doh_misbehaving(case: str, https_server: HttpServer, trust_store: TrustStore) -> None:
    handler, failure = DOH_ROUTES[case]
    url = https_server.route(f"/{case}", handler)
    got = _resolve("site.test", "A", ResolverSpec("doh", url), trust=trust_store)
    assert (got.rcode, got.failure) == (None, failure), f"{case}: got {got.failure}"


def test_doh_request_is_rfc8484(
    dns_server: DnsServer, https_server: HttpServer, trust_store: TrustStore
) -> None:
    url = https_server.url("/dns-query")
    before = len(https_server.requests)
    _resolve("site.test", "A", ResolverSpec("doh", url), trust=trust_store)
    request = https_server.requests[before]
    assert (request.method, request.header("content-type")) == ("POST", "application/dns-message")
    assert dns.message.from_wire(request.body).id == 0
    assert (request.header("user-agent") or "").startswith("probe/")


def test_doh_needs_a_client(trust_store: TrustStore) -> None:
    async def run() -> None:
        await resolve(
            "site.test",
            "A",
            ResolverSpec("doh", "https://127.0.0.1/dns-query"),
            timeout_s=1,
            late_reply_window_s=0,
            clock=Clock(),
            tags=[],
        )

    with pytest.raises(ValueError, match="http_client"):
        asyncio.run(run())


@pytest.mark.parametrize(
    ("hostname", "answer"), [("127.0.0.1", ("A", "127.0.0.1")), ("::1", ("AAAA", "::1"))]
)
def test_ip_literal_needs_no_query(
    hostname: str, answer: tuple[str, str], closed_port: int, trust_store: TrustStore
) -> None:
    resolver = ResolverSpec("tcp", f"127.0.0.1:{closed_port}")  # would fail if it were asked
    got = _resolve(hostname, "A", resolver, trust=trust_store)
    assert (got.failure, got.engine, _answers(got)) == (None, "tcp", [(*answer, None)])


def test_name_dns_cannot_carry(dns_server: DnsServer, trust_store: TrustStore) -> None:
    got = _resolve(
        "a" * 64 + ".test", "A", ResolverSpec("udp", dns_server.address), trust=trust_store
    )
    assert (got.failure or "").startswith("unknown_failure: invalid name")


PARSE_CASES = {
    "udp://192.0.2.1": ("udp", "192.0.2.1:53"),
    "udp://192.0.2.1:5353": ("udp", "192.0.2.1:5353"),
    "tcp://192.0.2.1": ("tcp", "192.0.2.1:53"),
    "tls://192.0.2.1": ("dot", "192.0.2.1:853"),
    "tls://[2001:db8::1]": ("dot", "[2001:db8::1]:853"),
    "udp://[2001:db8::1]:5353": ("udp", "[2001:db8::1]:5353"),
    "udp://2001:db8::1": ("udp", "[2001:db8::1]:53"),
    "https://dns.example/dns-query": ("doh", "https://dns.example/dns-query"),
}


@pytest.mark.parametrize("spec", PARSE_CASES)
def test_parse_resolver(spec: str) -> None:
    got = parse_resolver(spec)
    assert (got.engine, got.address) == PARSE_CASES[spec], spec


@pytest.mark.parametrize(
    "spec",
    [
        "ftp://192.0.2.1",
        "udp://dns.example",
        "udp://192.0.2.1:99999",
        "tls://",
        "https://",
        "8.8.8.8",
    ],
)
def test_parse_resolver_rejects(spec: str) -> None:
    with pytest.raises(ConfigError, match=r"\[resolver\] servers"):
        parse_resolver(spec)


def test_parse_system_reads_resolv_conf() -> None:
    got = parse_resolver("system")
    assert got.engine == "system"
    assert split_address(got.address, 53)[1] == 53


RESOLV_CONF_CASES = {
    "first_nameserver": (
        "# comment\nsearch lan\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n",
        "192.0.2.53:53",
    ),
    "ipv6_with_scope": ("nameserver fe80::1%eth0\n", "[fe80::1%eth0]:53"),
    "skips_garbage": ("nameserver not-an-ip\nnameserver 192.0.2.9\n", "192.0.2.9:53"),
    "none": ("search lan\n", "127.0.0.1:53"),
}


@pytest.mark.parametrize("case", RESOLV_CONF_CASES)
def test_system_nameserver(case: str, tmp_path: Path) -> None:
    text, expected = RESOLV_CONF_CASES[case]
    path = tmp_path / "resolv.conf"
    path.write_text(text)
    assert system_nameserver(path) == expected, case


def test_system_nameserver_without_file(tmp_path: Path) -> None:
    assert system_nameserver(tmp_path / "missing") == "127.0.0.1:53"


@given(st.binary(max_size=600))
def test_any_bytes_parse_or_none(data: bytes) -> None:
    _dns_udp.parse_reply(data)  # never raises


def _reply_wire() -> bytes:
    query = dns.message.make_query("site.test", "A")
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text("site.test.", 60, "IN", "A", "192.0.2.1"))
    return reply.to_wire()


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=8))
def test_mutated_replies_never_crash_interpretation(mutations: list[tuple[int, int]]) -> None:
    from probe.measure.dns import _interpret

    wire = bytearray(_reply_wire())
    for position, value in mutations:
        if position < len(wire):
            wire[position] = value
    message = _dns_udp.parse_reply(bytes(wire))
    if message is not None:
        rcode, _, _ = _interpret(message, "A")
        assert isinstance(rcode, str)


def test_replies_are_timed_at_their_arrival_and_the_window_runs_from_the_first(
    dns_server: DnsServer, trust_store: TrustStore
) -> None:
    """Issue 19: the event loop is busy (here: blocked for BLOCKED_S right after the query is
    sent) while both replies arrive. Each keeps its arrival time (the kernel's), not the time
    it was read, and the genuine reply, which arrived within the window, is a late reply even
    though it was read after the window's end (window_end = first arrival + 0.6 s)."""
    resolver = ResolverSpec("udp", dns_server.address)
    blocked_s = 1.5

    async def run() -> DnsObservation:
        asyncio.get_running_loop().call_soon(time.sleep, blocked_s)  # after the send
        return await resolve(
            "injected.test", "A", resolver, timeout_s=5.0, late_reply_window_s=0.6,
            clock=Clock(), tags=[], trust=trust_store,
        )  # fmt: skip

    got = asyncio.run(run())
    assert _answers(got) == [("A", INJECTED_ADDRESS, 60)], "the forged reply arrives first"
    assert got.t < blocked_s, "the first reply's time is its arrival, not its late read"
    assert [[a.ipv4 for a in late.answers] for late in got.x_late_replies] == [["127.0.0.1"]]
    late = got.x_late_replies[0]
    assert got.t < late.t <= got.t + 0.6 < blocked_s, (got.t, late.t)
