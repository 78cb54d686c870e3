"""Hosts, URLs and "host:port" strings normalise to what we measure, or are refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.errors import TargetError
from probe.models.targets import Endpoint, EndpointKind
from probe.targets.hosts import normalize_host, normalize_url, tcp_endpoint, web_endpoint

HOSTS = {
    "ascii_lowered": ("Kaspi.KZ", "kaspi.kz"),
    "trailing_dot_dropped": ("example.com.", "example.com"),
    "cyrillic_idn": ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
    "cyrillic_upper_case_folded": ("ПРИМЕР.РФ", "xn--e1afmkfd.xn--p1ai"),
    "a_label_kept": ("XN--E1AFMKFD.XN--P1AI", "xn--e1afmkfd.xn--p1ai"),
    # IDNA 2008 / UTS #46 non-transitional, as browsers: Python's IDNA 2003 codec gives fass.de.
    "sharp_s_not_mapped_to_ss": ("faß.de", "xn--fa-hia.de"),
    "full_width_dot": ("example。com", "example.com"),
    "mixed_ascii_and_unicode_labels": ("www.Bücher.de", "www.xn--bcher-kva.de"),
    "double_hyphen_in_ascii_label": (
        "rr3---sn-abc.googlevideo.com",
        "rr3---sn-abc.googlevideo.com",
    ),
    "single_label": ("localhost", "localhost"),
    "ipv4": ("149.154.167.51", "149.154.167.51"),
    "ipv6_compressed_lowered": ("2001:DB8:0:0::1", "2001:db8::1"),
    "ipv6_in_brackets": ("[2001:db8::1]", "2001:db8::1"),
    "label_of_63": ("a" * 63 + ".com", "a" * 63 + ".com"),
}

BAD_HOSTS = {
    "empty": ("", "no host name"),
    "only_a_dot": (".", "no host name"),
    "label_of_64": ("a" * 64 + ".com", "longer than 63"),
    "name_of_254": (".".join(["a" * 50] * 5) + ".com", "longer than 253"),
    "empty_label": ("a..com", "empty label"),
    "leading_dot": (".example.com", "empty label"),
    "underscore": ("a_b.com", "letters, digits and inner hyphens"),
    "leading_hyphen": ("-a.com", "letters, digits and inner hyphens"),
    "trailing_hyphen": ("a-.com", "letters, digits and inner hyphens"),
    "percent": ("a%2e.com", "letters, digits and inner hyphens"),
    "bogus_a_label": ("xn--zz.com", "not a valid IDNA A-label"),
    "emoji_disallowed": ("☃.net", "invalid internationalised domain name"),
    "unicode_label_too_long": ("ж" * 70 + ".ru", "invalid internationalised domain name"),
    "numeric_tld": ("1.2.3.999", "IPv4"),
    "leading_zero_ipv4": ("010.1.1.1", "IPv4"),
    "ipv4_in_brackets": ("[1.2.3.4]", "not an IPv6 address"),
    "scoped_ipv6": ("fe80::1%eth0", "scoped IPv6"),
}

URLS = {
    "root_kept": ("https://www.instagram.com/", "https://www.instagram.com/", 443),
    "empty_path_becomes_slash": ("https://example.com", "https://example.com/", 443),
    "path_and_query_kept": ("http://kaspi.kz/path?q", "http://kaspi.kz/path?q", 80),
    "query_without_path": ("http://kaspi.kz?q=1", "http://kaspi.kz/?q=1", 80),
    "scheme_and_host_lowered": ("HTTPS://Kaspi.KZ/A", "https://kaspi.kz/A", 443),
    "default_port_dropped": ("https://example.com:443/", "https://example.com/", 443),
    "other_port_kept": ("http://example.com:8080/x", "http://example.com:8080/x", 8080),
    "https_on_port_80": ("https://example.com:80/", "https://example.com:80/", 80),
    "empty_port_is_default": ("http://example.com:/", "http://example.com/", 80),
    "fragment_dropped": ("https://example.com/a#top", "https://example.com/a", 443),
    "idn_host_and_path": (
        "https://пример.рф/путь",
        "https://xn--e1afmkfd.xn--p1ai/%D0%BF%D1%83%D1%82%D1%8C",
        443,
    ),
    "percent_escapes_kept": ("https://example.com/%41", "https://example.com/%41", 443),
    "ipv4_host": ("http://95.161.76.100/", "http://95.161.76.100/", 80),
    "ipv6_host": ("http://[2001:DB8::1]:8080", "http://[2001:db8::1]:8080/", 8080),
}

BAD_URLS = {
    "ftp_scheme": ("ftp://example.com/", "unsupported scheme 'ftp'"),
    "file_scheme": ("file:///etc/passwd", "unsupported scheme 'file'"),
    "userinfo": ("https://user:pw@example.com/", "user name or password"),
    "user_only": ("https://user@example.com/", "user name or password"),
    "port_zero": ("https://example.com:0/", "invalid port '0'"),
    "port_too_big": ("https://example.com:65536/", "invalid port '65536'"),
    "port_not_a_number": ("https://example.com:https/", "invalid port 'https'"),
    "no_host": ("https:///path", "no host name"),
    "space_in_path": ("https://example.com/a b", "whitespace"),
    "control_char": ("https://example.com/\x00", "control characters"),
    "ipv6_without_brackets": ("http://2001:db8::1/", "must be in brackets"),
    "unclosed_bracket": ("http://[2001:db8::1/", "unclosed '\\['"),
    "junk_after_ipv6": ("http://[::1]x/", "after the IPv6 address"),
    "bad_label": ("https://a_b.example/", "letters, digits and inner hyphens"),
}


@pytest.mark.parametrize(("text", "expected"), HOSTS.values(), ids=HOSTS.keys())
def test_normalize_host(text: str, expected: str) -> None:
    assert normalize_host(text) == expected


@pytest.mark.parametrize(("text", "reason"), BAD_HOSTS.values(), ids=BAD_HOSTS.keys())
def test_normalize_host_refuses(text: str, reason: str) -> None:
    with pytest.raises(TargetError, match=reason):
        normalize_host(text)


@pytest.mark.parametrize(("text", "url", "port"), URLS.values(), ids=URLS.keys())
def test_normalize_url(text: str, url: str, port: int) -> None:
    parsed = normalize_url(text)
    assert (parsed.url, parsed.port) == (url, port)


@pytest.mark.parametrize(("text", "reason"), BAD_URLS.values(), ids=BAD_URLS.keys())
def test_normalize_url_refuses(text: str, reason: str) -> None:
    with pytest.raises(TargetError, match=reason):
        normalize_url(text)


def test_web_endpoint_carries_host_port_and_url() -> None:
    assert web_endpoint("https://V.WhatsApp.net/v2/register") == Endpoint(
        kind=EndpointKind.WEB,
        host="v.whatsapp.net",
        port=443,
        url="https://v.whatsapp.net/v2/register",
    )


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("e1.whatsapp.net:5222", "e1.whatsapp.net", 5222),
        ("149.154.175.50:80", "149.154.175.50", 80),
        ("[2001:db8::1]:443", "2001:db8::1", 443),
    ],
)
def test_tcp_endpoint(text: str, host: str, port: int) -> None:
    assert tcp_endpoint(text) == Endpoint(kind=EndpointKind.TCP, host=host, port=port)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("e1.whatsapp.net", "no port"), ("e1.whatsapp.net:0", "invalid port"), (":443", "no host")],
)
def test_tcp_endpoint_refuses(text: str, reason: str) -> None:
    with pytest.raises(TargetError, match=reason):
        tcp_endpoint(text)


@given(st.text(max_size=80))
def test_normalize_host_raises_only_target_error_and_is_idempotent(text: str) -> None:
    try:
        host = normalize_host(text)
    except TargetError:
        return
    assert normalize_host(host) == host
    assert host.isascii()
    assert host == host.lower()


@given(st.text(max_size=60).map(lambda path: f"https://example.com/{path}"))
def test_normalize_url_raises_only_target_error_and_is_idempotent(text: str) -> None:
    try:
        parsed = normalize_url(text)
    except TargetError:
        return
    assert normalize_url(parsed.url) == parsed
    assert parsed.url.isascii()
