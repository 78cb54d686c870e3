"""The plots' geometry, read back from the SVG (issue 23: what the static report drew wrong).

Seen in `probe report --html`: one measurement drawn as a day-wide bucket reaching hours past
now; claim lanes on every platform's panel; a bucket of 12 blocked, 4 accessible and 4
service_down in one colour with no rule said; the period following --since rather than the
data; axis text ~6 px at 800 px. Each test parses the SVG with xml.etree and measures.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from probe.models.reports import (
    AssessedClaim,
    Claim,
    ClaimEvidence,
    ClaimFinding,
    Report,
    ReportScope,
    TimelineCell,
)
from probe.report.build import build_report
from probe.report.engines import DuckDbEngine
from probe.report.html import html_report
from probe.report.plots import plot_layout, timeline_panels, timeline_svgs
from probe.report.sources import load_facts
from probe.report.svg import legend_svg

from .test_build import day_facts

NS = "{http://www.w3.org/2000/svg}"
NOW = datetime(2024, 5, 8, 14, 0, tzinfo=UTC)
DAY = 86_400
RENDERED_PX = 800
MIN_TEXT_PX = 11


def iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def cell(start: datetime, counts: dict[str, int], first: datetime, last: datetime,
         platform: str = "whatsapp", network: str = "AS9198") -> TimelineCell:  # fmt: skip
    return TimelineCell(
        network=network, platform=platform, start=start, counts=counts, first_at=first,
        last_at=last,
    )  # fmt: skip


def report_of(cells: list[TimelineCell], bucket_s: int, **changes: object) -> Report:
    firsts = [c.first_at for c in cells if c.first_at]
    lasts = [c.last_at for c in cells if c.last_at]
    scope = ReportScope(
        source="test", since=NOW - timedelta(days=7), until=None,
        first_measurement=min(firsts), last_measurement=max(lasts),
        measurements=sum(sum(c.counts.values()) for c in cells),
        network_names={"AS9198": "JSC Kazakhtelecom", "AS21299": "Kar-Tel"},
    )  # fmt: skip
    fields: dict[str, object] = {
        "generated_at": NOW, "software_version": "t", "engine": "duckdb", "scope": scope,
        "bucket_seconds": bucket_s, "timeline": cells,
    }  # fmt: skip
    return Report.model_validate(fields | changes)


def svgs_of(report: Report) -> dict[str, ElementTree.Element]:
    drawn = timeline_svgs(report, plot_layout(report))
    return {platform: ElementTree.fromstring(text) for platform, text in drawn.items()}


def x_of(svg: ElementTree.Element, moment: datetime) -> float:
    """Return the x of `moment` on the plot, from the SVG's own period and axis line."""
    start, end = iso(svg.attrib["data-start"]), iso(svg.attrib["data-end"])
    axis = next(e for e in svg.iter(f"{NS}line") if e.get("class") == "axis")
    left, right = float(axis.attrib["x1"]), float(axis.attrib["x2"])
    return left + (moment - start) / (end - start) * (right - left)


def right_edge(svg: ElementTree.Element) -> float:
    axis = next(e for e in svg.iter(f"{NS}line") if e.get("class") == "axis")
    return float(axis.attrib["x2"])


def cells_of(svg: ElementTree.Element) -> list[ElementTree.Element]:
    return [g for g in svg.iter(f"{NS}g") if "cell" in g.get("class", "").split()]


def segments(group: ElementTree.Element) -> list[ElementTree.Element]:
    return [r for r in group.iter(f"{NS}rect") if r.get("class") == "seg"]


def assert_nothing_past(svg: ElementTree.Element, now: datetime) -> None:
    assert iso(svg.attrib["data-end"]) <= now, "the period runs past now"
    edge = right_edge(svg)
    for rect in svg.iter(f"{NS}rect"):
        if rect.get("x") is None:  # pattern tiles
            continue
        right = float(rect.attrib["x"]) + float(rect.attrib["width"])
        assert right <= edge + 0.05, (rect.attrib, edge)
    for line in svg.iter(f"{NS}line"):
        assert max(float(line.attrib["x1"]), float(line.attrib["x2"])) <= edge + 0.05


# ── a lone measurement ─────────────────────────────────────────────────────────────────────


def test_a_lone_measurement_is_a_tick_at_its_time_not_a_day_wide_bar() -> None:
    at = NOW - timedelta(hours=3)
    day_start = at.replace(hour=0)
    report = report_of([cell(day_start, {"blocked": 1}, at, at)], DAY)
    svg = svgs_of(report)["whatsapp"]
    (group,) = cells_of(svg)
    assert "tick" in group.get("class", "").split()
    (seg,) = segments(group)
    width = float(seg.attrib["width"])
    assert width <= 3, f"a lone measurement drawn {width} wide"
    centre = float(seg.attrib["x"]) + width / 2
    assert abs(centre - x_of(svg, at)) <= 1.5
    assert_nothing_past(svg, NOW)


def test_a_lone_measurement_end_to_end_from_a_week_of_since() -> None:
    """Issue 23's case through the engine: `probe report --since 7d` over one measurement."""
    engine = DuckDbEngine()
    try:
        load_facts(engine, day_facts()[:1])
        first = build_report(engine, source="t", software_version="t", generated_at=NOW)
        measured = first.scope.first_measurement
        assert measured is not None
        now = measured + timedelta(hours=2)
        report = build_report(
            engine, source="t", software_version="t", generated_at=now,
            since=measured - timedelta(days=7),
        )  # fmt: skip
    finally:
        engine.close()
    (only,) = report.timeline
    assert only.first_at == only.last_at == measured
    assert report.bucket_seconds >= 3600  # a wide bucket: the bar must not take its width
    page = html_report(report)
    plots = [ElementTree.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", page, re.DOTALL)]
    (svg,) = [s for s in plots if s.get("class") == "timeline"]
    (group,) = cells_of(svg)
    (seg,) = segments(group)
    assert float(seg.attrib["width"]) <= 3
    assert abs(float(seg.attrib["x"]) + float(seg.attrib["width"]) / 2 - x_of(svg, measured)) < 2
    assert_nothing_past(svg, now)
    (heatmap,) = [s for s in plots if s.get("class") == "heatmap"]
    (heat,) = [r for r in heatmap.iter(f"{NS}rect") if r.get("class") == "cell"]
    assert float(heat.attrib["width"]) <= 3  # the heat map's too


# ── the period ─────────────────────────────────────────────────────────────────────────────


def test_sparse_data_starts_the_axis_at_the_first_measurement_not_at_since() -> None:
    first = NOW - timedelta(hours=2)
    cells = [
        cell(first + timedelta(minutes=15 * i), {"accessible": 5, "blocked": 1},
             first + timedelta(minutes=15 * i + 1), first + timedelta(minutes=15 * i + 14))
        for i in range(8)
    ]  # fmt: skip  # 48 measurements in the last two hours of a 7-day --since
    svg = svgs_of(report_of(cells, 900))["whatsapp"]
    assert iso(svg.attrib["data-start"]) == first + timedelta(minutes=1)  # the first measured
    assert iso(svg.attrib["data-end"]) == first + timedelta(minutes=15 * 7 + 14)
    xs = [float(seg.attrib["x"]) for group in cells_of(svg) for seg in segments(group)]
    axis = next(e for e in svg.iter(f"{NS}line") if e.get("class") == "axis")
    assert min(xs) == pytest.approx(float(axis.attrib["x1"]))
    # the data fills the plot: the last bucket ends at the right edge, not in a sliver
    rights = [float(s.attrib["x"]) + float(s.attrib["width"]) for g in cells_of(svg)
              for s in segments(g)]  # fmt: skip
    assert max(rights) == pytest.approx(right_edge(svg), abs=0.1)


def test_no_element_reaches_past_now_when_the_last_bucket_is_open() -> None:
    # day buckets, the last one begun 14 h ago: its bar stops at now (the last measurement)
    cells = [
        cell(NOW.replace(hour=0) - timedelta(days=d), {"accessible": 20, "throttled": 4},
             NOW.replace(hour=0) - timedelta(days=d, hours=-1), NOW - timedelta(days=d))
        for d in range(5)
    ]  # fmt: skip
    svg = svgs_of(report_of(cells, DAY))
    assert_nothing_past(svg["whatsapp"], NOW)


# ── mixed buckets ──────────────────────────────────────────────────────────────────────────


def test_a_mixed_bucket_shows_its_mix_in_proportion_and_the_rule_is_stated() -> None:
    at = NOW - timedelta(hours=5)
    counts = {"blocked": 12, "accessible": 4, "service_down": 4}
    cells = [
        cell(at, counts, at, at + timedelta(minutes=50)),
        cell(at + timedelta(hours=1), {"accessible": 20}, at + timedelta(hours=1), NOW),
    ]
    page = html_report(report_of(cells, 3600))
    svg = svgs_of(report_of(cells, 3600))["whatsapp"]
    mixed = cells_of(svg)[0]
    got = [(s.attrib["data-verdict"], float(s.attrib["height"])) for s in segments(mixed)]
    assert [v for v, _ in got] == ["blocked", "service_down", "accessible"]  # most severe on top
    total = sum(h for _, h in got)
    assert [round(h / total, 2) for _, h in got] == [0.6, 0.2, 0.2]
    tops = [float(s.attrib["y"]) for s in segments(mixed)]
    assert tops == sorted(tops)
    title = mixed.find(f"{NS}title")
    assert title is not None and title.text is not None
    assert title.text.endswith("12 blocked, 4 accessible, 4 service_down")
    desc = svg.find(f"{NS}desc")
    assert desc is not None and "in proportion" in (desc.text or "")
    assert "in proportion to their measurements" in page  # and the page's legend says so


# ── claims ─────────────────────────────────────────────────────────────────────────────────


def assessed(number: int, **fields: object) -> AssessedClaim:
    claim = Claim(start=NOW - timedelta(hours=4), end=NOW - timedelta(hours=2),
                  statement=f"claim {number}", **fields)  # fmt: skip
    return AssessedClaim(
        claim=claim, finding=ClaimFinding.INSUFFICIENT_DATA, summary="s",
        evidence=ClaimEvidence(),
    )  # fmt: skip


def test_claim_lanes_only_on_the_panels_of_what_they_name() -> None:
    start, end = NOW - timedelta(hours=6), NOW
    cells = [
        cell(start, {"accessible": 4}, start, end, "whatsapp", "AS9198"),
        cell(start, {"accessible": 4}, start, end, "whatsapp", "AS21299"),
        cell(start, {"accessible": 4}, start, end, "youtube", "AS9198"),
        cell(start, {"accessible": 4}, start, end, "telegram", "AS21299"),
    ]
    claims = [
        assessed(1, platforms=["WhatsApp"]),  # names one platform (another spelling)
        assessed(2, network="kar-tel"),  # names a network by its operator: not on youtube's
        assessed(3),  # about everything
        assessed(4, network="AS21299", platforms=["youtube"]),  # youtube was not on AS21299
    ]
    svgs = svgs_of(report_of(cells, 6 * 3600, claims=claims))
    marked = {
        platform: [g.attrib["data-claim"] for g in svg.iter(f"{NS}g")
                   if g.get("class") == "claim-mark"]
        for platform, svg in svgs.items()
    }  # fmt: skip
    assert marked == {
        "telegram": ["C2", "C3"],
        "whatsapp": ["C1", "C2", "C3"],
        "youtube": ["C3"],
    }


# ── reading and CSP ────────────────────────────────────────────────────────────────────────


def _font_sizes(svg: ElementTree.Element) -> list[tuple[str, float]]:
    """Return each text's effective font-size (its own or the nearest ancestor's attribute)."""
    found: list[tuple[str, float]] = []

    def walk(node: ElementTree.Element, inherited: float | None) -> None:
        size = float(node.attrib["font-size"]) if "font-size" in node.attrib else inherited
        if node.tag == f"{NS}text":
            assert size is not None, "a text without a font-size"
            found.append(("".join(node.itertext()), size))
        for child in node:
            walk(child, size)

    walk(svg, None)
    return found


@pytest.fixture(scope="module")
def page() -> str:
    from .test_render import make_report

    return html_report(make_report())


def test_axis_and_labels_are_at_least_11_px_at_800_px(page: str) -> None:
    svgs = [ElementTree.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", page, re.DOTALL)]
    plots = [s for s in svgs if s.get("class") in ("timeline", "heatmap")]
    assert len(plots) == 4
    for svg in plots:
        view_width = float(svg.attrib["viewBox"].split()[2])
        sizes = _font_sizes(svg)
        assert any(text == "UTC" for text, _ in sizes)
        for text, size in sizes:
            rendered = size * RENDERED_PX / view_width
            assert rendered >= MIN_TEXT_PX, f"{text!r}: {rendered:.1f} px at {RENDERED_PX} px"


def test_the_svg_draws_under_a_strict_csp() -> None:
    """No style attribute, no <style>, no script, no foreign reference: every url(#…) resolves
    inside the same SVG (the live pages serve `style-src 'self'`)."""
    at = NOW - timedelta(hours=3)
    panels = timeline_panels(
        [cell(at, {"blocked": 3, "accessible": 1}, at, at + timedelta(minutes=20))],
        bucket_seconds=3600, now=NOW,
    )  # fmt: skip
    (text,) = panels.values()
    for drawn in (text, legend_svg()):
        svg = ElementTree.fromstring(drawn)
        ids = {e.attrib["id"] for e in svg.iter() if "id" in e.attrib}
        for element in svg.iter():
            assert "style" not in element.attrib, element.tag
            assert element.tag not in (f"{NS}style", f"{NS}script", f"{NS}image", f"{NS}use")
            for value in element.attrib.values():
                for target in re.findall(r"url\(([^)]*)\)", value):
                    assert target.startswith("#") and target[1:] in ids, target
    assert_nothing_past(ElementTree.fromstring(text), NOW)


def test_timeline_panels_draw_what_the_report_draws() -> None:
    at = NOW - timedelta(hours=3)
    cells = [cell(at, {"blocked": 3, "accessible": 1}, at, at + timedelta(minutes=20))]
    report = report_of(cells, 3600)
    report = report.model_copy(update={"scope": ReportScope(source="", network_names={})})
    panels = timeline_panels(cells, bucket_seconds=3600, now=NOW)
    assert panels == timeline_svgs(report, plot_layout(report))
