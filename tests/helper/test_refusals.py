"""Everything the helper refuses, proven against the real server on loopback.

Destinations: the trap on 127.0.0.2 counts connections, so a refusal there is proven by zero
hits; for ranges no test can listen on (10/8, 192.168/16, 169.254/16, fc00::/7) the proof is the
response: no tcp_connect entry, the bogon flag in ip_info, and an HTTP failure without a dial.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from probe.models.control import IP_FLAG_BOGON, ControlResponse

from .conftest import StartHelper
from .loopback import OONI_UA, Internet, RunningHelper, control, post

OTHER_UA = "curl/8.5.0"


def assert_skipped(result: ControlResponse, ip: str) -> None:
    dialled = [key for key in result.tcp_connect if key.rsplit(":", 1)[0].strip("[]") == ip]
    assert not dialled, f"{ip} was dialled: {dialled}"
    assert ip in result.ip_info, f"{ip} missing from ip_info {result.ip_info}"
    assert result.ip_info[ip].flags & IP_FLAG_BOGON, f"{ip} not flagged as bogon"


# --- destinations ----------------------------------------------------------------------------

PROBE_SUPPLIED = {
    "10/8": "10.1.2.3:443",
    "192.168/16": "192.168.1.1:443",
    "169.254/16 link-local (cloud metadata)": "169.254.169.254:80",
    "ipv6 loopback": "[::1]:443",
    "ipv6 unique local fc00::/7": "[fd00::1]:443",
    "loopback outside routable": "127.0.0.2:443",
}


@pytest.mark.parametrize("case", sorted(PROBE_SUPPLIED))
def test_probe_supplied_bogons_are_not_dialled(
    case: str, internet: Internet, helper: RunningHelper
) -> None:
    entry = PROBE_SUPPLIED[case]
    result = control(helper, {"http_request": internet.url(tls=True), "tcp_connect": [entry]})
    assert_skipped(result, entry.rsplit(":", 1)[0].strip("[]"))
    assert result.http_request.status_code == 200, f"{case}: the site itself must still load"


DNS_ANSWERS = {
    "10/8": ("helper-ten.test", "10.0.0.1"),
    "192.168/16": ("helper-private.test", "192.168.1.1"),
    "169.254/16 link-local (cloud metadata)": ("helper-metadata.test", "169.254.169.254"),
    "ipv6 loopback": ("helper-ipv6-loopback.test", "::1"),
    "ipv6 unique local fc00::/7": ("helper-ula.test", "fc00::1"),
}


@pytest.mark.parametrize("case", sorted(DNS_ANSWERS))
def test_bogons_in_our_dns_answers_are_not_dialled(
    case: str, internet: Internet, helper: RunningHelper
) -> None:
    name, ip = DNS_ANSWERS[case]
    result = control(helper, {"http_request": f"http://{name}/"})
    assert result.dns.addrs == [ip], f"{case}: the answer is still reported"
    assert_skipped(result, ip)
    assert result.http_request.failure == "unknown_error", f"{case}: {result.http_request}"
    assert result.http_request.status_code == -1


def test_bogon_via_dns_answer_never_reaches_the_trap(
    internet: Internet, helper: RunningHelper
) -> None:
    before = internet.trap.hits
    result = control(
        helper,
        {
            "http_request": f"http://helper-trap.test:{internet.trap.port}/",
            "tcp_connect": [f"127.0.0.2:{internet.trap.port}"],
        },
    )
    assert_skipped(result, "127.0.0.2")
    assert result.http_request.failure == "unknown_error"
    assert internet.trap.hits == before, "the helper connected to a refused address"


def test_only_the_allowed_address_of_a_mixed_answer_is_dialled(
    internet: Internet, helper: RunningHelper
) -> None:
    before = internet.trap.hits
    result = control(helper, {"http_request": internet.url(host="helper-mixed.test")})
    assert sorted(result.tcp_connect) == [f"127.0.0.1:{internet.http.port}"]
    assert result.http_request.status_code == 200
    for ip in ("127.0.0.2", "10.0.0.1"):
        assert_skipped(result, ip)
    assert internet.trap.hits == before


def test_loopback_is_refused_even_when_listed_as_routable(
    internet: Internet, start_helper: StartHelper
) -> None:
    """A deployed helper (no allow_loopback) never dials its own host, whatever `routable` says."""
    settings = internet.settings(network={"routable": ["127.0.0.0/8", "::1/128"]})
    helper = start_helper(settings, allow_loopback=False)
    before = internet.trap.hits
    result = control(
        helper,
        {
            "http_request": f"http://helper-trap.test:{internet.trap.port}/",
            "tcp_connect": [f"127.0.0.2:{internet.trap.port}", "[::1]:443"],
        },
    )
    assert_skipped(result, "127.0.0.2")
    assert_skipped(result, "::1")
    assert internet.trap.hits == before, "a deployed helper reached its own host"


REDIRECTS = {
    "to a name answering loopback outside routable": "http://helper-trap.test:{trap}/",
    "to an IP literal outside routable": "http://127.0.0.2:{trap}/",
    "to 10/8": "http://10.0.0.1/",
    "to link-local cloud metadata": "http://169.254.169.254/latest/meta-data/",
    "to ipv6 loopback": "http://[::1]:{trap}/",
}


@pytest.mark.parametrize("case", sorted(REDIRECTS))
def test_redirect_hops_to_bogons_are_refused(
    case: str, internet: Internet, helper: RunningHelper
) -> None:
    hop = REDIRECTS[case].format(trap=internet.trap.port)
    before = internet.trap.hits
    result = control(helper, {"http_request": internet.redirect(hop)})
    assert result.http_request.failure == "unknown_error", f"{case}: {result.http_request}"
    assert result.http_request.x_final_url == hop
    assert internet.trap.hits == before, f"{case}: the redirect reached the trap"


# --- requests --------------------------------------------------------------------------------

SCHEMES = ["ftp://site.test/", "file:///etc/passwd", "gopher://site.test/", "javascript:alert(1)"]


@pytest.mark.parametrize("url", SCHEMES)
def test_non_http_schemes_are_refused(url: str, internet: Internet, helper: RunningHelper) -> None:
    response = post(helper, {"http_request": url})
    assert response.status_code == 400
    assert "scheme" in response.json()["error"], response.text


BAD_BODIES = {
    "malformed JSON": (b'{"http_request": "http://site.test/"', "malformed JSON"),
    "not an object": (b'["http://site.test/"]', "invalid control request"),
    "a string where a list is expected": (
        b'{"http_request": "http://site.test/", "tcp_connect": "127.0.0.1:80"}',
        "tcp_connect",
    ),
    "a number where a string is expected": (b'{"http_request": 80}', "http_request"),
    "headers as strings, not lists": (
        b'{"http_request": "http://site.test/", "http_request_headers": {"Accept": "*/*"}}',
        "http_request_headers",
    ),
    "missing URL": (b'{"tcp_connect": []}', "http_request"),
    "URL without a host": (b'{"http_request": "http:///path"}', "no host"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_requests_get_400_naming_the_problem(
    case: str, internet: Internet, helper: RunningHelper
) -> None:
    body, named = BAD_BODIES[case]
    with httpx.Client(timeout=10) as client:
        response = client.post(helper.url, content=body)
    assert response.status_code == 400, f"{case}: {response.status_code} {response.text}"
    assert named in response.json()["error"], f"{case}: {response.json()['error']!r}"


def _chunks(total: int) -> Iterator[bytes]:
    for _ in range(total // 1024):
        yield b" " * 1024


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_oversized_bodies_get_413(
    declared: bool, internet: Internet, start_helper: StartHelper
) -> None:
    helper = start_helper(internet.settings(helper={"max_request_bytes": 4096}))
    body = b'{"http_request": "http://site.test/"}' + b" " * 16384
    with httpx.Client(timeout=10) as client:
        content: Any = body if declared else _chunks(16384)
        response = client.post(helper.url, content=content)
    assert response.status_code == 413, response.text
    assert "4096" in response.json()["error"]


def test_a_body_that_never_arrives_gets_408(internet: Internet, start_helper: StartHelper) -> None:
    helper = start_helper(internet.settings(helper={"body_timeout": 0.5}))
    port = int(helper.url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:100]


def test_at_most_max_endpoints_are_measured(internet: Internet, start_helper: StartHelper) -> None:
    helper = start_helper(
        internet.settings(network={"routable": ["127.0.0.0/24"]}, helper={"max_endpoints": 3})
    )
    port = internet.https.port
    entries = [f"127.0.0.{n}:{port}" for n in range(10, 30)]
    result = control(helper, {"http_request": internet.url(tls=True), "tcp_connect": entries})
    assert len(result.tcp_connect) == 3, sorted(result.tcp_connect)
    probe_ips = [ip for ip, info in result.ip_info.items() if info.flags & 1]
    assert probe_ips == ["127.0.0.10", "127.0.0.11", "127.0.0.12"]


def test_unknown_paths_and_methods_get_json_errors(
    internet: Internet, helper: RunningHelper
) -> None:
    with httpx.Client(timeout=10) as client:
        missing = client.get(helper.url + "nothing-here")
        wrong = client.put(helper.url, content=b"{}")
    assert missing.status_code == 404 and "error" in missing.json()
    assert wrong.status_code == 405 and "error" in wrong.json()


# --- load shedding ---------------------------------------------------------------------------


def _wait_in_flight(helper: RunningHelper, count: int) -> None:
    deadline = time.monotonic() + 5
    while helper.app.state.shedder.in_flight < count:
        assert time.monotonic() < deadline, f"never reached {count} requests in flight"
        time.sleep(0.01)


def test_load_shedding_as_oonis_probe_2649(internet: Internet, start_helper: StartHelper) -> None:
    """Past the first limit only probes are served; past the second, nobody (503)."""
    helper = start_helper(internet.settings(helper={"max_in_flight_all": 1, "max_in_flight": 2}))
    slow = {"http_request": internet.url("/drip")}
    quick = {"http_request": internet.url()}
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=2) as pool:
        with lock:
            first: Future[httpx.Response] = pool.submit(post, helper, slow, user_agent=OTHER_UA)
        _wait_in_flight(helper, 1)
        third_party = post(helper, quick, user_agent=OTHER_UA)
        second = pool.submit(post, helper, slow, user_agent=OONI_UA)
        _wait_in_flight(helper, 2)
        our_probe = post(helper, quick, user_agent="probe/0.1.0")
        ooni_probe = post(helper, quick, user_agent=OONI_UA)
        held = [first.result(), second.result()]
    assert third_party.status_code == 503, "a third-party client past max_in_flight_all"
    assert our_probe.status_code == 503 and ooni_probe.status_code == 503, "past max_in_flight"
    assert "error" in third_party.json()
    for response in held:
        assert response.status_code == 200
        assert response.json()["http_request"]["failure"] == "generic_timeout_error"
    assert post(helper, quick, user_agent=OTHER_UA).status_code == 200, "served again after"


def test_deeply_nested_json_is_a_400_not_a_crash(helper: RunningHelper) -> None:
    body = b'{"http_request": "http://site.test/", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with httpx.Client(timeout=10) as client:
        response = client.post(helper.url, content=body)
    assert response.status_code == 400 and "malformed JSON" in response.json()["error"]


def test_go_nulls_are_accepted(internet: Internet, helper: RunningHelper) -> None:
    """websiteDownNXDOMAIN: OONI's Go probes send `"tcp_connect": null` for "nothing resolved"."""
    body = {"http_request": internet.url(), "tcp_connect": None}
    result = control(helper, {**body, "http_request_headers": None})
    assert result.http_request.status_code == 200
