"""What the user typed becomes the right Target, or a TargetError naming the target and why."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from probe.errors import TargetError
from probe.models.targets import EndpointKind, Target, TargetKind
from probe.targets import Catalogue, InputLine, parse_target, parse_targets

# case → (input, kind, name, platform, endpoint labels)
VALID = {
    "platform_name": ("twitter", TargetKind.PLATFORM, "twitter", "twitter", None),
    "platform_alias_any_case": ("X", TargetKind.PLATFORM, "twitter", "twitter", None),
    "platform_name_upper_case": ("WhatsApp", TargetKind.PLATFORM, "whatsapp", "whatsapp", None),
    "platform_surrounded_by_space": (" tg ", TargetKind.PLATFORM, "telegram", "telegram", None),
    "bare_domain": (
        "Kaspi.KZ", TargetKind.DOMAIN, "kaspi.kz", None,
        ["https://kaspi.kz/", "http://kaspi.kz/"],
    ),
    "platform_main_domain_stays_a_domain": (
        "twitter.com", TargetKind.DOMAIN, "twitter.com", "twitter",
        ["https://twitter.com/", "http://twitter.com/"],
    ),
    "platform_endpoint_host_is_tagged": (
        "www.instagram.com", TargetKind.DOMAIN, "www.instagram.com", "instagram",
        ["https://www.instagram.com/", "http://www.instagram.com/"],
    ),
    "idn_domain": (
        "пример.рф", TargetKind.DOMAIN, "xn--e1afmkfd.xn--p1ai", None,
        ["https://xn--e1afmkfd.xn--p1ai/", "http://xn--e1afmkfd.xn--p1ai/"],
    ),
    "a_label_domain": (
        "xn--e1afmkfd.xn--p1ai", TargetKind.DOMAIN, "xn--e1afmkfd.xn--p1ai", None,
        ["https://xn--e1afmkfd.xn--p1ai/", "http://xn--e1afmkfd.xn--p1ai/"],
    ),
    "fully_qualified_domain": (
        "kaspi.kz.", TargetKind.DOMAIN, "kaspi.kz", None, ["https://kaspi.kz/", "http://kaspi.kz/"],
    ),
    "bare_ipv4": (
        "95.161.76.100", TargetKind.DOMAIN, "95.161.76.100", "telegram",
        ["https://95.161.76.100/", "http://95.161.76.100/"],
    ),
    "bare_ipv6": (
        "2001:db8::1", TargetKind.DOMAIN, "2001:db8::1", None,
        ["https://[2001:db8::1]/", "http://[2001:db8::1]/"],
    ),
    "bare_ipv6_in_brackets": (
        "[2001:db8::1]", TargetKind.DOMAIN, "2001:db8::1", None,
        ["https://[2001:db8::1]/", "http://[2001:db8::1]/"],
    ),
    "url_of_platform_host": (
        "https://www.instagram.com/", TargetKind.URL, "www.instagram.com", "instagram",
        ["https://www.instagram.com/"],
    ),
    "url_with_path_and_query": (
        "http://kaspi.kz/path?q", TargetKind.URL, "kaspi.kz", None, ["http://kaspi.kz/path?q"],
    ),
    "url_without_path": ("https://Kaspi.kz", TargetKind.URL, "kaspi.kz", None, ["https://kaspi.kz/"]),
    "url_idn_host": (
        "https://пример.рф/", TargetKind.URL, "xn--e1afmkfd.xn--p1ai", None,
        ["https://xn--e1afmkfd.xn--p1ai/"],
    ),
    "url_ipv6_with_port": (
        "http://[2001:db8::1]:8080/", TargetKind.URL, "2001:db8::1", None,
        ["http://[2001:db8::1]:8080/"],
    ),
}  # fmt: skip

# case → (input, what the message must say)
INVALID = {
    "empty": ("", "empty target"),
    "only_spaces": ("   ", "empty target"),
    "inner_space": ("kaspi .kz", "whitespace"),
    "space_in_url": ("https://kaspi.kz/a b", "whitespace"),
    "tab": ("twit\tter", "whitespace"),
    "ftp_url": ("ftp://kaspi.kz/", "unsupported scheme 'ftp'"),
    "file_url": ("file:///etc/hosts", "unsupported scheme 'file'"),
    "userinfo": ("https://user:secret@kaspi.kz/", "user name or password"),
    "port_out_of_range": ("https://kaspi.kz:70000/", "invalid port '70000'"),
    "port_zero": ("http://kaspi.kz:0/", "invalid port '0'"),
    "domain_with_port": ("kaspi.kz:8443", "write a URL"),
    "scheme_without_slashes": ("mailto:someone", "write a URL"),
    "domain_with_path": ("kaspi.kz/path", "write https://kaspi.kz/path"),
    "label_too_long": ("a" * 64 + ".kz", "longer than 63"),
    "name_too_long": (".".join(["a" * 60] * 5), "longer than 253"),
    "underscore": ("bad_name.kz", "letters, digits and inner hyphens"),
    "empty_label": ("kaspi..kz", "empty label"),
    "unknown_platform": ("foo", "unknown platform 'foo'; known: twitter, youtube"),
    "single_label_with_dot": ("kaspi.", "needs a dot"),
    "idna_disallowed": ("☃.net", "invalid internationalised domain name"),
    "bogus_a_label": ("xn--zz.kz", "not a valid IDNA A-label"),
}


@pytest.mark.parametrize(
    ("text", "kind", "name", "platform", "labels"), VALID.values(), ids=VALID.keys()
)
def test_parse_target(
    catalogue: Catalogue,
    text: str,
    kind: TargetKind,
    name: str,
    platform: str | None,
    labels: list[str] | None,
) -> None:
    target = parse_target(text, catalogue)
    got = (target.input, target.kind, target.name, target.platform)
    assert got == (text, kind, name, platform), f"{text!r}: got {got}"
    if labels is not None:
        assert [e.label for e in target.endpoints] == labels
        assert all(e.kind is EndpointKind.WEB for e in target.endpoints)


@pytest.mark.parametrize(("text", "reason"), INVALID.values(), ids=INVALID.keys())
def test_parse_target_refuses(catalogue: Catalogue, text: str, reason: str) -> None:
    with pytest.raises(TargetError) as caught:
        parse_target(text, catalogue)
    message = str(caught.value)
    assert message.startswith(f"target {text!r}: "), message
    assert reason in message, f"{text!r}: expected {reason!r} in {message!r}"


def test_platform_target_carries_catalogue_endpoints_asns_and_note(catalogue: Catalogue) -> None:
    target = parse_target("tg", catalogue)
    platform = catalogue.get("telegram")
    assert platform is not None
    assert target.endpoints == catalogue.endpoints(platform)
    assert target.expected_asns == platform.asns
    assert target.note == platform.note
    kinds = [e.kind for e in target.endpoints]
    assert kinds.count(EndpointKind.WEB) == 1 and kinds.count(EndpointKind.TCP) == 12


def test_tagged_domain_gets_platform_asns(catalogue: Catalogue) -> None:
    target = parse_target("x.com", catalogue)
    assert target.platform == "twitter"
    assert 13414 in target.expected_asns
    assert parse_target("kaspi.kz", catalogue).expected_asns == []


def test_domain_endpoints_are_https_then_http(catalogue: Catalogue) -> None:
    target = parse_target("kaspi.kz", catalogue)
    assert [(e.host, e.port, e.url) for e in target.endpoints] == [
        ("kaspi.kz", 443, "https://kaspi.kz/"),
        ("kaspi.kz", 80, "http://kaspi.kz/"),
    ]


def test_url_port_from_url_or_scheme(catalogue: Catalogue) -> None:
    assert parse_target("http://kaspi.kz/", catalogue).endpoints[0].port == 80
    assert parse_target("https://kaspi.kz/", catalogue).endpoints[0].port == 443
    assert parse_target("https://kaspi.kz:8443/", catalogue).endpoints[0].port == 8443


def test_category_code_is_kept(catalogue: Catalogue) -> None:
    target = parse_target("https://kaspi.kz/", catalogue, category_code="COMM")
    assert target.category_code == "COMM"


def test_parse_targets_returns_errors_in_place(catalogue: Catalogue) -> None:
    parsed = parse_targets(
        ["twitter", "foo", "kaspi.kz", "ftp://x.kz/", "https://x.kz/"], catalogue
    )
    kinds = [p.kind if isinstance(p, Target) else "error" for p in parsed]
    assert kinds == [TargetKind.PLATFORM, "error", TargetKind.DOMAIN, "error", TargetKind.URL]
    assert "unknown platform 'foo'" in str(parsed[1])


def test_parse_targets_names_file_and_line_and_keeps_category(catalogue: Catalogue) -> None:
    lines = [
        InputLine("https://kaspi.kz/", location="kz.csv:2", category_code="COMM"),
        InputLine("ftp://kaspi.kz/", location="kz.csv:3", category_code="COMM"),
    ]
    good, bad = parse_targets(list(lines), catalogue)
    assert isinstance(good, Target) and good.category_code == "COMM"
    assert type(good.input) is str
    assert isinstance(bad, TargetError)
    assert str(bad).startswith("kz.csv:3: target 'ftp://kaspi.kz/': unsupported scheme")


_SCHEMES = st.sampled_from(["http://", "HTTPS://", "ftp://", "", "["])
_INPUTS = st.one_of(
    st.text(max_size=60),
    st.builds(str.__add__, _SCHEMES, st.text(max_size=60)),
    st.builds(str.__add__, st.text(max_size=20), st.sampled_from([".kz", ".рф", ":443", "]"])),
)


@given(text=_INPUTS)
def test_parse_target_raises_only_target_error(catalogue: Catalogue, text: str) -> None:
    try:
        target = parse_target(text, catalogue)
    except TargetError:
        return
    assert target.input == text
    assert target.endpoints
