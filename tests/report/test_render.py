"""The renderers: HTML page (self-contained, escaped, bounded), CSV and terminal summary.

Reports are built by hand here (no engine): two days on three Kazakh networks, with WhatsApp
reset on AS9198 for ten hours, Telegram throttled on AS21299, AS206026 dark for three hours,
YouTube down everywhere for two, and one claim for each of the four findings.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from xml.etree import ElementTree

import pytest
from rich.console import Console

from probe.models.reports import (
    AssessedClaim,
    BlockedPlatform,
    Claim,
    ClaimEvidence,
    ClaimFinding,
    Confidence,
    FailureWindow,
    Incident,
    Report,
    ReportScope,
    TimelineCell,
    WindowKind,
)
from probe.models.results import Blocking, Verdict
from probe.report import render
from probe.report.html import html_report, style_source
from probe.report.palette import FINDINGS, swatch_class
from probe.report.plots import MAX_COLUMNS, MAX_LANES
from probe.report.render import CSV_COLUMNS, csv_report, print_report

T0 = datetime(2024, 5, 1, tzinfo=UTC)
HOURS = 48
NETWORKS = {"AS9198": "JSC Kazakhtelecom", "AS21299": "Kar-Tel", "AS206026": "Kcell JSC"}
PLATFORMS = ("telegram", "whatsapp", "youtube")
HOSTILE = "<script>alert(1)</script>"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


# ── the hand-built report ──────────────────────────────────────────────────────────────────


def counts(network: str, platform: str, hour: int) -> dict[str, int]:
    """Return the verdicts of one hour's 4 measurements in the scenario."""
    if network == "AS206026" and 40 <= hour < 43:
        return {"network_outage": 4}
    if platform == "youtube" and 5 <= hour < 7:
        return {"service_down": 4}
    if (network, platform) == ("AS9198", "whatsapp") and 10 <= hour < 20:
        return {"blocked": 3, "accessible": 1}
    if (network, platform) == ("AS21299", "telegram") and 30 <= hour < 34:
        return {"throttled": 2, "accessible": 1, "inconclusive": 1}
    return {"accessible": 4}


def timeline(platforms: tuple[str, ...] = PLATFORMS) -> list[TimelineCell]:
    return [
        TimelineCell(network=n, platform=p, start=at(h), counts=counts(n, p, h))
        for n in NETWORKS
        for p in platforms
        for h in range(HOURS)
    ]


INCIDENTS = [
    Incident(
        platform="whatsapp", network="AS9198", network_name="JSC Kazakhtelecom",
        start=at(10), end=at(19.9), onset_after=at(9.9), ended_before=at(20),
        verdict=Verdict.BLOCKED, blocking=Blocking.TLS_RESET,
        methods={"tls_reset": 28, "dns_hijack": 2}, endpoints=["web.whatsapp.com:443"],
        measurements=30, probes=2, confidence=Confidence.HIGH,
        confidence_reasons=["2 probes agree", "control sites loaded"],
    ),
    Incident(
        platform="telegram", network="AS21299", network_name="Kar-Tel",
        start=at(30), end=at(33.9), onset_after=at(29.9), ended_before=None,
        verdict=Verdict.THROTTLED, blocking=Blocking.THROTTLING, methods={"throttling": 8},
        endpoints=["web.telegram.org:443", "149.154.167.99:443"],
        measurements=8, probes=1, confidence=Confidence.LOW,
        confidence_reasons=["a single probe"],
    ),
]  # fmt: skip
OUTAGE = FailureWindow(
    kind=WindowKind.NETWORK_OUTAGE, network="AS206026", platform="*", networks=["AS206026"],
    start=at(40), end=at(42.9), onset_after=at(39.9), ended_before=at(43),
    measurements=36, probes=1, confidence=Confidence.MEDIUM, confidence_reasons=["controls failed"],
)  # fmt: skip
DOWN = FailureWindow(
    kind=WindowKind.PLATFORM_DOWN, network="*", platform="youtube",
    networks=list(NETWORKS), platforms=["youtube"], start=at(5), end=at(6.9),
    measurements=24, probes=3, confidence=Confidence.HIGH,
)  # fmt: skip


def claim(
    finding: ClaimFinding, statement: str, start: float, end: float, **fields: object
) -> AssessedClaim:
    evidence = ClaimEvidence(
        measurements=12, probes=2, networks=["AS9198"], verdicts={"blocked": 9, "accessible": 3},
        blocked=[BlockedPlatform(platform="whatsapp", measurements=9, methods={"tls_reset": 9})]
        if finding == ClaimFinding.CONTRADICTED_BY_BLOCKING else [],
    )  # fmt: skip
    return AssessedClaim(
        claim=Claim(start=at(start), end=at(end), statement=statement, **fields),
        finding=finding,
        summary=f"summary of {finding.value}",
        evidence=evidence,
    )


CLAIMS = [
    claim(
        ClaimFinding.CONTRADICTED_BY_BLOCKING, "There was an accident on a trunk line.", 11, 15,
        network="AS9198", platforms=["whatsapp"], said_by="Kazakhtelecom press office",
        source="https://example.org/press/2024-05-01",
    ),
    claim(
        ClaimFinding.CONSISTENT_WITH_OUTAGE, "Planned maintenance.", 40, 43, network="Kcell",
        said_by="Kcell", source="https://example.org/kcell",
    ),
    claim(ClaimFinding.PLATFORM_OUTAGE, "We do not block YouTube.", 5, 7, platforms=["youtube"]),
    claim(ClaimFinding.INSUFFICIENT_DATA, "Nothing happened in March.", -700, -600),
]  # fmt: skip


def make_report(**changes: object) -> Report:
    fields: dict[str, object] = {
        "generated_at": at(HOURS + 1),
        "software_version": "0.1.0",
        "engine": "duckdb",
        "scope": ReportScope(
            source="store /var/lib/probe",
            since=at(0),
            until=at(HOURS),
            first_measurement=at(0),
            last_measurement=at(HOURS - 0.1),
            measurements=1728,
            probes=3,
            networks=list(NETWORKS),
            platforms=list(PLATFORMS),
            skipped_records=2,
            skipped_reasons=["no measurement_start_time"],
        ),
        "bucket_seconds": 3600,
        "incidents": INCIDENTS,
        "outages": [OUTAGE],
        "platform_down": [DOWN],
        "claims": CLAIMS,
        "timeline": timeline(),
    }
    fields.update(changes)
    return Report.model_validate(fields)


def empty_report() -> Report:
    scope = ReportScope(source="bundles/", since=at(0), until=at(24))
    return make_report(
        scope=scope, incidents=[], outages=[], platform_down=[], timeline=[], claims=CLAIMS[3:]
    )


# ── a strict little DOM ────────────────────────────────────────────────────────────────────


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.walk()

    def all(self, tag: str, cls: str | None = None) -> list[Node]:
        return [
            n
            for n in self.walk()
            if n.tag == tag and (cls is None or cls in n.attrs.get("class", "").split())
        ]

    def own_title(self) -> str:
        titles = [c for c in self.children if isinstance(c, Node) and c.tag == "title"]
        return titles[0].text() if titles else ""


class _Tree(HTMLParser):
    VOID = frozenset({"br", "meta", "img", "hr", "link", "input", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        open_tag = self.stack.pop().tag
        assert open_tag == tag, f"</{tag}> closes <{open_tag}>"

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(page: str) -> Node:
    tree = _Tree()
    tree.feed(page)
    tree.close()
    assert [n.tag for n in tree.stack] == ["#document"], "unclosed elements"
    return tree.root


def rows(table: Node) -> list[list[str]]:
    body = table.all("tbody")[0]
    return [[td.text() for td in tr.all("td")] for tr in body.all("tr")]


def lanes(svg: Node) -> list[tuple[str, str]]:
    return [(g.attrs["data-network"], g.attrs["data-platform"]) for g in svg.all("g", "lane")]


@pytest.fixture(scope="module")
def page() -> str:
    return html_report(make_report())


@pytest.fixture(scope="module")
def dom(page: str) -> Node:
    return parse(page)


# ── HTML ───────────────────────────────────────────────────────────────────────────────────


def test_html_opens_offline(page: str, dom: Node) -> None:
    assert page.startswith("<!DOCTYPE html>")
    for needle in ("<script", "<link", "src=", "@import", "<iframe", "<object"):
        assert needle not in page.lower(), needle
    external = [u for u in re.findall(r"url\(([^)]*)\)", page) if not u.startswith("#")]
    assert external == []
    csp = [m for m in dom.all("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0].attrs["content"]
    # the one stylesheet is allowed by its hash; no style attribute, no 'unsafe-inline'
    assert "unsafe-inline" not in csp[0].attrs["content"]
    [sheet] = re.findall(r"<style>(.*?)</style>", page, flags=re.DOTALL)
    assert f"style-src {style_source(sheet)};" in csp[0].attrs["content"]
    assert not re.search(r"<[^>]+\sstyle=", page)
    pattern_ids = {p.attrs["id"] for p in dom.all("pattern")}
    assert set(re.findall(r"url\(#([\w-]+)\)", page)) <= pattern_ids


def test_every_svg_is_well_formed_xml(page: str) -> None:
    svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)
    assert len(svgs) > len(PLATFORMS) + 1
    for svg in svgs:
        ElementTree.fromstring(svg)


def test_header_gives_the_scope_and_a_legend(dom: Node) -> None:
    scope = dict(
        zip([dt.text() for dt in dom.all("dt")], [dd.text() for dd in dom.all("dd")], strict=True)
    )
    assert scope["Period"] == "2024-05-01 00:00:00 – 2024-05-03 00:00:00 UTC"
    assert scope["Source"] == "store /var/lib/probe"
    assert scope["Measurements"] == "1728 from 3 probe(s)"
    assert scope["Networks"] == "AS9198, AS21299, AS206026"
    assert scope["Time bucket"] == "1 h"
    assert scope["Skipped records"] == "2: no measurement_start_time"
    legend = dom.all("ul", "legend")[0].text()
    for verdict in Verdict:
        assert verdict.value in legend


def test_one_timeline_per_platform_with_a_lane_per_network(dom: Node) -> None:
    svgs = dom.all("svg", "timeline")
    assert [s.attrs["data-platform"] for s in svgs] == list(PLATFORMS)
    for svg in svgs:
        platform = svg.attrs["data-platform"]
        assert lanes(svg) == [(n, platform) for n in NETWORKS]  # ASNs in numeric order
        for lane in svg.all("g", "lane"):
            assert len(lane.all("g", "cell")) == HOURS
        assert len(svg.all("text", "tick")) >= 2


def segments(cell: Node) -> list[tuple[str, str]]:
    """Return a timeline cell's (verdict, fill) per segment, top to bottom."""
    return [(r.attrs["data-verdict"], r.attrs["fill"]) for r in cell.all("rect", "seg")]


def test_cells_show_their_verdicts_with_counts(dom: Node) -> None:
    svg = next(s for s in dom.all("svg", "timeline") if s.attrs["data-platform"] == "whatsapp")
    lane = next(g for g in svg.all("g", "lane") if g.attrs["data-network"] == "AS9198")
    cells = {c.own_title().split(" UTC")[0]: c for c in lane.all("g", "cell")}
    blocked = cells["2024-05-01 12:00:00"]
    assert segments(blocked) == [("blocked", "url(#pat-blocked)"), ("accessible", "#009E73")]
    assert blocked.own_title().endswith("1 h: 3 blocked, 1 accessible")
    assert segments(cells["2024-05-01 09:00:00"]) == [("accessible", "#009E73")]
    youtube = next(s for s in dom.all("svg", "timeline") if s.attrs["data-platform"] == "youtube")
    down = [c for c in youtube.all("g", "cell") if segments(c)[0][0] == "service_down"]
    assert len(down) == 2 * len(NETWORKS)
    assert down[0].own_title() == "2024-05-01 05:00:00 UTC, 1 h: 4 service_down"


def test_incidents_windows_and_claims_are_drawn_over_the_lanes(dom: Node) -> None:
    by_lane = {
        (g.attrs["data-network"], g.attrs["data-platform"]): g
        for svg in dom.all("svg", "timeline")
        for g in svg.all("g", "lane")
    }
    with_incident = {key for key, g in by_lane.items() if g.all("g", "incident")}
    assert with_incident == {("AS9198", "whatsapp"), ("AS21299", "telegram")}
    dark = {key for key, g in by_lane.items() if g.all("rect", "network_outage")}
    assert dark == {("AS206026", p) for p in PLATFORMS}
    down = {key for key, g in by_lane.items() if g.all("rect", "platform_down")}
    assert down == {(n, "youtube") for n in NETWORKS}
    marks = {
        s.attrs["data-platform"]: len(s.all("g", "claim-mark")) for s in dom.all("svg", "timeline")
    }
    # C2 is about every platform, C1 about WhatsApp, C3 about YouTube; C4 is out of the period
    assert marks == {"whatsapp": 2, "telegram": 1, "youtube": 2}
    notes = [p.text() for p in dom.all("p", "note")]
    assert notes == ["1 claim(s) lie outside the plotted period."]


def test_heat_map_has_a_row_per_platform_with_shares(dom: Node) -> None:
    (svg,) = dom.all("svg", "heatmap")
    row_nodes = svg.all("g", "row")
    assert [r.attrs["data-platform"] for r in row_nodes] == sorted(PLATFORMS)
    whatsapp = row_nodes[1]
    titles = [c.own_title() for c in whatsapp.all("rect", "cell")]
    assert len(titles) == HOURS
    # hour 12: 3 of AS9198's 4 were blocked, the other networks' 8 loaded
    assert "whatsapp, 2024-05-01 12:00:00 UTC, 1 h: 3 of 12 measurements" in titles[12]
    assert titles[12].endswith("blocked or throttled (25%)")
    fills = {c.attrs["fill"] for c in row_nodes[0].all("rect", "cell")}
    assert len(fills) == 2  # telegram: untouched hours and the throttled ones differ


def test_incident_table(dom: Node) -> None:
    (table,) = dom.all("table", "incidents")
    got = rows(table)
    assert [r[0] for r in got] == ["whatsapp", "telegram"]
    whatsapp, telegram = got
    assert whatsapp[1] == "AS9198 JSC Kazakhtelecom"
    assert whatsapp[2:6] == [
        "2024-05-01 10:00:00", "2024-05-01 19:54:00", "2024-05-01 09:54:00", "2024-05-01 20:00:00",
    ]  # fmt: skip
    assert whatsapp[6] == "blocked"
    assert whatsapp[7] == "tls_resettls_reset (28), dns_hijack (2)"
    assert whatsapp[8:11] == ["web.whatsapp.com:443", "30", "2"]
    assert whatsapp[11] == "high2 probes agreecontrol sites loaded"
    assert telegram[5] == "—"
    assert telegram[8] == "web.telegram.org:443149.154.167.99:443"


def test_window_tables(dom: Node) -> None:
    (outages,) = dom.all("table", "outages")
    (down,) = dom.all("table", "platform-down")
    assert rows(outages) == [
        [
            "AS206026", "*", "2024-05-02 16:00:00", "2024-05-02 18:54:00", "2024-05-02 15:54:00",
            "2024-05-02 19:00:00", "36", "1", "mediumcontrols failed",
        ]
    ]  # fmt: skip
    assert rows(down)[0][:2] == ["AS9198, AS21299, AS206026", "youtube"]


def test_claim_table_gives_each_finding(dom: Node) -> None:
    (table,) = dom.all("table", "claims")
    got = rows(table)
    assert [r[0] for r in got] == ["C1", "C2", "C3", "C4"]
    badges = [td.all("span", "badge")[0] for td in table.all("td", "finding")]
    assert [b.attrs["data-value"] for b in badges] == [c.finding.value for c in CLAIMS]
    # text contrast: dark on vermillion and light grey, white on dark grey and purple
    assert [b.attrs["class"].split()[:2] for b in badges] == [
        ["badge", t] for t in ("light", "dark", "dark", "light")
    ]
    # the colour by class (a strict CSP: no style attribute), the palette's
    assert [b.attrs["class"].split()[2] for b in badges] == [
        swatch_class(FINDINGS[c.finding.value].colour) for c in CLAIMS
    ]
    assert all("style" not in b.attrs for b in badges)
    assert [b.text() for b in badges] == [
        "contradicted by blocking", "consistent with outage", "platform outage",
        "insufficient data",
    ]  # fmt: skip
    assert got[0][4] == "There was an accident on a trunk line."
    assert got[0][5] == "Kazakhtelecom press office"
    assert got[0][8] == "summary of contradicted_by_blocking"
    assert got[2][2:4] == ["all networks", "youtube"]
    links = [a.attrs["href"] for a in table.all("a")]
    assert links == ["https://example.org/press/2024-05-01", "https://example.org/kcell"]


def test_hostile_strings_are_escaped() -> None:
    hostile_claim = claim(
        ClaimFinding.CONTRADICTED_BY_BLOCKING, HOSTILE, 1, 2, network=HOSTILE,
        said_by='"><img src=x onerror=alert(1)>', source="javascript:alert(1)",
    )  # fmt: skip
    cells = [TimelineCell(network="AS9198", platform=HOSTILE, start=at(1), counts={"blocked": 1})]
    incident = INCIDENTS[0].model_copy(update={"platform": HOSTILE, "network_name": HOSTILE})
    report = make_report(claims=[hostile_claim], timeline=timeline() + cells, incidents=[incident])
    page = html_report(report)
    dom = parse(page)
    assert "<script" not in page
    assert "<img" not in page
    assert 'href="javascript' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert HOSTILE in [s.attrs["data-platform"] for s in dom.all("svg", "timeline")]
    assert HOSTILE in rows(dom.all("table", "incidents")[0])[0][0]
    claim_row = rows(dom.all("table", "claims")[0])[0]
    assert claim_row[4] == HOSTILE
    assert claim_row[6] == "javascript:alert(1)"  # shown as text, never linked
    assert dom.all("table", "claims")[0].all("a") == []


def test_empty_report_says_so() -> None:
    page = html_report(empty_report())
    dom = parse(page)
    assert dom.all("p", "empty")[0].text() == "No measurements in this period."
    assert dom.all("svg", "timeline") == [] and dom.all("svg", "heatmap") == []
    assert rows(dom.all("table", "claims")[0])[0][7] == "insufficient data"


def test_lanes_are_capped_and_the_page_says_so() -> None:
    networks = [f"AS{64500 + i}" for i in range(MAX_LANES + 10)]
    cells = [
        TimelineCell(network=n, platform="signal", start=at(h), counts={"accessible": 2})
        for n in networks
        for h in range(3)
    ]
    # The last network alphabetically is the only one with an incident: it must be kept.
    incident = INCIDENTS[0].model_copy(update={"platform": "signal", "network": networks[-1]})
    page = html_report(make_report(timeline=cells, incidents=[incident], claims=[]))
    dom = parse(page)
    shown = [lane for svg in dom.all("svg", "timeline") for lane in lanes(svg)]
    assert len(shown) == MAX_LANES
    assert (networks[-1], "signal") in shown
    notes = " ".join(p.text() for p in dom.all("p", "note"))
    assert f"Showing {MAX_LANES} of {MAX_LANES + 10} network × platform lanes" in notes
    # the heat map still counts every network, the left-out lanes' too
    heat_cells = dom.all("svg", "heatmap")[0].all("rect", "cell")
    assert "0 of 140 measurements" in heat_cells[0].own_title()
    assert len(rows(dom.all("table", "incidents")[0])) == 1


def test_columns_are_capped_for_fine_buckets() -> None:
    minutes = 30 * 24 * 60  # a month of one-minute buckets
    cells = [
        TimelineCell(network="AS9198", platform="signal", start=at(m / 60), counts={"blocked": 1})
        for m in range(minutes)
    ]
    scope = make_report().scope.model_copy(
        update={"until": at(minutes / 60), "last_measurement": at(minutes / 60)}
    )
    report = make_report(
        bucket_seconds=60, timeline=cells, scope=scope, incidents=[], outages=[],
        platform_down=[], claims=[], generated_at=at(minutes / 60 + 1),
    )  # fmt: skip
    page = html_report(report)
    dom = parse(page)
    (lane,) = dom.all("g", "lane")
    assert 0 < len(lane.all("g", "cell")) <= MAX_COLUMNS
    assert "Each plot column merges" in page
    assert len(page) < 1_000_000


@pytest.mark.parametrize(
    ("hours", "label"),
    [
        (1, r"^(\d\d \w{3} )?\d\d:\d\d$"),
        (24, r"^(\d\d \w{3} )?\d\d:\d\d$"),
        (24 * 30, r"^\d\d \w{3}( \d{4})?$"),
        (24 * 366, r"^\w{3} \d{4}$"),
    ],
    ids=["hour", "day", "month", "year"],
)
def test_time_axis_ticks_fit_the_span(hours: int, label: str) -> None:
    bucket = max(hours * 3600 // 48, 60)
    cells = [
        TimelineCell(
            network="AS9198", platform="signal", start=at(i * bucket / 3600),
            counts={"accessible": 1},
        )
        for i in range(hours * 3600 // bucket)
    ]  # fmt: skip
    scope = ReportScope(source="s", since=at(0), until=at(hours), measurements=len(cells))
    report = make_report(
        scope=scope, bucket_seconds=bucket, timeline=cells, incidents=[], outages=[],
        platform_down=[], claims=[], generated_at=at(hours + 1),
    )  # fmt: skip
    (svg,) = parse(html_report(report)).all("svg", "timeline")
    ticks = svg.all("text", "tick")
    assert 3 <= len(ticks) <= 9, [t.text() for t in ticks]
    for tick in ticks:
        assert re.match(label, tick.text()), tick.text()
    xs = [float(t.attrs["x"]) for t in ticks]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)


# ── CSV ────────────────────────────────────────────────────────────────────────────────────


def test_csv_has_a_row_per_record() -> None:
    text = csv_report(make_report())
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    got = list(reader)
    records = ["incident", "incident", "network_outage", "platform_down"] + ["claim"] * 4
    assert [r["record"] for r in got] == records
    whatsapp = got[0]
    assert whatsapp["network_name"] == "JSC Kazakhtelecom"
    assert whatsapp["start"] == "2024-05-01T10:00:00Z"
    assert whatsapp["onset_after"] == "2024-05-01T09:54:00Z"
    assert whatsapp["methods"] == "tls_reset:28;dns_hijack:2"
    assert whatsapp["blocking"] == "tls_reset"
    assert (whatsapp["measurements"], whatsapp["probes"], whatsapp["confidence"]) == (
        "30",
        "2",
        "high",
    )
    assert got[1]["endpoints"] == "web.telegram.org:443;149.154.167.99:443"
    assert got[1]["ended_before"] == ""
    assert (got[2]["network"], got[2]["verdict"]) == ("AS206026", "network_outage")
    assert (got[3]["platform"], got[3]["verdict"]) == ("youtube", "service_down")
    assert [r["finding"] for r in got[4:]] == [c.finding.value for c in CLAIMS]
    assert got[4]["methods"] == "tls_reset:9"
    assert got[4]["source"] == "https://example.org/press/2024-05-01"
    assert got[6]["network"] == "" and got[6]["platform"] == "youtube"


@pytest.mark.parametrize("payload", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)"])
def test_csv_neutralises_formulas(payload: str) -> None:
    hostile = claim(ClaimFinding.INSUFFICIENT_DATA, payload, 0, 1, said_by=payload)
    incident = INCIDENTS[0].model_copy(update={"network_name": payload})
    text = csv_report(make_report(claims=[hostile], incidents=[incident]))
    got = list(csv.DictReader(io.StringIO(text)))
    assert got[0]["network_name"] == "'" + payload
    assert got[-1]["statement"] == "'" + payload


# ── terminal ───────────────────────────────────────────────────────────────────────────────


def test_print_report_names_incidents_and_findings() -> None:
    console = Console(record=True, width=100, color_system=None)
    print_report(make_report(), console)
    text = console.export_text()
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "1728 measurements" in text
    # most recent first: Telegram (day 2) before WhatsApp (day 1)
    assert 0 < text.index("telegram") < text.index("whatsapp")
    for finding in ClaimFinding:
        assert f"{finding.value}: summary of {finding.value}" in text
    assert "Network outages" in text and "Platforms down" in text


@pytest.mark.parametrize("width", [80, 120])
def test_print_report_fits_the_terminal_and_cuts_no_word(width: int) -> None:
    """Issue 20: at 80 columns (an SSH terminal) the tables sliced words ("Kazakht / elecom");
    below 100 columns each incident, window and claim is a block of lines wrapped between
    words."""
    console = Console(record=True, width=width, color_system=None)
    print_report(make_report(), console)
    text = console.export_text()
    assert all(len(line) <= width for line in text.splitlines()), text
    words = " ".join(text.split())
    for whole in ("Kazakhtelecom", "throttling", "tls_reset", "contradicted_by_blocking",
                  "2024-05-01 19:54"):  # fmt: skip
        assert whole in words, f"{whole!r} cut at {width} columns:\n{text}"
    if width < 100:  # a table cell wraps a statement over rows; an item keeps it whole
        assert "There was an accident on a trunk line." in words, text
    assert 0 < text.index("telegram") < text.index("whatsapp"), "most recent first"


def test_print_report_does_not_read_markup_from_users() -> None:
    hostile = claim(ClaimFinding.PLATFORM_OUTAGE, "[bold red]not a style[/]", 0, 1)
    console = Console(record=True, width=100, color_system=None)
    print_report(make_report(claims=[hostile]), console)
    assert "[bold red]not a style[/]" in console.export_text()


def test_print_report_on_an_empty_report() -> None:
    console = Console(record=True, width=100, color_system=None)
    print_report(empty_report(), console)
    text = console.export_text()
    assert "No measurements in this period." in text
    assert "insufficient_data" in text


def test_a_cell_without_measurements_is_left_blank() -> None:
    cells = [
        TimelineCell(network="AS9198", platform="signal", start=at(0), counts={}),
        TimelineCell(network="AS9198", platform="signal", start=at(1), counts={"blocked": 0}),
        TimelineCell(network="AS9198", platform="signal", start=at(2), counts={"accessible": 1}),
    ]
    dom = parse(html_report(make_report(timeline=cells, incidents=[], claims=[])))
    assert len(dom.all("svg", "timeline")[0].all("g", "cell")) == 1
    assert len(dom.all("svg", "heatmap")[0].all("rect", "cell")) == 1


def test_render_still_offers_the_html_renderer() -> None:
    # probe/cli/report.py and bench/report_bench.py import all three renderers from render
    assert render.html_report is html_report


def test_importing_the_renderers_leaves_rich_unloaded() -> None:
    code = "import sys, probe.report.render; print('rich' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
