"""The page summary both sides compute (models/page.py) and the identity helpers of
decide/page.py: the estimates behave on the pages the rules meet."""

from __future__ import annotations

import pytest

from probe.decide.identity import SAME_RESOURCES, SAME_TEXT
from probe.decide.page import registrable_domain, title_agreement
from probe.models.page import (
    SKETCH_SIZE,
    in_sketch,
    read_page,
    similarity,
    sketch,
    summarize,
    words,
)

from .test_page_rules import BLOCK_RU, GENUINE, LOCALIZED, NOTICE, PORTAL, article, dynamic

URL = "http://example.com/"


@pytest.mark.parametrize("overlap", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_similarity_estimates_jaccard(overlap: float) -> None:
    shared = [f"s{i}" for i in range(int(2000 * overlap))]
    first = shared + [f"a{i}" for i in range(2000 - len(shared))]
    second = shared + [f"b{i}" for i in range(2000 - len(shared))]
    exact = len(shared) / (4000 - len(shared))
    estimate = similarity(sketch(first), sketch(second))
    assert estimate is not None and abs(estimate - exact) <= 0.2, (
        f"overlap {overlap}: Jaccard {exact:.2f}, estimated {estimate}"
    )
    assert len(sketch(first)) == SKETCH_SIZE


def test_similarity_of_nothing_is_unknown() -> None:
    assert similarity([], sketch(["a"])) is None


def _text(first: str, second: str) -> float | None:
    return similarity(summarize(first, URL).text_sketch, summarize(second, URL).text_sketch)


def _resources(first: str, second: str) -> float | None:
    return similarity(summarize(first, URL).resource_sketch, summarize(second, URL).resource_sketch)


def test_a_page_a_minute_later_is_the_same_text() -> None:
    value = _text(dynamic(GENUINE), GENUINE)
    assert value is not None and value >= 0.8, f"dynamic content: {value}"


@pytest.mark.parametrize("other", [BLOCK_RU, NOTICE, PORTAL, article("another site")])
def test_other_pages_share_no_text(other: str) -> None:
    value = _text(other, GENUINE)
    assert value is not None and value < SAME_TEXT / 2, f"{other[:40]!r}: {value}"


def test_a_localized_page_keeps_the_resources_not_the_text() -> None:
    text, resources = _text(LOCALIZED, GENUINE), _resources(LOCALIZED, GENUINE)
    assert text is not None and text < SAME_TEXT, f"text {text}"
    assert resources is not None and resources >= SAME_RESOURCES, f"resources {resources}"


def test_visible_text_leaves_out_scripts_and_styles() -> None:
    page = read_page(
        "<html><head><title>T</title><style>p{color:red}</style><script>var x=1;</script>"
        "</head><body><p>Hello &amp; welcome</p><noscript>enable js</noscript></body></html>",
        URL,
    )
    assert page.text == "T Hello & welcome"


def test_han_kana_and_hangul_characters_are_words() -> None:
    assert words("网站已被屏蔽 ok Привет") == ["网", "站", "已", "被", "屏", "蔽", "ok", "привет"]


@pytest.mark.parametrize(
    ("markup", "forms"),
    [
        ('<input type="password" name="pass">', ("password",)),
        ('<input type="tel">', ("phone",)),
        ('<input name="msisdn" placeholder="+7">', ("phone",)),
        ('<input autocomplete="one-time-code">', ("one_time_code",)),
        ('<input name="sms_code">', ("one_time_code",)),
        ('<input type="hidden" name="phone"><input type="search" name="q">', ()),
    ],
)
def test_forms(markup: str, forms: tuple[str, ...]) -> None:
    assert read_page(f"<form>{markup}</form>", URL).forms == forms


def test_resources_resolve_relative_references() -> None:
    page = read_page(
        '<script src="/a.js?v=3"></script><img src="//cdn.example.net/i.png">'
        '<link href="style.css"><img src="data:image/png;base64,AAAA">',
        "http://example.com/news/",
    )
    assert page.resources == ("/a.js", "cdn.example.net/i.png", "/news/style.css")


def test_in_sketch() -> None:
    items = [f"r{i}" for i in range(500)]
    summary = sketch(items)
    assert all(in_sketch(i, summary) in (True, None) for i in items)
    assert in_sketch("r-absent", summary) in (False, None)
    assert in_sketch("r0", sketch(["r0", "r1"])) is True
    assert in_sketch("r9", sketch(["r0", "r1"])) is False


@pytest.mark.parametrize(
    ("title", "control", "agrees"),
    [
        ("Default Web Page", "Default Web Page", True),
        ("Facebook", "Facebook", True),
        ("Error | Facebook", "Facebook", False),
        ("Home", "home", True),
        ("Home", "Start", False),
        ("", "Facebook", None),
    ],
)
def test_title_agreement(title: str, control: str, agrees: bool | None) -> None:
    assert title_agreement(title, control) is agrees


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("www.facebook.com", "facebook.com"),
        ("static.bbc.co.uk", "bbc.co.uk"),
        ("kaspi.kz", "kaspi.kz"),
        ("www.egov.kz", "egov.kz"),
        ("online.gov.kz", "online.gov.kz"),
        ("198.51.100.80", "198.51.100.80"),
    ],
)
def test_registrable_domain(host: str, domain: str) -> None:
    assert registrable_domain(host) == domain
