"""The live pages and their JSON, from a collector filled by real uploads (no browser: the
browser tests are in test_browser.py)."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from probe.models.live import LiveIncidents, LiveNow, LiveState
from probe.report.html import style_source

from .conftest import CLAIMS_TOKEN, Filled, fill
from .scenario import (
    TLS_RULE,
    VOLUNTEER_JOB,
    VOLUNTEER_NOTE,
    VOLUNTEER_RESOLVER,
    claims_toml,
)

PAGES = ("/", "/network/AS9198", "/network/AS21299", "/platform/twitter", "/claims")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.scripts = 0
        self.styled: list[str] = []  # elements with a style attribute
        self.stylesheets: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.links += [v for k, v in attrs if k == "href" and v]
        self.scripts += tag == "script"
        self.styled += [tag for k, _ in attrs if k == "style"]
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.stylesheets.append(data)
            self._in_style = False


def _parsed(text: str) -> _Links:
    parser = _Links()
    parser.feed(text)
    return parser


def _now(filled: Filled) -> LiveNow:
    answer = filled.collector.client.get("/api/v1/now")
    assert answer.status_code == 200
    return LiveNow.model_validate_json(answer.text)


def test_now_shows_the_block_its_technique_since_and_its_probes(filled: Filled) -> None:
    cells = {(c.network, c.platform): c for c in _now(filled).cells}
    twitter = cells["AS9198", "twitter"]
    assert (twitter.state, twitter.blocking, twitter.probes) == (LiveState.BLOCKED, "tls_reset", 2)
    block_start = (filled.now - timedelta(days=2)).replace(minute=0, second=0) + timedelta(hours=20)
    assert twitter.since == block_start + timedelta(minutes=1)  # the first probe's first block
    assert twitter.incident is not None and twitter.incident.startswith("/incident/AS9198/twitter/")
    assert cells["AS9198", "whatsapp"].state is LiveState.ACCESSIBLE
    assert cells["AS21299", "telegram"].state is LiveState.ACCESSIBLE
    assert cells["AS21299", "whatsapp"].state is LiveState.NO_RECENT_DATA
    page = filled.collector.client.get("/").text
    assert 'data-network="AS9198" data-platform="twitter" data-state="blocked"' in page
    assert "by tls_reset" in page and "2 probes" in page and "JSC Kazakhtelecom" in page


def test_every_link_of_every_page_resolves(filled: Filled) -> None:
    client = filled.collector.client
    seen: set[str] = set()
    queue = list(PAGES)
    while queue:
        path = queue.pop()
        if path in seen or not path.startswith("/"):
            continue
        seen.add(path)
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        if answer.headers["content-type"].startswith("text/html"):
            queue += _parsed(answer.text).links
    assert any(p.startswith("/incident/") for p in seen)
    assert sum(p.startswith("/measurements/") for p in seen) >= 2


def test_the_incident_page_gives_its_evidence(filled: Filled) -> None:
    client = filled.collector.client
    incidents = LiveIncidents.model_validate_json(client.get("/api/v1/incidents").text)
    (live,) = incidents.incidents
    incident = live.incident
    assert (incident.platform, incident.network, incident.probes) == ("twitter", "AS9198", 2)
    assert incident.ended_before is None and incident.onset_after is not None
    page = client.get(live.path).text
    assert TLS_RULE in page and "tls_reset" in page
    assert incident.confidence.value in page
    for reason in incident.confidence_reasons:
        assert reason.replace("'", "&#x27;") in page
    links = [p for p in _parsed(page).links if p.startswith("/measurements/")]
    assert len(links) == incident.measurements
    record = client.get(links[0]).json()
    assert record["verdict"] == "blocked" and record["probe_asn"] == "AS9198"


def test_outage_windows_show_on_their_network(filled: Filled) -> None:
    client = filled.collector.client
    incidents = LiveIncidents.model_validate_json(client.get("/api/v1/incidents").text)
    (outage,) = [w for w in incidents.windows if w.kind == "network_outage"]
    assert outage.network == "AS21299" and outage.measurements == 6  # 3 rounds × 2 platforms
    page = client.get("/network/AS21299").text
    assert "No network outage was seen." not in page and "AS21299" in page
    assert "No network outage was seen." in client.get("/network/AS9198").text


def test_incidents_since_leaves_out_what_ended_before(filled: Filled) -> None:
    later = (filled.now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = filled.collector.client.get("/api/v1/incidents", params={"since": later})
    assert answer.status_code == 200
    assert LiveIncidents.model_validate_json(answer.text).incidents == []
    bad = filled.collector.client.get("/api/v1/incidents", params={"since": "yesterday"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"


def test_pages_carry_a_strict_policy_and_no_script(filled: Filled) -> None:
    for path in PAGES:
        answer = filled.collector.client.get(path)
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
        page = _parsed(answer.text)
        assert page.scripts == 0
        # Styles too: no 'unsafe-inline', the one stylesheet allowed by its hash, no attribute.
        assert "unsafe-inline" not in policy
        assert page.styled == [], (path, page.styled)
        [sheet] = page.stylesheets
        assert f"style-src {style_source(sheet)};" in policy


def test_no_page_names_a_probe(filled: Filled) -> None:
    client = filled.collector.client
    probe_ids = [p.probe_id for p in filled.probes]
    texts = [client.get(path).text for path in (*PAGES, "/api/v1/now", "/api/v1/incidents")]
    incident = LiveIncidents.model_validate_json(texts[-1]).incidents[0]
    page = client.get(incident.path).text
    texts += [page] + [client.get(p).text for p in _parsed(page).links if "/measurements/" in p]
    for text in texts:
        for probe_id in probe_ids:
            assert probe_id not in text and probe_id[:16] not in text
        for private in (VOLUNTEER_RESOLVER, VOLUNTEER_NOTE, VOLUNTEER_JOB):
            assert private not in text
    record = client.get(next(p for p in _parsed(page).links if "/measurements/" in p)).json()
    assert record["x_withheld"] == ["resolver_ip", "annotations", "job"]


def test_a_probe_is_named_when_the_operator_turns_it_on(tmp_path: Path) -> None:
    named = fill(tmp_path, show_probes=True)
    try:
        client = named.collector.client
        incident = LiveIncidents.model_validate_json(client.get("/api/v1/incidents").text)
        page = client.get(incident.incidents[0].path).text
        link = next(p for p in _parsed(page).links if "/measurements/" in p)
        record = client.get(link).json()
        assert record["probe_id"] in {p.probe_id for p in named.probes}
        assert record["resolver_ip"] == VOLUNTEER_RESOLVER and "x_withheld" not in record
    finally:
        named.collector.close()


def test_claims_need_the_token_and_show_their_finding(filled: Filled) -> None:
    client = filled.collector.client
    text = claims_toml(filled.now)
    assert client.post("/api/v1/claims", content=text).json()["error"] == "missing_token"
    wrong = client.post("/api/v1/claims", content=text, headers={"Authorization": "Bearer no"})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "bad_token")
    bad = client.post("/api/v1/claims", content="[[claim]]\nstart = 1\n",
                      headers={"Authorization": f"Bearer {CLAIMS_TOKEN}"})  # fmt: skip
    assert bad.status_code == 422 and "claim 1" in bad.json()["detail"]
    added = client.post("/api/v1/claims", content=text,
                        headers={"Authorization": f"Bearer {CLAIMS_TOKEN}"})  # fmt: skip
    assert added.status_code == 201 and added.json() == {"added": 1}
    incidents = LiveIncidents.model_validate_json(client.get("/api/v1/incidents").text)
    (claim,) = incidents.claims
    assert claim.finding == "contradicted_by_blocking"
    page = client.get("/claims").text
    assert "technical problems" in page and "contradicted by blocking" in page
    # who said it, where and about what, each leading to its timeline; the source a plain link
    assert "Kazakhtelecom press office" in page
    links = _parsed(page).links
    assert {"/network/AS9198", "/platform/twitter", "https://example.org/statement"} <= set(links)
    timeline = client.get("/platform/twitter").text
    assert re.search(r">C1<", timeline) and "technical problems" in timeline
    assert "technical problems" not in client.get("/network/AS21299").text


@pytest.mark.parametrize("path", ["/incident/AS9198/twitter/1", "/measurements/999999.json",
                                  "/network/..%2Fetc", "/platform/a%20b"])  # fmt: skip
def test_unknown_or_malformed_paths_are_clear_errors(filled: Filled, path: str) -> None:
    answer = filled.collector.client.get(path)
    assert answer.status_code in (404, 422), answer.text
    assert answer.json()["error"] in ("not_found", "invalid_request")


def test_claims_add_sends_a_claims_file_with_the_token(tmp_path: Path) -> None:
    from ..harness import run_cli

    running = fill(tmp_path)
    try:
        claims = tmp_path / "claims.toml"
        claims.write_text(claims_toml(running.now), encoding="utf-8")
        token = tmp_path / "token"
        token.write_text("wrong\n", encoding="utf-8")
        url = running.collector.url
        refused = run_cli("claims", "add", str(claims), "--url", url, "--token-file", str(token))
        assert refused.returncode != 0 and "bad_token" in refused.stderr
        token.write_text(CLAIMS_TOKEN + "\n", encoding="utf-8")
        done = run_cli("claims", "add", str(claims), "--url", url, "--token-file", str(token))
        assert done.returncode == 0, done.stderr
        assert f"added 1 claim(s) to {url}" in done.stdout
        assert "technical problems" in running.collector.client.get("/claims").text
        claims.write_text("[[claim]]\nstatement = 'no dates'\n", encoding="utf-8")
        bad = run_cli("claims", "add", str(claims), "--url", url, "--token-file", str(token))
        assert bad.returncode != 0 and "claim 1" in bad.stderr
    finally:
        running.collector.close()


@pytest.mark.parametrize("in_a_thread", [False, True])
def test_a_lost_live_index_is_rebuilt_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_a_thread: bool
) -> None:
    import time

    from probe.collector import follow
    from probe.config import CollectorSettings

    from ..harness import RunningCollector

    running = fill(tmp_path)
    before = running.collector.client.get("/api/v1/incidents").json()
    now_before = running.collector.client.get("/api/v1/now").json()
    running.collector.close()
    for path in (tmp_path / "data").glob("live.sqlite3*"):
        path.unlink()
    if in_a_thread:
        monkeypatch.setattr(follow, "SYNC_BACKLOG", 0)
    again = RunningCollector(CollectorSettings(data_dir=tmp_path / "data"))
    try:
        live = again.server.config.loaded_app  # uvicorn's app, wrapped in its middleware
        while getattr(live, "app", None) is not None and not hasattr(live, "state"):
            live = live.app
        deadline = time.monotonic() + 60
        while live.state.live.rebuilding and time.monotonic() < deadline:
            time.sleep(0.02)
        after = again.client.get("/api/v1/incidents").json()
        assert after["incidents"] == before["incidents"] and after["windows"] == before["windows"]
        assert again.client.get("/api/v1/now").json()["cells"] == now_before["cells"]
    finally:
        again.close()


def test_every_state_reads_on_the_now_page() -> None:
    from datetime import UTC, datetime

    from probe.collector.live import state_of
    from probe.collector.pages import STATE_COLOURS, now_page
    from probe.models.live import LiveCell

    assert [state_of(v, b) for v, b in (
        ("accessible", ""), ("blocked", "dns_nxdomain"), ("blocked", "whitelisting"),
        ("throttled", "throttling"), ("network_outage", ""), ("service_down", ""),
        ("inconclusive", ""))] == [
        "accessible", "blocked", "whitelisting", "throttled", "network_outage", "platform_down",
        None]  # fmt: skip
    at = datetime(2026, 12, 1, tzinfo=UTC)
    cells = [
        LiveCell(network="AS1", platform=f"p{i}", state=state, since=at, last_measured=at,
                 probes=i, blocking="throttling" if state is LiveState.THROTTLED else "")
        for i, state in enumerate(LiveState)
    ]  # fmt: skip
    page = now_page(LiveNow(generated_at=at, stale_after_s=3600, networks=["AS1"],
                            platforms=[c.platform for c in cells], cells=cells))  # fmt: skip
    assert set(STATE_COLOURS) == set(LiveState)
    for cell in cells:
        assert f'data-platform="{cell.platform}" data-state="{cell.state.value}"' in page
        assert cell.state.value.replace("_", " ") in page
    assert "by throttling" in page and "· 1 probe<" in page and "· 2 probes<" in page


def test_a_claims_source_is_a_link_only_when_it_is_a_web_address() -> None:
    """A claim's text is the claimant's: escaped, and its source linked only over http(s)."""
    from datetime import UTC, datetime

    from probe.collector.pages import claims_page
    from probe.models.reports import AssessedClaim, Claim, ClaimEvidence, ClaimFinding

    def page(source: str, network: str) -> str:
        claim = Claim(
            start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 1, 2, tzinfo=UTC),
            network=network, statement="<b>down</b>", source=source,
        )  # fmt: skip
        assessed = AssessedClaim(
            claim=claim, finding=ClaimFinding.INSUFFICIENT_DATA, summary="s",
            evidence=ClaimEvidence(),
        )  # fmt: skip
        return claims_page([assessed], "2026-01-03 00:00")

    hostile = page("javascript:alert(1)", "Kar-Tel")
    assert "<b>down</b>" not in hostile and "&lt;b&gt;down&lt;/b&gt;" in hostile
    assert not [link for link in _parsed(hostile).links if link.startswith("javascript")]
    assert "/network/" not in hostile.split("<main>")[1], "a name, not an ASN: no timeline link"
    linked = page("https://example.org/s", "AS9198")
    assert {"https://example.org/s", "/network/AS9198"} <= set(_parsed(linked).links)
