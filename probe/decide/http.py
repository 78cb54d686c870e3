"""Judge HTTP: a failed step of the fetch chain, or the final page against the control's.

A cleartext final page is the target's only on positive evidence (decide/page.py, issue 17): the
control's body or visible text, else its title, resources or media type, with no sign against it.
OONI's comparison (METHODS.md §4.2: status, body proportion, header names, title words, any one
enough) let any page with common headers pass. A final response over a verified TLS connection
is the server's own, so a difference there is a server-side refusal, never `http_diff`.
Block-page fingerprints convict in either case.
"""

from __future__ import annotations

from collections.abc import Iterable

from probe.decide.attempts import (
    Outcome,
    helper_blind,
    is_redirect,
    split_address,
    url_scheme,
)
from probe.decide.blockpages import Fingerprint, response_matches
from probe.decide.evidence import HopEvidence, PageEvidence, failure_kind
from probe.decide.identity import PageIdentity
from probe.decide.page import page_identity, title_of
from probe.decide.rules import HOP_RULES, PAGE_RULES, finding, first_match
from probe.models.control import ControlHttpRequest, ControlResponse
from probe.models.failures import Failure
from probe.models.observations import HttpResponseRecord, HttpTransaction, response_text
from probe.models.results import Finding, Layer, Verdict
from probe.models.tags import attempt_of, depth_of


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
    is_dns = outcome.layer is Layer.DNS
    evidence = HopEvidence(
        url=url,
        depth=outcome.depth,
        failure=outcome.failure or Failure.UNKNOWN_FAILURE,
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


def _status_match(status: int, control_status: int) -> bool | None:
    if status <= 0 or control_status <= 0:
        return None
    if status == control_status:
        return True
    return None if not 200 <= control_status < 300 else False


def _differences(
    response: HttpResponseRecord, page: ControlHttpRequest, identity: PageIdentity
) -> tuple[str, ...]:
    """Return how the page differs from the control's, for the reasons (not for deciding)."""
    found = []
    if response.code != page.status_code:
        found.append(f"status {response.code} vs {page.status_code}")
    title = title_of(response)
    if identity.title_agrees is False:
        found.append(f"title '{title[:60]}' vs '{page.title[:60]}'")
    if identity.text_similarity is not None and not identity.same_text:
        found.append(f"visible text {identity.text_similarity:.0%} alike")
    probe_bytes = response.x_body_length or len(response_text(response).encode("utf-8"))
    if not identity.same_body and probe_bytes != page.body_length and page.body_length >= 0:
        found.append(f"body {probe_bytes} vs {page.body_length} bytes")
    return tuple(found) or ("the same status, and nothing else to compare",)


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


def _attempt_chain(
    final: HttpTransaction, responses: Iterable[HttpTransaction]
) -> list[HttpTransaction]:
    """Return the requests of the attempt `final` ended (OONI records: the whole list)."""
    attempt = attempt_of(final.tags)
    return [r for r in responses if attempt_of(r.tags) == attempt] or [final]


def page_evidence(
    final: HttpTransaction,
    responses: Iterable[HttpTransaction],
    control: ControlResponse | None,
    fingerprints: tuple[Fingerprint, ...],
    control_failure: str | None = None,
) -> PageEvidence:
    """Return the evidence about the final page `final`, every response of every attempt
    being searched for block-page fingerprints."""
    responses = list(responses)
    response = final.response or HttpResponseRecord(code=0)
    page = control_page(control)
    strong, weak, server_side = _matches(responses, fingerprints)
    cleartext = url_scheme(final.request.url) != "https"
    identity = PageIdentity()
    if cleartext:
        chain = _attempt_chain(final, responses)
        identity = page_identity(final, chain, page, control, fingerprints)
    return PageEvidence(
        url=final.request.url,
        status=response.code,
        is_https=not cleartext,
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
        differences=_differences(response, page, identity) if page is not None else (),
        identity=identity,
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
    """Return the IPs whose cleartext chain ended on the target's page (Iris's content
    consistency, with decide/page.py's identity), and those whose page was shown not to be."""
    valid: set[str] = set()
    invalid: set[str] = set()
    for outcome in outcomes:
        final = outcome.final
        if not outcome.succeeded or final is None or final.response is None:
            continue
        if url_scheme(final.request.url) == "https" or is_redirect(final):
            continue
        chain = [r for r in requests if attempt_of(r.tags) == outcome.attempt]
        first = {split_address(r.address)[0] for r in chain if r.address and depth_of(r.tags) == 0}
        _, weak, _ = _matches(chain, fingerprints)
        rule = first_match(PAGE_RULES, page_evidence(final, chain, control, fingerprints))
        if rule.verdict is Verdict.BLOCKED or weak:
            invalid |= first
        elif rule.verdict is Verdict.ACCESSIBLE:
            valid |= first
    return frozenset(valid), frozenset(invalid)
