"""Judge HTTP: a failed step of the fetch chain, or the final page against the control's.

The page comparison is OONI's (METHODS.md §4.2): status codes, body proportion > 0.7, uncommon
header names, long title words. It only convicts a cleartext page: a final response over a
verified TLS connection is the server's own, so a difference there is a server-side refusal,
never `http_diff`. Block-page fingerprints convict in either case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from probe.decide.attempts import (
    Outcome,
    helper_blind,
    is_redirect,
    split_address,
    tag_int,
    url_scheme,
)
from probe.decide.blockpages import Fingerprint, body_text, response_matches
from probe.decide.evidence import HopEvidence, PageEvidence, failure_kind
from probe.decide.rules import HOP_RULES, PAGE_RULES, finding, first_match
from probe.models.control import ControlHttpRequest, ControlResponse
from probe.models.observations import HttpResponseRecord, HttpTransaction
from probe.models.results import Finding

BODY_PROPORTION_MATCH = 0.7
TITLE_WORD_BYTES = 5
COMMON_HEADERS = frozenset(
    "date content-type server cache-control vary set-cookie location expires x-powered-by"
    " content-encoding last-modified accept-ranges pragma x-frame-options etag"
    " x-content-type-options age via p3p x-xss-protection content-language cf-ray"
    " strict-transport-security link x-varnish".split()
)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_TITLE_SEARCH_CHARS = 65_536


def control_page(control: ControlResponse | None) -> ControlHttpRequest | None:
    """Return the helper's fetch when it got a page (a status code and no failure)."""
    if control is None:
        return None
    page = control.http_request
    return page if page.failure is None and page.status_code > 0 else None


def _control_failure(control: ControlResponse | None, control_failure: str | None) -> str:
    if control is None:
        return f"the helper was unreachable: {control_failure}" if control_failure else ""
    page = control.http_request
    return page.failure or f"status {page.status_code}"


def hop_finding(
    outcome: Outcome, control: ControlResponse | None, control_failure: str | None = None
) -> Finding:
    """Return the finding for a failed step of the fetch chain (a request, or a lookup of a
    redirect target)."""
    final = outcome.final
    url = final.request.url if final is not None else ""
    response = final.response if final is not None else None
    is_dns = outcome.layer is not None and outcome.layer.value == "dns"
    evidence = HopEvidence(
        url=url,
        depth=outcome.depth,
        failure=outcome.failure or "unknown_failure",
        kind=failure_kind(outcome.failure),
        is_dns=is_dns,
        is_https=url_scheme(url) == "https",
        has_control=control is not None and not helper_blind(control),
        control_ok=control_page(control) is not None,
        control_failure=_control_failure(control, control_failure),
        operation=final.x_failed_operation if final is not None else None,
        response_code=response.code if response is not None else None,
        body_bytes=response.x_body_length if response is not None else 0,
    )
    return finding(first_match(HOP_RULES, evidence), evidence.facts())


def _title(response: HttpResponseRecord) -> str:
    if response.x_title is not None:
        return response.x_title
    match = _TITLE.search(body_text(response)[:_TITLE_SEARCH_CHARS])
    return " ".join(match.group(1).split()) if match else ""


def _long_words(title: str) -> frozenset[str]:
    words = (w.lower() for w in title.split())
    return frozenset(w for w in words if len(w.encode("utf-8")) >= TITLE_WORD_BYTES)


def _body_bytes(response: HttpResponseRecord) -> int:
    return response.x_body_length or len(body_text(response).encode("utf-8"))


def _status_match(status: int, control_status: int) -> bool | None:
    if status <= 0 or control_status <= 0:
        return None
    if status == control_status:
        return True
    return None if not 200 <= control_status < 300 else False


def _headers_match(response: HttpResponseRecord, page: ControlHttpRequest) -> bool:
    names = {k.lower() for k, _ in response.headers_list} | {k.lower() for k in response.headers}
    theirs = {k.lower() for k in page.headers}
    return names == theirs or bool((names & theirs) - COMMON_HEADERS)


def _differences(response: HttpResponseRecord, page: ControlHttpRequest) -> tuple[str, ...]:
    """Return how the page differs from the control's (empty when it matches, as OONI's)."""
    if response.x_body_sha256 is not None and response.x_body_sha256 == page.x_body_sha256:
        return ()
    status_match = _status_match(response.code, page.status_code)
    probe_bytes, their_bytes = _body_bytes(response), page.body_length
    proportion = None
    if probe_bytes > 0 and their_bytes > 0 and not response.body_is_truncated:
        proportion = min(probe_bytes / their_bytes, their_bytes / probe_bytes)
    title, their_title = _title(response), page.title
    title_match = None if not title else _long_words(title) == _long_words(their_title)
    headers_match = _headers_match(response, page)
    body_match = proportion is not None and proportion > BODY_PROPORTION_MATCH
    if status_match and (body_match or headers_match or title_match):
        return ()
    found = []
    if not status_match:
        found.append(f"status {response.code} vs {page.status_code}")
    if proportion is not None and not body_match:
        found.append(f"body {probe_bytes} vs {their_bytes} bytes")
    if title_match is False:
        found.append(f"title '{title[:60]}' vs '{their_title[:60]}'")
    if not headers_match:
        found.append("no uncommon header name in common")
    return tuple(found) or ("nothing in common beyond the status",)


def _matches(
    responses: Iterable[HttpTransaction], fingerprints: tuple[Fingerprint, ...]
) -> tuple[list[str], list[str], list[str]]:
    """Return block-page matches over every response: (strong, weak) on cleartext responses,
    and any match on a verified-TLS response, which only the server itself can have sent."""
    strong: list[str] = []
    weak: list[str] = []
    server_side: list[str] = []
    for transaction in responses:
        if transaction.response is None:
            continue
        cleartext = url_scheme(transaction.request.url) != "https"
        for fp in response_matches(transaction.response, fingerprints):
            cited = f"{fp.name} ({fp.location_found} of {transaction.request.url})"
            if fp.is_benign:
                continue
            if not cleartext:
                server_side.append(cited)
            elif fp.is_strong:
                strong.append(cited)
            else:
                weak.append(cited)
    unique = [list(dict.fromkeys(found)) for found in (strong, weak, server_side)]
    return unique[0], unique[1], unique[2]


def page_evidence(
    final: HttpTransaction,
    responses: Iterable[HttpTransaction],
    control: ControlResponse | None,
    fingerprints: tuple[Fingerprint, ...],
    control_failure: str | None = None,
) -> PageEvidence:
    """Return the evidence about the final page `final`, every response of every attempt
    being searched for block-page fingerprints."""
    response = final.response or HttpResponseRecord(code=0)
    page = control_page(control)
    strong, weak, server_side = _matches(responses, fingerprints)
    differences = _differences(response, page) if page is not None else ()
    return PageEvidence(
        url=final.request.url,
        status=response.code,
        is_https=url_scheme(final.request.url) == "https",
        strong_matches=tuple(strong),
        weak_matches=tuple(weak),
        server_side_matches=tuple(server_side),
        benign_matches=tuple(
            fp.name for fp in response_matches(response, fingerprints) if fp.is_benign
        ),
        chain_unfinished=is_redirect(final),
        control_answered=control is not None,
        has_control=page is not None,
        control_status=page.status_code if page is not None else -1,
        control_failure=_control_failure(control, control_failure),
        status_match=_status_match(response.code, page.status_code) if page else None,
        differs=bool(differences),
        differences=differences,
    )


def page_finding(
    final: HttpTransaction,
    responses: Iterable[HttpTransaction],
    control: ControlResponse | None,
    fingerprints: tuple[Fingerprint, ...],
    control_failure: str | None = None,
) -> Finding:
    """Return the finding about the final page of a successful attempt."""
    evidence = page_evidence(final, responses, control, fingerprints, control_failure)
    return finding(first_match(PAGE_RULES, evidence), evidence.facts())


def content_evidence(
    outcomes: Iterable[Outcome],
    requests: list[HttpTransaction],
    control: ControlResponse | None,
    fingerprints: tuple[Fingerprint, ...],
) -> tuple[frozenset[str], frozenset[str]]:
    """Return the IPs whose cleartext chain ended on a page matching the control's (Iris's
    content consistency), and those whose page differed or carried a block-page mark."""
    page = control_page(control)
    valid: set[str] = set()
    invalid: set[str] = set()
    for outcome in outcomes:
        final = outcome.final
        if not outcome.succeeded or final is None or final.response is None:
            continue
        if url_scheme(final.request.url) == "https" or is_redirect(final):
            continue
        chain = [r for r in requests if tag_int(r.tags, "attempt", 1) == outcome.attempt]
        first = {
            split_address(r.address)[0]
            for r in chain
            if r.address and tag_int(r.tags, "depth", 0) == 0
        }
        strong, weak, _ = _matches(chain, fingerprints)
        if strong or weak or (page is not None and _differences(final.response, page)):
            invalid |= first
        elif page is not None:
            valid |= first
    return frozenset(valid), frozenset(invalid)
