"""The URL and endpoint parsing the helper does before dialling anything (pure)."""

from __future__ import annotations

import pytest

from probe.helper.target import parse_target, split_endpoint

VALID = {
    # url: (host, port, ports measured, ports with TLS)
    "https://example.org/": ("example.org", None, (443,), (443,)),
    "http://example.org/": ("example.org", None, (80, 443), (443,)),
    "http://Example.ORG:8080/x": ("example.org", 8080, (8080,), ()),
    "https://example.org:8443/": ("example.org", 8443, (8443,), (8443,)),
    "http://example.org:443/": ("example.org", 443, (443,), (443,)),
    "https://[2001:db8::1]/": ("2001:db8::1", None, (443,), (443,)),
    "http://93.184.216.34/": ("93.184.216.34", None, (80, 443), (443,)),
    "https://яндекс.рф/": ("xn--d1acpjx3f.xn--p1ai", None, (443,), (443,)),
    "https://example.org./": ("example.org", None, (443,), (443,)),
}


@pytest.mark.parametrize("url", sorted(VALID))
def test_valid_urls(url: str) -> None:
    target = parse_target(url)
    host, port, ports, with_tls = VALID[url]
    assert (target.host, target.port, target.ports) == (host, port, ports), url
    assert tuple(p for p in target.ports if target.uses_tls(p)) == with_tls, url


INVALID = {
    "ftp://example.org/": "scheme",
    "example.org": "scheme",
    "http:///nohost": "no host",
    "http://example.org:99999/": "invalid URL",
    "http://example.org:0/": "port 0",
    "http://bad_label-.example/": "invalid host name",
    "http://" + "a" * 64 + ".example/": "invalid host name",
    "http://exa mple.org/": "invalid host name",
}


@pytest.mark.parametrize("url", sorted(INVALID))
def test_invalid_urls_name_the_problem(url: str) -> None:
    with pytest.raises(ValueError, match=INVALID[url]):
        parse_target(url)


ENDPOINTS = {
    "93.184.216.34:443": "93.184.216.34",
    "[2001:db8::1]:80": "2001:db8::1",
    "[2001:DB8:0::1]:80": "2001:db8::1",
    "2001:db8::1:80": None,  # IPv6 needs brackets, as in Go's net.SplitHostPort
    "example.org:443": None,
    "93.184.216.34": None,
    "93.184.216.34:0": None,
    "93.184.216.34:70000": None,
    "[93.184.216.34]:443": None,
    "": None,
}


@pytest.mark.parametrize("entry", sorted(ENDPOINTS))
def test_tcp_connect_entries(entry: str) -> None:
    assert split_endpoint(entry) == ENDPOINTS[entry], entry
