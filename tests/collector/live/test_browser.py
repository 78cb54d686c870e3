"""The live pages in a real browser (headless Chromium through selenium): what a reader sees,
links that resolve, an accessibility audit (axe-core) with no serious violation, and
screenshots at 1400 and 800 px wide (test artefacts: browser.artefacts())."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from probe.models.live import LiveIncidents

from . import browser
from .conftest import CLAIMS_TOKEN, Filled, fill
from .scenario import TLS_RULE, claims_toml

WIDTHS = (1400, 800)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    running = fill(tmp_path_factory.mktemp("browser"))
    answer = running.collector.client.post(
        "/api/v1/claims", content=claims_toml(running.now),
        headers={"Authorization": f"Bearer {CLAIMS_TOKEN}"},
    )  # fmt: skip
    assert answer.status_code == 201
    yield running
    running.collector.close()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    chrome = browser.chrome()
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture(scope="module")
def axe() -> str:
    return browser.axe_source()


def _incident_path(live: Filled) -> str:
    found = LiveIncidents.model_validate_json(live.collector.client.get("/api/v1/incidents").text)
    return found.incidents[0].path


def _check(driver: Any, axe: str, name: str) -> None:
    """Audit the loaded page and save its screenshots."""
    serious = [v for v in browser.audit(driver, axe) if v.get("impact") in browser.SERIOUS]
    assert not serious, [(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in serious]
    for width in WIDTHS:
        browser.screenshot(driver, browser.artefacts() / f"{name}-{width}.png", width)
        # Readable at this width: nothing wider than the window (no sideways scrolling).
        wide = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert wide[0] <= wide[1], (name, width, wide)


def _text(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def test_now_page_reads_and_leads_to_the_incident(live: Filled, driver: Any, axe: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(live.collector.url + "/")
    assert driver.title == "Now: is it blocked?"
    blocked = _text(driver, 'td[data-network="AS9198"][data-platform="twitter"]')
    assert "blocked by tls_reset" in blocked and "2 probes" in blocked and "since" in blocked
    stale = _text(driver, 'td[data-network="AS21299"][data-platform="whatsapp"]')
    assert stale.startswith("no recent data")
    _check(driver, axe, "now")
    cell = driver.find_element(By.CSS_SELECTOR, 'td[data-state="blocked"]')
    cell.find_element(By.LINK_TEXT, "incident").click()
    assert _text(driver, "h1") == "twitter blocked on AS9198"


def test_the_strict_policy_lets_the_stylesheet_apply(live: Filled, driver: Any) -> None:
    """The page's one stylesheet is allowed by its hash (no 'unsafe-inline'): the browser
    applies it, so a blocked badge wears the palette's colour, not a bare default."""
    from probe.report.palette import VERDICTS

    driver.get(live.collector.url + "/")
    colour = driver.execute_script(
        "return getComputedStyle(document.querySelector("
        "'td[data-state=\\'blocked\\'] .badge')).backgroundColor"
    )
    red, green, blue = (int(VERDICTS["blocked"].colour[i : i + 2], 16) for i in (1, 3, 5))
    assert colour == f"rgb({red}, {green}, {blue})", colour


def test_timelines_show_the_block_the_outage_and_the_claim(
    live: Filled, driver: Any, axe: str
) -> None:
    from selenium.webdriver.common.by import By

    driver.get(live.collector.url + "/network/AS21299")
    assert _text(driver, "h1") == "Network AS21299"
    assert "AS21299" in _text(driver, "#outages table")
    driver.get(live.collector.url + "/platform/twitter")
    assert driver.find_elements(By.CSS_SELECTOR, "svg.timeline")
    assert "twitter on AS9198" in _text(driver, "#incidents table")
    assert "technical problems" in _text(driver, "#claims table")
    _check(driver, axe, "platform")
    driver.get(live.collector.url + "/network/AS9198")
    assert _text(driver, "h1") == "Network AS9198"
    _check(driver, axe, "network")


def test_incident_page_gives_evidence_that_resolves(live: Filled, driver: Any, axe: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(live.collector.url + _incident_path(live))
    rows = driver.find_elements(By.CSS_SELECTOR, "table.evidence tbody tr")
    assert len(rows) == 28 and TLS_RULE in rows[0].text
    scope = _text(driver, "dl.scope")
    assert "28 from 2 probes" in scope and "not yet: may still be going on" in scope
    _check(driver, axe, "incident")
    rows[0].find_element(By.PARTIAL_LINK_TEXT, "measurement").click()
    assert '"verdict": "blocked"' in _text(driver, "body")


def test_claims_page_shows_the_finding(live: Filled, driver: Any, axe: str) -> None:
    driver.get(live.collector.url + "/claims")
    claim = _text(driver, "section.claim")
    assert "technical problems" in claim and "contradicted by blocking" in claim
    _check(driver, axe, "claims")


def test_the_audit_finds_what_it_should(live: Filled, driver: Any, axe: str) -> None:
    """The audit can fail: a page with an unlabelled image and no language has violations."""
    driver.get("data:text/html,<html><body><img src='x.png'><a href='/'></a></body></html>")
    found = {v["id"] for v in browser.audit(driver, axe)}
    assert {"image-alt", "html-has-lang", "link-name"} <= found
