"""measure.http: one GET, pinned or not, against hostile and well-behaved loopback servers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import tracemalloc
from typing import Any

import pytest
from servers import (
    PAGE_TITLE,
    HttpServer,
    ResetServer,
    ServerLoop,
    SilentServer,
    TestPki,
    page,
    redirect,
    respond,
)

import probe
from probe.measure import http
from probe.measure._clock import Clock
from probe.measure.tls import TrustStore
from probe.models.observations import BinaryData, HttpTransaction

CAP = 64 << 10
LIMIT = 1 << 20


def _request(
    trust: TrustStore,
    url: str,
    ip: str | None = None,
    *,
    timeout_s: float = 5.0,
    cap: int = CAP,
    limit: int = LIMIT,
) -> HttpTransaction:
    async def run() -> HttpTransaction:
        async with http.make_client(trust) as client:
            return await http.request(
                client,
                url,
                ip,
                timeout_s=timeout_s,
                body_cap_bytes=cap,
                body_read_limit_bytes=limit,
                clock=Clock(),
                tags=["attempt=1", "depth=0"],
            )

    return asyncio.run(run())


def _recorded(transaction: HttpTransaction) -> bytes:
    assert transaction.response is not None
    body = transaction.response.body
    return base64.b64decode(body.data) if isinstance(body, BinaryData) else body.encode()


def _echo(transaction: HttpTransaction) -> dict[str, Any]:
    assert transaction.failure is None and transaction.response is not None, transaction.failure
    return json.loads(_recorded(transaction))


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_user_agent_is_honest() -> None:
    agent = http.user_agent()
    assert agent.startswith(f"probe/{probe.__version__} (")
    assert "censorship measurement" in agent and http.PROJECT_URL in agent


def test_page(http_server: HttpServer, trust_store: TrustStore) -> None:
    got = _request(trust_store, http_server.url("/page"))
    response = got.response
    assert got.failure is None and response is not None
    assert (response.code, response.x_title) == (200, PAGE_TITLE)
    assert response.x_body_length == len(page()), "decoded bytes are counted past the cap"
    assert response.body_is_truncated and len(_recorded(got)) == CAP
    assert response.x_body_sha256 == hashlib.sha256(page()[:CAP]).hexdigest()
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert ("Content-Length", str(len(page()))) in response.headers_list
    assert (got.address, got.alpn) == (f"127.0.0.1:{http_server.port}", None)
    assert got.tags == ["attempt=1", "depth=0"] and 0 <= got.t0 <= got.t


def test_whole_page_under_the_cap(http_server: HttpServer, trust_store: TrustStore) -> None:
    got = _request(trust_store, http_server.url("/page"), cap=1 << 20)
    assert got.response is not None and not got.response.body_is_truncated
    assert got.response.body == page().decode()


def test_request_headers(http_server: HttpServer, trust_store: TrustStore) -> None:
    got = _request(trust_store, http_server.url("/echo"))
    sent = dict(_echo(got)["headers"])
    assert sent["User-Agent"] == http.user_agent()
    assert sent["Accept-Encoding"] == "gzip, deflate"
    for name, value in http.DEFAULT_HEADERS.items():
        assert sent[name] == value
    assert got.request.headers["User-Agent"] == http.user_agent(), "the record shows what was sent"
    assert (got.request.method, got.request.url) == ("GET", http_server.url("/echo"))


@pytest.mark.parametrize("path", ["/gzip", "/deflate"])
def test_compressed_page(path: str, http_server: HttpServer, trust_store: TrustStore) -> None:
    got = _request(trust_store, http_server.url(path))
    assert got.failure is None and got.response is not None
    assert (got.response.x_body_length, got.response.x_title) == (len(page()), PAGE_TITLE)


def test_raw_deflate_is_decoded(http_server: HttpServer, trust_store: TrustStore) -> None:
    import zlib

    squeezer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = squeezer.compress(page()) + squeezer.flush()
    url = http_server.route(
        "/raw-deflate", respond(body, headers=[("Content-Encoding", "deflate")])
    )
    got = _request(trust_store, url)
    assert got.response is not None and got.response.x_body_length == len(page())


def test_corrupt_gzip_is_a_failure_with_the_response(
    http_server: HttpServer, trust_store: TrustStore
) -> None:
    url = http_server.route(
        "/bad-gzip", respond(b"not gzip at all", headers=[("Content-Encoding", "gzip")])
    )
    got = _request(trust_store, url)
    assert (got.failure or "").startswith("unknown_failure: DecodingError")
    assert got.response is not None and got.response.code == 200


def test_gzip_bomb_is_bounded(http_server: HttpServer, trust_store: TrustStore) -> None:
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        got = _request(trust_store, http_server.url("/bomb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.failure is None and got.response is not None
    assert got.response.x_body_length <= LIMIT and got.response.body_is_truncated
    assert len(_recorded(got)) <= CAP
    assert peak < 8 * LIMIT, f"inflating 10 MiB must stay bounded: peak {peak} bytes"


def test_huge_body_stops_at_the_read_limit(
    http_server: HttpServer, trust_store: TrustStore
) -> None:
    got = _request(trust_store, http_server.url("/huge"), limit=2 << 20)
    assert got.failure is None and got.response is not None
    assert (got.response.x_body_length, got.response.body_is_truncated) == (2 << 20, True)
    assert got.t - got.t0 < 5


def test_slow_drip_times_out_with_what_arrived(
    http_server: HttpServer, trust_store: TrustStore
) -> None:
    got = _request(trust_store, http_server.url("/drip"), timeout_s=1.2)
    assert got.failure == "generic_timeout_error"
    assert got.response is not None and got.response.code == 200
    assert 1 <= got.response.x_body_length <= 3, got.response.x_body_length
    assert 1.2 <= got.t - got.t0 < 2.2, got.t - got.t0


def test_reset_mid_body_keeps_the_partial_response(
    http_server: HttpServer, trust_store: TrustStore
) -> None:
    got = _request(trust_store, http_server.url("/reset-body"))
    assert got.failure == "connection_reset"
    assert got.response is not None and got.response.code == 200
    assert got.response.x_body_length == 16 << 10 and got.response.x_title == PAGE_TITLE


@pytest.mark.parametrize(
    ("path", "failure"), [("/reset", "connection_reset"), ("/close", "eof_error")]
)
def test_no_response(
    path: str, failure: str, http_server: HttpServer, trust_store: TrustStore
) -> None:
    got = _request(trust_store, http_server.url(path))
    assert (got.failure, got.response) == (failure, None)
    assert got.address == f"127.0.0.1:{http_server.port}", "the peer is known from the connect"


def test_redirect_is_recorded_not_followed(
    http_server: HttpServer, trust_store: TrustStore
) -> None:
    url = http_server.route("/redirect-once", redirect("/redirect-target"))
    got = _request(trust_store, url)
    assert got.failure is None and got.response is not None
    assert (got.response.code, got.response.headers["Location"]) == (302, "/redirect-target")
    assert all(r.path != "/redirect-target" for r in http_server.requests)


def test_redirect_loop_is_one_response(http_server: HttpServer, trust_store: TrustStore) -> None:
    got = _request(trust_store, http_server.url("/redirect-loop"))
    assert got.response is not None and got.response.code == 302


def test_server_error_is_a_response_not_a_failure(
    http_server: HttpServer, trust_store: TrustStore
) -> None:
    got = _request(trust_store, http_server.url("/status/500"))
    assert got.failure is None and got.response is not None
    assert (got.response.code, got.response.x_title) == (500, "Internal error")


def test_binary_body_is_base64(http_server: HttpServer, trust_store: TrustStore) -> None:
    got = _request(trust_store, http_server.url("/binary"))
    assert got.response is not None and isinstance(got.response.body, BinaryData)
    assert _recorded(got) == bytes(range(256)) * 4


def test_latin1_page(http_server: HttpServer, trust_store: TrustStore) -> None:
    got = _request(trust_store, http_server.url("/latin1"))
    assert got.response is not None and isinstance(got.response.body, BinaryData)
    assert got.response.x_title == "Café"


def test_cut_inside_a_character_is_still_text(
    http_server: HttpServer, trust_store: TrustStore
) -> None:
    url = http_server.route("/utf8", respond(("é" * 2000).encode()))
    got = _request(trust_store, url, cap=1025)  # 1025 bytes end in the middle of an "é"
    assert got.response is not None and got.response.body == "é" * 512


# --- pinning: connect to an IP, keep Host and SNI ------------------------------------------------


def test_https_pinned_keeps_host_and_sni(https_server: HttpServer, trust_store: TrustStore) -> None:
    url = https_server.url("/echo", host="trusted.test")
    got = _request(trust_store, url, "127.0.0.1")
    echo = _echo(got)
    assert dict(echo["headers"])["Host"] == f"trusted.test:{https_server.port}"
    assert echo["server_name"] == "trusted.test"
    assert (got.address, got.alpn, got.request.url) == (
        f"127.0.0.1:{https_server.port}",
        "http/1.1",
        url,
    )


def test_http_pinned_keeps_host(http_server: HttpServer, trust_store: TrustStore) -> None:
    got = _request(trust_store, http_server.url("/echo", host="site.test"), "127.0.0.1")
    assert dict(_echo(got)["headers"])["Host"] == f"site.test:{http_server.port}"


def test_default_port_is_left_out_of_host(trust_store: TrustStore) -> None:
    got = _request(trust_store, "http://site.test/echo", "127.0.0.1", timeout_s=1)
    assert got.request.headers["Host"] == "site.test"  # the connect to :80 fails, the record stays


# The certificate must be checked against the URL host: the default certificate names
# 127.0.0.1, so a check against the IP would wrongly pass for other.test.
PINNED_FAILURES = {
    "unknown_authority": ("untrusted.test", "ssl_unknown_authority"),
    "expired": ("expired.test", "ssl_invalid_certificate"),
    "wrong_host": ("wrong.test", "ssl_invalid_hostname"),
    "checked_against_url_host": ("other.test", "ssl_invalid_hostname"),
}


@pytest.mark.parametrize("case", PINNED_FAILURES)
def test_pinned_certificate_is_verified_for_the_url_host(
    case: str, https_server: HttpServer, trust_store: TrustStore
) -> None:
    host, failure = PINNED_FAILURES[case]
    got = _request(trust_store, https_server.url("/page", host=host), "127.0.0.1")
    assert (got.failure, got.response) == (failure, None), f"{case}: got {got.failure}"


def test_concurrent_pinned_requests_keep_their_own_sni(
    https_server: HttpServer, trust_store: TrustStore
) -> None:
    hosts = ["trusted.test", "rsa.test"] * 3

    async def run() -> list[HttpTransaction]:
        async with http.make_client(trust_store) as client:
            return list(
                await asyncio.gather(
                    *(
                        http.request(
                            client,
                            https_server.url("/echo", host=host),
                            "127.0.0.1",
                            timeout_s=5,
                            body_cap_bytes=CAP,
                            body_read_limit_bytes=LIMIT,
                            clock=Clock(),
                            tags=[],
                        )
                        for host in hosts
                    )
                )
            )

    for host, got in zip(hosts, asyncio.run(run()), strict=True):
        assert _echo(got)["server_name"] == host, "one SNI must never reuse another's connection"


def test_no_keep_alive(http_server: HttpServer, trust_store: TrustStore) -> None:
    async def run() -> None:
        async with http.make_client(trust_store) as client:
            for _ in range(2):
                await http.request(
                    client,
                    http_server.url("/echo"),
                    None,
                    timeout_s=5,
                    body_cap_bytes=CAP,
                    body_read_limit_bytes=LIMIT,
                    clock=Clock(),
                    tags=[],
                )

    before = len(http_server.requests)
    asyncio.run(run())
    peers = {r.peer for r in http_server.requests[before:]}
    assert len(peers) == 2, "each request gets a connection of its own"


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this host has no IPv6 loopback (::1)")
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_pinned_to_ipv6(
    scheme: str, server_loop: ServerLoop, pki: TestPki, trust_store: TrustStore
) -> None:
    context = pki.server_context() if scheme == "https" else None
    with HttpServer(server_loop, host="::1", ssl_context=context) as server:
        got = _request(trust_store, server.url("/echo", host="trusted.test"), "::1")
        assert dict(_echo(got)["headers"])["Host"] == f"trusted.test:{server.port}"
        assert got.address == f"[::1]:{server.port}"


# --- failures before any response -----------------------------------------------------------------


def test_tls_timeout(silent_server: SilentServer, trust_store: TrustStore) -> None:
    got = _request(
        trust_store, f"https://trusted.test:{silent_server.port}/", "127.0.0.1", timeout_s=0.5
    )
    assert (got.failure, got.response) == ("generic_timeout_error", None)
    assert got.t - got.t0 < 1.5


def test_reset_on_client_hello(reset_server: ResetServer, trust_store: TrustStore) -> None:
    got = _request(trust_store, f"https://trusted.test:{reset_server.port}/", "127.0.0.1")
    assert (got.failure, got.response) == ("connection_reset", None)


def test_refused(closed_port: int, trust_store: TrustStore) -> None:
    got = _request(trust_store, f"http://site.test:{closed_port}/", "127.0.0.1")
    assert (got.failure, got.response, got.address) == ("connection_refused", None, None)


# None of these may reach a resolver: tests touch loopback only.
@pytest.mark.parametrize("url", ["http://[::g]/", "ftp://127.0.0.1/", "http:///nohost"])
def test_bad_url_is_a_failure(url: str, trust_store: TrustStore) -> None:
    got = _request(trust_store, url, timeout_s=1)
    assert (got.failure or "").startswith("unknown_failure: "), got.failure
    assert got.request.url == url


# --- title ---------------------------------------------------------------------------------------

TITLES = {
    "simple": (b"<html><title>Hello</title>", "Hello"),
    "whitespace": (b"<TITLE lang='en'>\n  Hello \t world \n</TITLE>", "Hello world"),
    "first_wins": (b"<title>One</title><title>Two</title>", "One"),
    "missing": (b"<html><body>no title</body>", None),
    "empty": (b"<title></title>", ""),
    "bounded": (b"<title>" + b"x" * 5000 + b"</title>", "x" * 256),
    "not_titlex": (b"<titlex>no</titlex>", None),
}


@pytest.mark.parametrize("case", TITLES)
def test_title(case: str) -> None:
    body, expected = TITLES[case]
    assert http.title(body) == expected, case


# --- the client ----------------------------------------------------------------------------------


def test_client_settings(trust_store: TrustStore) -> None:
    client = http.make_client(trust_store)
    try:
        assert client.follow_redirects is False and client.trust_env is False
    finally:
        asyncio.run(client.aclose())


def test_cookies_never_travel_between_requests(
    http_server: HttpServer, trust_store: TrustStore
) -> None:
    setter = http_server.route(
        "/set-cookie", respond(b"", headers=[("Set-Cookie", "id=42; Path=/")])
    )

    async def run() -> HttpTransaction:
        async with http.make_client(trust_store) as client:
            for url in (setter, http_server.url("/echo")):
                last = await http.request(
                    client,
                    url,
                    None,
                    timeout_s=5,
                    body_cap_bytes=CAP,
                    body_read_limit_bytes=LIMIT,
                    clock=Clock(),
                    tags=[],
                )
            return last

    sent = dict(_echo(asyncio.run(run()))["headers"])
    assert "Cookie" not in sent, "one target's cookies must not reach another request"


def test_a_failure_names_the_operation_it_happened_in(
    http_server: HttpServer,
    silent_server: SilentServer,
    reset_server: ResetServer,
    closed_port: int,
    trust_store: TrustStore,
) -> None:
    """Where a request failed (connect, TLS, read) decides tcp_* vs tls_* vs http_* later."""
    cases = {
        "refused": (f"http://site.test:{closed_port}/", "connect"),
        "tls_timeout": (f"https://trusted.test:{silent_server.port}/", "tls_handshake"),
        "reset_on_client_hello": (f"https://trusted.test:{reset_server.port}/", "tls_handshake"),
        "reset_after_request": (http_server.url("/reset"), "read"),
        "drip": (http_server.url("/drip"), "read"),
    }
    for case, (url, operation) in cases.items():
        got = _request(trust_store, url, "127.0.0.1", timeout_s=1.0)
        assert got.failure is not None, f"{case}: expected a failure"
        assert got.x_failed_operation == operation, (
            f"{case}: x_failed_operation expected {operation}, got {got.x_failed_operation}"
        )
    ok = _request(trust_store, http_server.url("/page"), "127.0.0.1")
    assert (ok.failure, ok.x_failed_operation) == (None, None)
