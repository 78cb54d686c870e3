"""Properties of page identity (issue 17): header names never make a match; the control's own
page always does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from probe.decide.http import page_finding
from probe.models.control import ControlHttpRequest, ControlResponse
from probe.models.observations import HttpRequestRecord, HttpResponseRecord, HttpTransaction
from probe.models.page import summarize
from probe.models.results import Verdict

URL = "http://example.com/"
# Two disjoint vocabularies: the probe's page and the control's share no word.
OURS = st.sampled_from("alpha bravo charlie delta echo foxtrot golf hotel india juliet".split())
THEIRS = st.sampled_from("kilo lima mike november oscar papa quebec romeo sierra tango".split())
COMMON_NAMES = ("Content-Type", "Content-Length", "Connection", "Server", "Date", "Cache-Control")
HEADERS = st.lists(st.sampled_from(COMMON_NAMES), min_size=1, unique=True).map(
    lambda names: [(n, "x") for n in names]
)


def _html(title: list[str], body: list[str]) -> str:
    return f"<html><head><title>{' '.join(title)}</title></head><body>{' '.join(body)}</body>"


def _final(body: str, headers: list[tuple[str, str]]) -> HttpTransaction:
    return HttpTransaction(
        address="192.0.2.1:80",
        request=HttpRequestRecord(url=URL),
        response=HttpResponseRecord(
            code=200,
            headers=dict(headers),
            headers_list=headers,
            body=body,
            x_body_length=len(body.encode()),
        ),
        t0=0.0,
        t=0.1,
        tags=["attempt=1", "depth=0"],
    )


def _control(
    body: str, title: str, headers: list[tuple[str, str]], summary: bool
) -> ControlResponse:
    page = ControlHttpRequest(
        status_code=200,
        body_length=len(body.encode()),
        title=title,
        headers=dict(headers),
        x_page=summarize(body, URL) if summary else None,
        x_chain=[URL] if summary else [],
    )
    return ControlResponse(http_request=page)


@settings(max_examples=150, deadline=None)
@given(
    ours_title=st.lists(OURS, min_size=1, max_size=4),
    ours_body=st.lists(OURS, min_size=0, max_size=60),
    theirs_title=st.lists(THEIRS, min_size=1, max_size=4),
    theirs_body=st.lists(THEIRS, min_size=0, max_size=60),
    headers=HEADERS,
    summary=st.booleans(),
)
def test_header_names_alone_never_make_the_targets_page(
    ours_title: list[str],
    ours_body: list[str],
    theirs_title: list[str],
    theirs_body: list[str],
    headers: list[tuple[str, str]],
    summary: bool,
) -> None:
    # The same status and the very same header names, nothing else in common.
    probe_page = _html(ours_title, ours_body)
    control_page = _html(theirs_title, theirs_body)
    control = _control(control_page, " ".join(theirs_title), headers, summary)
    found = page_finding(_final(probe_page, headers), [], control, ())
    assert found.verdict is not Verdict.ACCESSIBLE, (
        f"called the target's page on header names alone ({found.rule_id}): {found.reasons}"
    )


@settings(max_examples=80, deadline=None)
@given(
    title=st.lists(OURS, min_size=1, max_size=4),
    body=st.lists(OURS, min_size=1, max_size=80),
    headers=HEADERS,
    summary=st.booleans(),
)
def test_the_controls_own_page_is_the_targets(
    title: list[str], body: list[str], headers: list[tuple[str, str]], summary: bool
) -> None:
    page = _html(title, body)
    control = _control(page, " ".join(title), headers, summary)
    found = page_finding(_final(page, headers), [], control, ())
    assert found.verdict is Verdict.ACCESSIBLE, f"{found.rule_id}: {found.reasons}"
