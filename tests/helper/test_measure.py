"""What the helper measures, against loopback servers standing in for the internet."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
from servers import PAGE_TITLE, page

from probe.models.control import (
    IP_FLAG_RESOLVED_BY_HELPER,
    IP_FLAG_RESOLVED_BY_PROBE,
    IP_FLAG_VALID_FOR_DOMAIN,
    ControlResponse,
)

from .conftest import StartHelper
from .loopback import HOP, SITE, Internet, RunningHelper, control, write_asn_database

BOTH = IP_FLAG_RESOLVED_BY_PROBE | IP_FLAG_RESOLVED_BY_HELPER


def test_https_url(internet: Internet, helper: RunningHelper) -> None:
    endpoint = f"127.0.0.1:{internet.https.port}"
    url = internet.url(tls=True)
    result = control(helper, {"http_request": url, "tcp_connect": [endpoint]})
    assert result.tcp_connect[endpoint].status is True
    assert result.tcp_connect[endpoint].failure is None
    handshake = result.tls_handshake[endpoint]
    assert (handshake.status, handshake.failure, handshake.server_name) == (True, None, SITE)
    certificate = handshake.x_certificate
    assert certificate is not None
    assert "*.site.test" in certificate.san
    assert len(certificate.spki_sha256) == 64 and len(certificate.sha256) == 64
    assert len(handshake.x_chain_issuers) == 2, "leaf and intermediate"
    assert handshake.x_chain_issuers[0] == certificate.issuer
    assert result.dns.failure is None and result.dns.addrs == ["127.0.0.1"]
    assert result.ip_info["127.0.0.1"].flags == BOTH | IP_FLAG_VALID_FOR_DOMAIN
    assert result.ip_info["127.0.0.1"].asn == 0, "no ASN database configured"
    http = result.http_request
    assert (http.failure, http.status_code, http.title) == (None, 200, PAGE_TITLE)
    assert http.body_length == len(page())
    assert http.x_body_sha256 == hashlib.sha256(page()).hexdigest()
    assert http.headers["X-Test"] == "yes"
    assert http.headers["Content-Type"] == "text/html; charset=utf-8", "Go's header spelling"
    assert http.x_final_url == url
    assert result.quic_handshake == {} and result.http3_request is None


def test_http_url_connects_without_tls(internet: Internet, helper: RunningHelper) -> None:
    endpoint = f"127.0.0.1:{internet.http.port}"
    result = control(helper, {"http_request": internet.url(), "tcp_connect": [endpoint]})
    assert list(result.tcp_connect) == [endpoint] and result.tcp_connect[endpoint].status
    assert result.tls_handshake == {}, "a custom http port gets no TLS handshake"
    assert result.ip_info["127.0.0.1"].flags == BOTH
    assert result.http_request.status_code == 200


def test_ooni_style_request_with_unknown_fields(internet: Internet, helper: RunningHelper) -> None:
    body = {
        "http_request": internet.url(tls=True),
        "http_request_headers": {
            "Accept": ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
            "Accept-Language": ["en-US,en;q=0.9"],
            "User-Agent": ["Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Safari/605.1.15"],
        },
        "tcp_connect": [f"127.0.0.1:{internet.https.port}"],
        "x_quic_enabled": False,
        "x_something_new": {"nested": [1, 2, 3]},
    }
    result = control(helper, body)
    assert result.http_request.status_code == 200


def test_only_ua_accept_and_language_are_forwarded(
    internet: Internet, helper: RunningHelper
) -> None:
    headers = {
        "User-Agent": ["ooniprobe-android/3.8.0"],
        "accept-language": ["fr-FR"],
        "Cookie": ["session=secret"],
        "Authorization": ["Bearer secret"],
        "X-Forwarded-For": ["203.0.113.9"],
    }
    url = internet.url("/helper/headers")
    result = control(helper, {"http_request": url, "http_request_headers": headers})
    echoed = {k.removeprefix("X-Echo-").lower(): v for k, v in result.http_request.headers.items()}
    assert echoed["user-agent"] == "ooniprobe-android/3.8.0"
    assert echoed["accept-language"] == "fr-FR"
    assert echoed["accept"].startswith("text/html"), "our default Accept when none is given"
    assert echoed["host"] == f"{SITE}:{internet.http.port}"
    for name in ("cookie", "authorization", "x-forwarded-for"):
        assert name not in echoed, f"{name} was forwarded"


def test_header_values_that_could_split_a_request_are_dropped(
    internet: Internet, helper: RunningHelper
) -> None:
    headers = {"User-Agent": ["evil\r\nX-Injected: 1"]}
    url = internet.url("/helper/headers")
    result = control(helper, {"http_request": url, "http_request_headers": headers})
    echoed = {k.lower() for k in result.http_request.headers}
    assert "x-echo-x-injected" not in echoed
    assert result.http_request.headers["X-Echo-User-Agent"].startswith("probe/")


def test_redirects_are_followed_through_new_hosts(
    internet: Internet, helper: RunningHelper
) -> None:
    final = internet.url(tls=True, host=HOP)
    result = control(helper, {"http_request": internet.redirect(final)})
    assert result.http_request.status_code == 200
    assert result.http_request.x_final_url == final


def test_the_chain_keeps_cookies(internet: Internet, helper: RunningHelper) -> None:
    """probe#2488: a site that redirects to itself until its cookie comes back."""
    result = control(helper, {"http_request": internet.url("/helper/cookie")})
    assert result.http_request.status_code == 200, result.http_request


def test_too_many_redirects(internet: Internet, start_helper: StartHelper) -> None:
    helper = start_helper(internet.settings(measure={"max_redirects": 3}))
    result = control(helper, {"http_request": internet.url("/redirect-loop")})
    assert result.http_request.failure == "unknown_error"
    assert (result.http_request.status_code, result.http_request.body_length) == (-1, -1)


DNS_FAILURES = {
    # name in the shared zone: (dns.failure, http_request.failure)
    "nxdomain.test": ("dns_name_error", "dns_lookup_error"),
    "servfail.test": ("dns_server_failure", "dns_lookup_error"),
    "refused.test": ("dns_server_failure", "dns_lookup_error"),
    "noanswer.test": (None, "dns_lookup_error"),
    "timeout.test": ("unknown_error", "generic_timeout_error"),
}


@pytest.mark.parametrize("name", sorted(DNS_FAILURES))
def test_dns_failures_get_legacy_names(name: str, helper: RunningHelper) -> None:
    dns_failure, http_failure = DNS_FAILURES[name]
    result = control(helper, {"http_request": f"https://{name}/"})
    assert result.dns.failure == dns_failure, f"{name}: dns {result.dns}"
    assert result.dns.addrs == []
    assert result.http_request.failure == http_failure, f"{name}: {result.http_request}"
    assert result.http_request.body_length == -1


def test_refused_connections(helper: RunningHelper, closed_port: int) -> None:
    result = control(helper, {"http_request": f"https://{SITE}:{closed_port}/"})
    endpoint = f"127.0.0.1:{closed_port}"
    assert result.tcp_connect[endpoint].failure == "connection_refused_error"
    assert endpoint not in result.tls_handshake, "no handshake without a connection"
    assert result.http_request.failure == "connection_refused_error"


TLS_FAILURES = {
    "wrong.test": ("ssl_invalid_hostname", "other.test"),
    "untrusted.test": ("ssl_unknown_authority", "untrusted.test"),
    "expired.test": ("ssl_invalid_certificate", "expired.test"),
}


@pytest.mark.parametrize("name", sorted(TLS_FAILURES))
def test_invalid_certificates_are_still_summarised(
    name: str, internet: Internet, helper: RunningHelper
) -> None:
    failure, named = TLS_FAILURES[name]
    endpoint = f"127.0.0.1:{internet.https.port}"
    result = control(helper, {"http_request": internet.url("/", tls=True, host=name)})
    handshake = result.tls_handshake[endpoint]
    assert (handshake.status, handshake.failure) == (False, failure), name
    assert handshake.x_certificate is not None, f"{name}: the chain is summarised when refused"
    assert named in handshake.x_certificate.san
    assert result.ip_info["127.0.0.1"].flags == IP_FLAG_RESOLVED_BY_HELPER, "no TLS-valid flag"
    assert result.http_request.failure == "unknown_error"


def test_ip_literal_url(internet: Internet, helper: RunningHelper) -> None:
    result = control(helper, {"http_request": internet.url(host="127.0.0.1")})
    assert result.dns.failure is None and result.dns.addrs == ["127.0.0.1"]
    assert result.http_request.status_code == 200


def test_slow_drip_times_out(internet: Internet, start_helper: StartHelper) -> None:
    helper = start_helper(internet.settings(timeouts={"http": 0.5}))
    result = control(helper, {"http_request": internet.url("/drip")})
    assert result.http_request.failure == "generic_timeout_error"


def test_asn_from_the_configured_database(
    internet: Internet, start_helper: StartHelper, tmp_path: Path
) -> None:
    database = tmp_path / "asn.mmdb"
    write_asn_database(database, {"127.0.0.0/8": 64500})
    helper = start_helper(internet.settings(geoip={"asn_db": str(database)}))
    result = control(helper, {"http_request": internet.url(), "tcp_connect": ["[fd00::1]:80"]})
    assert result.ip_info["127.0.0.1"].asn == 64500
    assert result.ip_info["fd00::1"].asn == 0, "an address the database does not know"
    # Issue 20: the network the helper sees the probe from names it when the probe has no
    # ASN database of its own.
    assert result.x_client_asn == "AS64500"


def test_no_client_asn_without_a_database(internet: Internet, helper: RunningHelper) -> None:
    assert control(helper, {"http_request": internet.url()}).x_client_asn is None


def test_doh_resolver(internet: Internet, start_helper: StartHelper) -> None:
    doh = internet.https.url("/dns-query", host="127.0.0.1")  # the certificate names it
    helper = start_helper(internet.settings(resolver={"servers": [doh]}))
    result = control(helper, {"http_request": internet.url()})
    assert result.dns.addrs == ["127.0.0.1"]
    assert result.http_request.status_code == 200


def test_responses_are_ooni_json(internet: Internet, helper: RunningHelper) -> None:
    """Every top-level key of OONI's control response is present, with OONI's null/{} shapes."""
    with httpx.Client(timeout=30) as client:
        response = client.post(helper.url, json={"http_request": internet.url()})
    assert response.headers["content-type"] == "application/json"
    assert "server" not in response.headers
    body = json.loads(response.content)
    keys = {"tcp_connect", "tls_handshake", "quic_handshake", "http3_request", "dns"}
    assert keys | {"http_request", "ip_info"} <= set(body)
    ControlResponse.model_validate(body)


def test_the_helper_echoes_the_client_address_for_scrubbing(
    internet: Internet, helper: RunningHelper
) -> None:
    response = control(helper, {"http_request": internet.url(), "tcp_connect": []})
    assert response.x_client_address == "127.0.0.1"
