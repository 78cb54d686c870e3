"""Inline SVG for the reports: a timeline per platform and a heat map, on one time axis.

Pure: a `Report` in, SVG text out, using the standard library and probe.models only. Both
plots share one `Layout`: the period, its columns and its lanes. The period runs from the
first to the last measurement (not from `--since`: 50 measurements of the last hour would be
a sliver at the edge of a week), and never past the report's `generated_at` ("now"). It is
bounded for big reports: at most MAX_LANES network × platform lanes (the most affected are
kept) and at most MAX_COLUMNS columns per lane (adjacent buckets are merged beyond that);
html.py says on the page what was left out or merged. Strings from users are escaped.

A bucket is drawn as a bar split among its verdicts in proportion to their measurements (the
most severe at the top: svg.COLOUR_RULE says so on every plot), and a bucket of a single
measurement as a tick at that measurement's time (issue 23): cells.py, which keeps each cell's
text across renderings. Claims are marked only on the panels of the platforms and networks
they name.

The SVG is standalone (svg.py): patterns and presentation attributes, no `style`, so it draws
under a strict Content-Security-Policy. Callers that have cells rather than a report
(the collector's live pages) use `timeline_panels`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape

from probe.models.reports import (
    AssessedClaim,
    FailureWindow,
    Incident,
    Report,
    ReportScope,
    TimelineCell,
    WindowKind,
)
from probe.models.results import Verdict
from probe.report import svg
from probe.report.cells import BAR_H, SEVERITY, cells_svg, forget
from probe.report.formats import (
    duration_text,
    epoch_s,
    iso_text,
    methods_text,
    short_text,
    utc_at,
    when_text,
)
from probe.report.layout import (
    AFFECTED,
    MAX_COLUMNS,
    MAX_LANES,
    Columns,
    Lane,
    Layout,
    plot_layout,
)
from probe.report.palette import FINDINGS, VERDICTS, WHITELISTING, finding_colour, verdict_colour
from probe.report.svg import verdict_fill

__all__ = [
    "FINDING_COLOURS",
    "MAX_CLAIM_ROWS",
    "MAX_COLUMNS",
    "MAX_LANES",
    "SEVERITY",
    "SVG_DEFS",
    "VERDICT_COLOURS",
    "WHITELISTING",
    "WINDOW_NAMES",
    "Lane",
    "Layout",
    "claim_applies",
    "duration_text",
    "epoch_s",
    "forget",
    "heatmap_svg",
    "methods_text",
    "plot_layout",
    "plotted_claims",
    "timeline_panels",
    "timeline_svgs",
    "utc_at",
    "verdict_fill",
    "when_text",
]

MAX_CLAIM_ROWS = 12

# The palette's colours as plain mappings (palette.py is the one place they are defined).
VERDICT_COLOURS: dict[str, str] = {name: s.colour for name, s in VERDICTS.items()}
FINDING_COLOURS: dict[str, str] = {name: s.colour for name, s in FINDINGS.items()}
# One hidden SVG with the patterns, for a page's own small swatches (each plot has its own).
SVG_DEFS = (
    '<svg class="svg-defs" width="0" height="0" aria-hidden="true" '
    f'xmlns="http://www.w3.org/2000/svg">{svg.DEFS}</svg>'
)
_HEAT_STOPS = ((255, 247, 236), (253, 212, 158), (252, 141, 89), (215, 48, 31), (127, 0, 0))

_LANE_H, _BAR_Y = 28.0, 8.0  # a lane: the incident bar above, then the cells (BAR_H high)
_CLAIM_H, _ROW_H = 20.0, 22.0
_AXIS_H = svg.FONT_SIZE + 14

# ── the timeline ───────────────────────────────────────────────────────────────────────────


WINDOW_NAMES = {
    WindowKind.NETWORK_OUTAGE: "network outage",
    WindowKind.PLATFORM_DOWN: "platform down",
    WindowKind.WHITELISTING: "whitelisting (only allow-listed destinations)",
}
_WINDOW_LOOKS = {  # fill and stroke, dashes
    WindowKind.NETWORK_OUTAGE: ("#000", "4 2"),
    WindowKind.PLATFORM_DOWN: (verdict_colour(Verdict.SERVICE_DOWN), "4 2"),
    WindowKind.WHITELISTING: (verdict_colour(WHITELISTING), "6 2"),
}


def _window_overlay(window: FailureWindow, layout: Layout, y: float) -> str:
    x0, x1 = layout.x(window.start), layout.x(window.end)
    sites = f"; loaded: {', '.join(window.sites_loaded)}" if window.sites_loaded else ""
    tip = (
        f"{WINDOW_NAMES[window.kind]}: {when_text(window.start)} – {when_text(window.end)} UTC;"
        f" {window.measurements} measurements, {window.probes} probes; confidence"
        f" {window.confidence.value}{sites}"
    )
    colour, dashes = _WINDOW_LOOKS[window.kind]
    attrs = (
        f'class="{window.kind.value}" fill="{colour}" fill-opacity=".16" stroke="{colour}" '
        f'stroke-dasharray="{dashes}"'
    )
    return svg.rect(x0, y, x1 - x0, _LANE_H - 2, attrs, tip)


def _incident_overlay(incident: Incident, layout: Layout, y: float) -> str:
    x0, x1 = layout.x(incident.start), layout.x(incident.end)
    before = layout.x(incident.onset_after) if incident.onset_after else x0
    after = layout.x(incident.ended_before) if incident.ended_before else x1
    tip = (
        f"incident: {incident.platform} {incident.verdict.value} on {incident.network} "
        f"{incident.network_name}: {when_text(incident.start)} – {when_text(incident.end)} UTC "
        f"(began after {when_text(incident.onset_after)}, ended before "
        f"{when_text(incident.ended_before)}); {incident.measurements} measurements, "
        f"{incident.probes} probes; {methods_text(incident.methods, ', ', '{} ({})')}; "
        f"confidence {incident.confidence.value}"
    )
    colour = verdict_colour(incident.verdict)
    return (
        f'<g class="incident"><title>{escape(tip)}</title>'
        f'<line x1="{before:.1f}" y1="{y + 3:.1f}" x2="{after:.1f}" y2="{y + 3:.1f}" '
        f'stroke="{colour}" stroke-dasharray="2 2"/>'
        + svg.rect(x0, y, x1 - x0, 6, f'fill="{colour}" stroke="#000" stroke-width="0.5"')
        + "</g>"
    )


def _lane_svg(lane: Lane, layout: Layout, report: Report, y: float) -> str:
    name = layout.names.get(lane.network, "")
    label = f"{lane.network} {name}".strip()
    parts = [
        f'<g class="lane" data-network="{escape(lane.network)}" '
        f'data-platform="{escape(lane.platform)}" shape-rendering="crispEdges">',
        svg.text(
            svg.LEFT - 8,
            y + 21,
            short_text(label, svg.LABEL_CHARS),
            "label",
            tip=f"{label} · {lane.platform}",
        ),
        svg.rect(
            svg.LEFT, y + _BAR_Y, svg.PLOT_W, BAR_H, f'class="nodata" fill="{svg.NODATA_FILL}"'
        ),
    ]
    parts += cells_svg(lane, layout, y + _BAR_Y)
    for window in [*report.outages, *report.whitelisting]:
        if _covers(window.network, window.networks, lane.network):
            parts.append(_window_overlay(window, layout, y))
    for window in report.platform_down:
        if _covers(window.platform, window.platforms, lane.platform):
            parts.append(_window_overlay(window, layout, y))
    parts += [_incident_overlay(incident, layout, y) for incident in lane.incidents]
    parts.append("</g>")
    return "".join(parts)


def _covers(single: str, several: Sequence[str], value: str) -> bool:
    return value in several or single == value or (single == "*" and not several)


# ── claims ─────────────────────────────────────────────────────────────────────────────────


def _network_named(said: str, network: str, name: str) -> bool:
    """Return whether a claim's network ("AS9198" or part of an operator's name) is this one:
    the rule of sql.claim_filter, so the plot marks a claim where its evidence came from."""
    part = said.lower().replace("%", "").replace("_", "")
    return network.lower() == said.lower() or part in name.lower()


def claim_applies(
    assessed: AssessedClaim, platform: str, networks: Iterable[str], names: Mapping[str, str]
) -> bool:
    """Return whether a claim is about `platform` and one of `networks`: one it names (by ASN or
    operator name) or one its evidence came from. A claim that names no platform or no network
    is about all of them."""
    claim = assessed.claim
    if claim.platforms and platform.casefold() not in {p.casefold() for p in claim.platforms}:
        return False
    if not claim.network:
        return True
    return any(
        n in assessed.evidence.networks or _network_named(claim.network, n, names.get(n, ""))
        for n in networks
    )


def _claim_marks(claims: Sequence[tuple[int, AssessedClaim]], layout: Layout, top: float) -> str:
    parts = []
    for row, (number, assessed) in enumerate(claims[:MAX_CLAIM_ROWS]):
        claim, y = assessed.claim, top + row * _CLAIM_H
        x0, x1 = layout.x(claim.start), layout.x(claim.end)
        tip = (
            f"C{number}: {claim.statement} ({claim.said_by or 'unattributed'}), "
            f"{when_text(claim.start)} – {when_text(claim.end)} UTC: {assessed.finding.value}"
        )
        edges = "".join(
            f'<line class="claim-edge" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{y:.1f}" '
            'stroke="#555" stroke-dasharray="1 3"/>'
            for x, t in ((x0, claim.start), (x1, claim.end))
            if layout.start <= epoch_s(t) <= layout.end
        )
        parts.append(
            f'<g class="claim-mark" data-claim="C{number}"><title>{escape(tip)}</title>{edges}'
            + svg.rect(
                x0, y + 3, x1 - x0, _CLAIM_H - 6, f'fill="{finding_colour(assessed.finding)}"'
            )
            + svg.text(svg.LEFT - 8, y + 15, f"C{number}", "label")
            + "</g>"
        )
    return "".join(parts)


def plotted_claims(report: Report, layout: Layout) -> list[tuple[int, AssessedClaim]]:
    """Return the claims (numbered from 1, as in the table) that overlap the period."""
    return [
        (number, c)
        for number, c in enumerate(report.claims, 1)
        if epoch_s(c.claim.end) >= layout.start and epoch_s(c.claim.start) <= layout.end
    ]


def _timeline_svg(
    platform: str,
    lanes: list[Lane],
    layout: Layout,
    report: Report,
    claims: Sequence[tuple[int, AssessedClaim]],
) -> str:
    lanes_h = len(lanes) * _LANE_H
    claims_h = min(len(claims), MAX_CLAIM_ROWS) * _CLAIM_H
    body = [f"<desc>{escape(svg.COLOUR_RULE)}</desc>"]
    body += [_lane_svg(lane, layout, report, 4 + i * _LANE_H) for i, lane in enumerate(lanes)]
    body.append(_claim_marks(claims, layout, 4 + lanes_h))
    body.append(svg.axis(layout.start, layout.end, 4, 4 + lanes_h + claims_h + 2))
    data = (
        f'data-platform="{escape(platform)}" data-start="{iso_text(utc_at(layout.start))}" '
        f'data-end="{iso_text(utc_at(layout.end))}" '
    )
    height = 4 + lanes_h + claims_h + 2 + _AXIS_H
    return svg.frame("timeline", height, body, f"timeline of {platform}", data)


def timeline_svgs(report: Report, layout: Layout) -> dict[str, str]:
    """Return a timeline SVG per platform, in lane order, each marked with the claims about
    that platform and one of its lanes' networks."""
    claims = plotted_claims(report, layout)
    svgs = {}
    for platform in dict.fromkeys(lane.platform for lane in layout.lanes):
        lanes = [lane for lane in layout.lanes if lane.platform == platform]
        networks = [lane.network for lane in lanes]
        marked = [(n, c) for n, c in claims if claim_applies(c, platform, networks, layout.names)]
        svgs[platform] = _timeline_svg(platform, lanes, layout, report, marked)
    return svgs


def timeline_panels(
    cells: Sequence[TimelineCell],
    *,
    bucket_seconds: int,
    now: datetime,
    incidents: Sequence[Incident] = (),
    windows: Sequence[FailureWindow] = (),
    claims: Sequence[AssessedClaim] = (),
    network_names: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return a timeline SVG per platform from buckets and windows (no `Report` needed): the
    same panels as the HTML report's, for pages that hold cells (the collector's live pages).
    Give cells their first_at/last_at so that a lone measurement is a tick at its time."""
    by_kind = {kind: [w for w in windows if w.kind is kind] for kind in WindowKind}
    report = Report(
        generated_at=now, software_version="", engine="", bucket_seconds=bucket_seconds,
        scope=ReportScope(source="", network_names=dict(network_names or {})),
        incidents=list(incidents), outages=by_kind[WindowKind.NETWORK_OUTAGE],
        platform_down=by_kind[WindowKind.PLATFORM_DOWN],
        whitelisting=by_kind[WindowKind.WHITELISTING], claims=list(claims), timeline=list(cells),
    )  # fmt: skip
    return timeline_svgs(report, plot_layout(report))


# ── the heat map ───────────────────────────────────────────────────────────────────────────


def _heat_colour(share: float) -> str:
    position = min(max(share, 0.0), 1.0) * (len(_HEAT_STOPS) - 1)
    index = min(int(position), len(_HEAT_STOPS) - 2)
    fraction = position - index
    low, high = _HEAT_STOPS[index], _HEAT_STOPS[index + 1]
    red, green, blue = (round(a + (b - a) * fraction) for a, b in zip(low, high, strict=True))
    return f"#{red:02x}{green:02x}{blue:02x}"


def _heat_row(platform: str, columns: Columns, layout: Layout, y: float) -> str:
    body = [
        f'<g class="row" data-platform="{escape(platform)}">',
        svg.text(
            svg.LEFT - 8, y + 16, short_text(platform, svg.LABEL_CHARS), "label", tip=platform
        ),
        svg.rect(svg.LEFT, y, svg.PLOT_W, _ROW_H - 2, f'class="nodata" fill="{svg.NODATA_FILL}"'),
    ]
    for column, counts in sorted(columns.items()):
        total, affected = counts.total(), sum(counts[v] for v in AFFECTED)
        if not total or not layout.shows(column):
            continue
        t, share = layout.column_start(column), affected / total
        times = layout.row_times.get(platform, {}).get(column)
        what = f"{affected} of {total} measurements blocked or throttled ({share:.0%})"
        if total == 1 and times is not None:  # a lone measurement: a tick at its time
            tip = f"{platform}, {when_text(utc_at(times[0]))} UTC: {what}"
            x0, width = layout.x(times[0]) - svg.TICK_W / 2, svg.TICK_W
        else:
            tip = (
                f"{platform}, {when_text(utc_at(t))} UTC, {duration_text(layout.column_s)}: {what}"
            )
            x0, width = layout.x(t), layout.x(t + layout.column_s) - layout.x(t) + svg.SEAM
        attrs = f'class="cell" fill="{_heat_colour(share)}"'
        body.append(svg.rect(x0, y, width, _ROW_H - 2, attrs, tip))
    body.append("</g>")
    return "".join(body)


def heatmap_svg(layout: Layout) -> str:
    """Return the heat map: per platform and column, the share blocked or throttled."""
    rows = layout.rows
    body = [
        _heat_row(p, columns, layout, 4 + i * _ROW_H) for i, (p, columns) in enumerate(rows.items())
    ]
    body.append(svg.axis(layout.start, layout.end, 4, 4 + len(rows) * _ROW_H + 2))
    height = 4 + len(rows) * _ROW_H + 2 + _AXIS_H
    return svg.frame("heatmap", height, body, "share blocked or throttled per platform over time")
