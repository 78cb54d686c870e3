"""The helper's page summary (issue 17): `x_page`, `x_chain` and `x_address` on http_request,
computed by the same function the probe's verdict uses on its own copy of the page."""

from __future__ import annotations

from servers import page

from probe.models.page import summarize

from .loopback import HOP, Internet, RunningHelper, control


def test_the_page_summary_is_the_probes_own(internet: Internet, helper: RunningHelper) -> None:
    url = internet.url(tls=True)
    http = control(helper, {"http_request": url}).http_request
    assert http.x_page == summarize(page().decode(), url), "not the shared summary of the page"
    assert http.x_page is not None and http.x_page.text_shingles > 0
    assert http.x_chain == [url]
    assert http.x_address == f"127.0.0.1:{internet.https.port}"


def test_the_chain_lists_every_hop(internet: Internet, helper: RunningHelper) -> None:
    final = internet.url(tls=True, host=HOP)
    start = internet.redirect(final)
    http = control(helper, {"http_request": start}).http_request
    assert http.x_chain[0] == start and http.x_chain[-1] == final, http.x_chain
    assert http.x_final_url == final


def test_a_failed_fetch_has_a_chain_and_no_summary(
    internet: Internet, helper: RunningHelper
) -> None:
    url = internet.url("/redirect-loop")
    http = control(helper, {"http_request": url}).http_request
    assert http.failure is not None and http.x_page is None
    assert http.x_chain and http.x_chain[0] == url, http.x_chain
