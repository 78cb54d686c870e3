"""Inline SVG for the HTML report: a timeline per platform and a heat map, on one time axis.

Pure: a `Report` in, SVG text out, using the standard library and probe.models only. Both
plots share one `Layout`: the period, its columns and its lanes. It is bounded for big
reports: at most MAX_LANES network × platform lanes (the most affected are kept) and at most
MAX_COLUMNS columns per lane (adjacent buckets are merged beyond that); html.py says on the
page what was left out or merged. Strings from users are escaped for SVG.

Also here, shared by the other renderers: the verdict and finding colours (colour-blind aware,
with a pattern for blocked, throttled, service_down and whitelisting) and the time and text
formatters.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

from probe.models.reports import (
    AssessedClaim,
    ClaimFinding,
    FailureWindow,
    Incident,
    Report,
    WindowKind,
)
from probe.models.results import Blocking, Verdict

MAX_LANES = 60
MAX_COLUMNS = 400
MAX_CLAIM_ROWS = 12

# The timeline's name for measurements blocked by whitelisting (TimelineCell.counts).
WHITELISTING = Blocking.WHITELISTING.value
# Okabe–Ito based, colour-blind aware; blocked, throttled, service_down and whitelisting also
# carry a pattern. Whitelisting is the Okabe–Ito blue: a network-wide cut, not one platform's
# block, and never the grey of an outage.
VERDICT_COLOURS: dict[str, str] = {
    Verdict.ACCESSIBLE: "#009E73",
    Verdict.BLOCKED: "#D55E00",
    Verdict.THROTTLED: "#E69F00",
    Verdict.NETWORK_OUTAGE: "#3A3A3A",
    Verdict.SERVICE_DOWN: "#882E72",
    Verdict.INCONCLUSIVE: "#D9D9D9",
    WHITELISTING: "#0072B2",
}
FINDING_COLOURS: dict[str, str] = {
    ClaimFinding.CONSISTENT_WITH_OUTAGE: "#3A3A3A",
    ClaimFinding.CONTRADICTED_BY_BLOCKING: "#D55E00",
    ClaimFinding.PLATFORM_OUTAGE: "#882E72",
    ClaimFinding.INSUFFICIENT_DATA: "#D9D9D9",
}
# The most severe verdict wins a tie for a cell's colour.
_SEVERITY: dict[str, int] = {
    v: rank
    for rank, v in enumerate(
        (
            Verdict.BLOCKED,
            WHITELISTING,
            Verdict.THROTTLED,
            Verdict.NETWORK_OUTAGE,
            Verdict.SERVICE_DOWN,
            Verdict.INCONCLUSIVE,
            Verdict.ACCESSIBLE,
        )
    )
}
_AFFECTED = (Verdict.BLOCKED.value, WHITELISTING, Verdict.THROTTLED.value)
_HEAT_STOPS = ((255, 247, 236), (253, 212, 158), (252, 141, 89), (215, 48, 31), (127, 0, 0))

_LEFT, _PLOT_W, _RIGHT = 210.0, 920.0, 20.0
_LANE_H, _CLAIM_H, _AXIS_H, _ROW_H = 24.0, 14.0, 30.0, 18.0
_DAY = 86_400
_TICK_STEPS_S: tuple[int, ...] = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
_TICK_STEPS_S += (_DAY, 2 * _DAY, 7 * _DAY, 14 * _DAY)
_MAX_TICKS = 8

_PATTERNS = (
    # blocked: diagonal stripes; throttled: dots; service_down: horizontal lines;
    '<pattern id="pat-blocked" width="5" height="5" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="5" height="5" fill="#D55E00"/>'
    '<rect width="1.4" height="5" fill="#fff" fill-opacity=".55"/></pattern>'
    '<pattern id="pat-throttled" width="5" height="5" patternUnits="userSpaceOnUse">'
    '<rect width="5" height="5" fill="#E69F00"/><circle cx="2.5" cy="2.5" r="1" fill="#000" '
    'fill-opacity=".45"/></pattern>'
    '<pattern id="pat-service_down" width="4" height="4" patternUnits="userSpaceOnUse">'
    '<rect width="4" height="4" fill="#882E72"/><rect width="4" height="1" fill="#fff" '
    'fill-opacity=".5"/></pattern>'
    # whitelisting: a grid (a fence: only what is on the list passes)
    '<pattern id="pat-whitelisting" width="6" height="6" patternUnits="userSpaceOnUse">'
    '<rect width="6" height="6" fill="#0072B2"/><path d="M0 3H6M3 0V6" stroke="#fff" '
    'stroke-opacity=".55" stroke-width="1"/></pattern>'
    '<pattern id="pat-nodata" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
    '<rect width="1" height="6" fill="#ddd"/></pattern>'
)
# One hidden SVG holds the patterns every plot refers to (not display:none: browsers would
# then not paint them).
SVG_DEFS = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true" '
    f'xmlns="http://www.w3.org/2000/svg"><defs>{_PATTERNS}</defs></svg>'
)


# ── time and text helpers ──────────────────────────────────────────────────────────────────


def epoch_s(moment: datetime) -> int:
    """Return `moment` as whole seconds since the epoch."""
    if moment.tzinfo is None:  # models promise UTC-aware datetimes; a naive one is UTC
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def utc_at(seconds: int) -> datetime:
    """Return the UTC datetime `seconds` after the epoch."""
    return datetime.fromtimestamp(seconds, UTC)


def when_text(moment: datetime | None, missing: str = "—") -> str:
    """Return "YYYY-MM-DD HH:MM:SS" in UTC, or `missing` for None."""
    return missing if moment is None else utc_at(epoch_s(moment)).strftime("%Y-%m-%d %H:%M:%S")


def duration_text(seconds: int) -> str:
    """Return "1 h", "15 min", "2 d" or "90 s"."""
    for unit, size in (("d", _DAY), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def methods_text(methods: Mapping[str, int], sep: str = ";", fmt: str = "{}:{}") -> str:
    """Return the methods, most counted first, each formatted with `fmt` and joined by `sep`."""
    ranked = sorted(methods.items(), key=lambda item: (-item[1], item[0]))
    return sep.join(fmt.format(name, count) for name, count in ranked)


def _dominant(counts: Mapping[str, int]) -> str:
    return min(counts, key=lambda v: (-counts[v], _SEVERITY.get(v, len(_SEVERITY)), v))


def _covers(single: str, several: Sequence[str], value: str) -> bool:
    return value in several or single == value or (single == "*" and not several)


def _claim_covers(assessed: AssessedClaim, platform: str) -> bool:
    return not assessed.claim.platforms or platform in assessed.claim.platforms


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {v}" for v, n in sorted(counts.items(), key=lambda i: (-i[1], i[0])))


# ── layout: the time span, the columns and the lanes ───────────────────────────────────────


_Columns = dict[int, Counter[str]]  # plot column → measurements per verdict


def _affected(columns: _Columns) -> int:
    return sum(c[v] for c in columns.values() for v in _AFFECTED)


@dataclass
class Lane:
    """One network × platform row of a timeline: its columns and its incidents."""

    network: str
    platform: str
    columns: _Columns = field(default_factory=dict)
    incidents: list[Incident] = field(default_factory=list)

    def rank(self) -> tuple[int, int, int]:
        total = sum(c.total() for c in self.columns.values())
        return (len(self.incidents), _affected(self.columns), total)


@dataclass
class Layout:
    """Where everything goes: the period in epoch seconds, the columns, the lanes kept."""

    start: int
    end: int
    origin: int  # where column 0 begins
    column_s: int
    merged: int  # buckets per column
    lanes: list[Lane]  # the lanes drawn, at most MAX_LANES
    left_out: list[Lane]
    rows: dict[str, _Columns]  # heat-map rows, at most MAX_LANES platforms
    rows_total: int
    names: dict[str, str]

    def x(self, moment: datetime | int) -> float:
        t = moment if isinstance(moment, int) else epoch_s(moment)
        t = min(max(t, self.start), self.end)
        return _LEFT + (t - self.start) / (self.end - self.start) * _PLOT_W

    def column_start(self, column: int) -> int:
        return self.origin + column * self.column_s


def _span(report: Report, bucket_s: int) -> tuple[int, int]:
    scope = report.scope
    starts = [epoch_s(c.start) for c in report.timeline]
    ends = [s + bucket_s for s in starts]
    windows: list[Incident | FailureWindow] = [*report.incidents, *report.outages]
    for window in [*windows, *report.platform_down, *report.whitelisting]:
        starts.append(epoch_s(window.start))
        ends.append(epoch_s(window.end))
    first = scope.since or scope.first_measurement
    last = scope.until or scope.last_measurement
    starts += [epoch_s(first)] if first else []
    ends += [epoch_s(last)] if last else []
    start = min(starts, default=0)
    end = max(ends, default=start)
    return start, max(end, start + bucket_s)


def _network_key(network: str) -> tuple[int, str]:
    digits = network.removeprefix("AS")
    return (int(digits), "") if digits.isdigit() else (-1, network)


def _heat_rows(lanes: Iterable[Lane]) -> tuple[dict[str, _Columns], int]:
    rows: dict[str, _Columns] = {}
    for lane in lanes:
        row = rows.setdefault(lane.platform, {})
        for column, counts in lane.columns.items():
            row.setdefault(column, Counter()).update(counts)
    ranked = sorted(rows, key=lambda p: _affected(rows[p]), reverse=True)[:MAX_LANES]
    return {p: rows[p] for p in sorted(ranked)}, len(rows)


def plot_layout(report: Report) -> Layout:
    """Return the layout both plots of `report` are drawn on."""
    bucket_s = max(report.bucket_seconds, 1)
    start, end = _span(report, bucket_s)
    merged = max(1, math.ceil((end - start) / bucket_s / MAX_COLUMNS))
    origin = min((epoch_s(c.start) for c in report.timeline), default=start)
    lanes: dict[tuple[str, str], Lane] = {}
    for cell in report.timeline:
        lane = lanes.setdefault((cell.platform, cell.network), Lane(cell.network, cell.platform))
        column = (epoch_s(cell.start) - origin) // (bucket_s * merged)
        lane.columns.setdefault(column, Counter()).update(cell.counts)
    names = dict(report.scope.network_names)
    for incident in report.incidents:
        key = (incident.platform, incident.network)
        lanes.setdefault(key, Lane(incident.network, incident.platform)).incidents.append(incident)
        if incident.network_name:
            names[incident.network] = incident.network_name
    ranked = sorted(lanes.values(), key=Lane.rank, reverse=True)
    kept = sorted(ranked[:MAX_LANES], key=lambda lane: (lane.platform, _network_key(lane.network)))
    rows, rows_total = _heat_rows(lanes.values())
    column_s = bucket_s * merged
    return Layout(
        start, end, origin, column_s, merged, kept, ranked[MAX_LANES:], rows, rows_total, names
    )


# ── SVG ────────────────────────────────────────────────────────────────────────────────────


def _rect(x: float, y: float, w: float, h: float, attrs: str, tip: str = "") -> str:
    title = f"<title>{escape(tip)}</title>" if tip else ""
    body = f'x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.8):.1f}" height="{h:.1f}" {attrs}'
    return f"<rect {body}>{title}</rect>" if title else f"<rect {body}/>"


def verdict_fill(verdict: str) -> str:
    """Return the SVG fill of a verdict: a pattern (see SVG_DEFS) or a colour."""
    if verdict in (Verdict.BLOCKED, Verdict.THROTTLED, Verdict.SERVICE_DOWN, WHITELISTING):
        return f"url(#pat-{verdict})"
    return VERDICT_COLOURS.get(verdict, "#999999")


def _month_ticks(start: int, end: int) -> list[tuple[int, str]]:
    months = next((m for m in (1, 2, 3, 6) if (end - start) / (m * 30.44 * _DAY) <= _MAX_TICKS), 0)
    months = months or 12 * math.ceil((end - start) / (365.25 * _DAY * _MAX_TICKS))
    first = utc_at(start)
    index = first.year * 12 + first.month - 1 + 1  # the first month boundary after `start`
    index += -index % months
    ticks = []
    while (t := epoch_s(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC))) <= end:
        ticks.append((t, utc_at(t).strftime("%b %Y")))
        index += months
    return ticks


def _ticks(start: int, end: int) -> list[tuple[int, str]]:
    """Return (time, label) ticks: at most about _MAX_TICKS, on round UTC times."""
    step = next((s for s in _TICK_STEPS_S if (end - start) / s <= _MAX_TICKS), 0)
    if not step:
        return _month_ticks(start, end)
    offset = 4 * _DAY if step >= 7 * _DAY else 0  # weeks begin on Monday (1970-01-05)
    ticks, previous = [], None
    for t in range(start + (-(start - offset) % step), end + 1, step):
        moment = utc_at(t)
        if step < _DAY:
            new_day = previous is None or previous.date() != moment.date()
            label = moment.strftime("%d %b %H:%M" if new_day else "%H:%M")
        else:
            new_year = previous is None or previous.year != moment.year
            label = moment.strftime("%d %b %Y" if new_year else "%d %b")
        ticks.append((t, label))
        previous = moment
    return ticks


def _axis_svg(layout: Layout, top: float, bottom: float) -> str:
    parts = [
        f'<line class="axis" x1="{_LEFT}" y1="{bottom}" x2="{_LEFT + _PLOT_W}" y2="{bottom}"/>'
    ]
    for t, label in _ticks(layout.start, layout.end):
        x = layout.x(t)
        parts.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{bottom + 14}">{escape(label)}</text>')
    parts.append(f'<text class="utc" x="{_LEFT - 44}" y="{bottom + 14}">UTC</text>')
    return "".join(parts)


def _svg(cls: str, height: float, body: Iterable[str], label: str, data: str = "") -> str:
    width = _LEFT + _PLOT_W + _RIGHT
    return (
        f'<svg class="{cls}" {data}xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}">{"".join(body)}</svg>'
    )


WINDOW_NAMES = {
    WindowKind.NETWORK_OUTAGE: "network outage",
    WindowKind.PLATFORM_DOWN: "platform down",
    WindowKind.WHITELISTING: "whitelisting (only allow-listed destinations)",
}


def _window_overlay(window: FailureWindow, layout: Layout, y: float) -> str:
    x0, x1 = layout.x(window.start), layout.x(window.end)
    sites = f"; loaded: {', '.join(window.sites_loaded)}" if window.sites_loaded else ""
    tip = (
        f"{WINDOW_NAMES[window.kind]}: {when_text(window.start)} – {when_text(window.end)} UTC;"
        f" {window.measurements} measurements, {window.probes} probes; confidence"
        f" {window.confidence.value}{sites}"
    )
    return _rect(x0, y, x1 - x0, _LANE_H - 2, f'class="{window.kind.value}"', tip)


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
    colour = VERDICT_COLOURS[incident.verdict]
    return (
        f'<g class="incident"><title>{escape(tip)}</title>'
        f'<line x1="{before:.1f}" y1="{y + 3:.1f}" x2="{after:.1f}" y2="{y + 3:.1f}" '
        f'stroke="{colour}" stroke-dasharray="2 2"/>'
        + _rect(x0, y, x1 - x0, 6, f'fill="{colour}" stroke="#000" stroke-width="0.5"')
        + "</g>"
    )


def _lane_svg(lane: Lane, layout: Layout, report: Report, y: float) -> str:
    name = layout.names.get(lane.network, "")
    label = f"{lane.network} {name}".strip()
    parts = [
        f'<g class="lane" data-network="{escape(lane.network)}" '
        f'data-platform="{escape(lane.platform)}">',
        f'<text class="label" x="{_LEFT - 8}" y="{y + 17:.1f}">{escape(_short(label, 30))}'
        f"<title>{escape(label)} · {escape(lane.platform)}</title></text>",
        _rect(_LEFT, y + 7, _PLOT_W, _LANE_H - 9, 'class="nodata"'),
    ]
    for column, counts in sorted(lane.columns.items()):
        if not counts.total():
            continue
        t = layout.column_start(column)
        x0, x1 = layout.x(t), layout.x(t + layout.column_s)
        tip = (
            f"{when_text(utc_at(t))} UTC, {duration_text(layout.column_s)}: {_counts_text(counts)}"
        )
        attrs = f'class="cell" fill="{verdict_fill(_dominant(counts))}"'
        parts.append(_rect(x0, y + 7, x1 - x0, _LANE_H - 9, attrs, tip))
    for window in [*report.outages, *report.whitelisting]:
        if _covers(window.network, window.networks, lane.network):
            parts.append(_window_overlay(window, layout, y))
    for window in report.platform_down:
        if _covers(window.platform, window.platforms, lane.platform):
            parts.append(_window_overlay(window, layout, y))
    parts += [_incident_overlay(incident, layout, y) for incident in lane.incidents]
    parts.append("</g>")
    return "".join(parts)


def _claim_marks(claims: Sequence[tuple[int, AssessedClaim]], layout: Layout, top: float) -> str:
    parts = []
    for row, (number, assessed) in enumerate(claims[:MAX_CLAIM_ROWS]):
        claim, y = assessed.claim, top + row * _CLAIM_H
        x0, x1 = layout.x(claim.start), layout.x(claim.end)
        tip = (
            f"C{number}: {claim.statement} ({claim.said_by or 'unattributed'}), "
            f"{when_text(claim.start)} – {when_text(claim.end)} UTC: {assessed.finding.value}"
        )
        colour = FINDING_COLOURS[assessed.finding]
        parts.append(
            f'<g class="claim-mark"><title>{escape(tip)}</title>'
            + "".join(
                f'<line class="claim-edge" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{y:.1f}"/>'
                for x, t in ((x0, claim.start), (x1, claim.end))
                if layout.start <= epoch_s(t) <= layout.end
            )
            + _rect(x0, y + 2, x1 - x0, _CLAIM_H - 4, f'fill="{colour}"')
            + f'<text class="label" x="{_LEFT - 8}" y="{y + 11:.1f}">C{number}</text></g>'
        )
    return "".join(parts)


def _timeline_svg(
    platform: str,
    lanes: list[Lane],
    layout: Layout,
    report: Report,
    claims: Sequence[tuple[int, AssessedClaim]],
) -> str:
    lanes_h = len(lanes) * _LANE_H
    claims_h = min(len(claims), MAX_CLAIM_ROWS) * _CLAIM_H
    body = [_lane_svg(lane, layout, report, 4 + i * _LANE_H) for i, lane in enumerate(lanes)]
    body.append(_claim_marks(claims, layout, 4 + lanes_h))
    body.append(_axis_svg(layout, 4, 4 + lanes_h + claims_h + 2))
    data = f'data-platform="{escape(platform)}" '
    height = 4 + lanes_h + claims_h + 2 + _AXIS_H
    return _svg("timeline", height, body, f"timeline of {platform}", data)


def plotted_claims(report: Report, layout: Layout) -> list[tuple[int, AssessedClaim]]:
    """Return the claims (numbered from 1, as in the table) that overlap the period."""
    return [
        (number, c)
        for number, c in enumerate(report.claims, 1)
        if epoch_s(c.claim.end) >= layout.start and epoch_s(c.claim.start) <= layout.end
    ]


def timeline_svgs(report: Report, layout: Layout) -> dict[str, str]:
    """Return a timeline SVG per platform, in lane order, each marked with its claims."""
    claims = plotted_claims(report, layout)
    svgs = {}
    for platform in dict.fromkeys(lane.platform for lane in layout.lanes):
        lanes = [lane for lane in layout.lanes if lane.platform == platform]
        marked = [(n, c) for n, c in claims if _claim_covers(c, platform)]
        svgs[platform] = _timeline_svg(platform, lanes, layout, report, marked)
    return svgs


def _heat_colour(share: float) -> str:
    position = min(max(share, 0.0), 1.0) * (len(_HEAT_STOPS) - 1)
    index = min(int(position), len(_HEAT_STOPS) - 2)
    fraction = position - index
    low, high = _HEAT_STOPS[index], _HEAT_STOPS[index + 1]
    red, green, blue = (round(a + (b - a) * fraction) for a, b in zip(low, high, strict=True))
    return f"#{red:02x}{green:02x}{blue:02x}"


def heatmap_svg(layout: Layout) -> str:
    """Return the heat map: per platform and column, the share blocked or throttled."""
    rows = layout.rows
    body = []
    for i, (platform, columns) in enumerate(rows.items()):
        y = 4 + i * _ROW_H
        body.append(f'<g class="row" data-platform="{escape(platform)}">')
        body.append(f'<text class="label" x="{_LEFT - 8}" y="{y + 13:.1f}">')
        body.append(f"{escape(_short(platform, 30))}<title>{escape(platform)}</title></text>")
        body.append(_rect(_LEFT, y, _PLOT_W, _ROW_H - 2, 'class="nodata"'))
        for column, counts in sorted(columns.items()):
            total, affected = counts.total(), sum(counts[v] for v in _AFFECTED)
            if not total:
                continue
            t, share = layout.column_start(column), affected / total
            tip = (
                f"{platform}, {when_text(utc_at(t))} UTC, {duration_text(layout.column_s)}: "
                f"{affected} of {total} measurements blocked or throttled ({share:.0%})"
            )
            x0, x1 = layout.x(t), layout.x(t + layout.column_s)
            attrs = f'class="cell" fill="{_heat_colour(share)}"'
            body.append(_rect(x0, y, x1 - x0, _ROW_H - 2, attrs, tip))
        body.append("</g>")
    body.append(_axis_svg(layout, 4, 4 + len(rows) * _ROW_H + 2))
    height = 4 + len(rows) * _ROW_H + 2 + _AXIS_H
    return _svg("heatmap", height, body, "share blocked or throttled per platform over time")
