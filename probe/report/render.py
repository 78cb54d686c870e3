"""Render a finished `Report`: a self-contained HTML page, a CSV and a terminal summary.

Pure: a `Report` in, text out (or, for the terminal, printed to the console it is given). The
HTML opens offline: inline CSS and inline SVG drawn here, no script, no external resource, and
a Content-Security-Policy that forbids loading any. Claims and inputs come from users, so every
string is escaped for the medium it lands in (HTML, CSV formulas, rich markup).

Bounded for big reports: at most MAX_LANES network × platform lanes (the most affected are
kept, and the page says how many were left out), and at most MAX_COLUMNS columns per lane
(adjacent buckets are merged beyond that, and the page says so).
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING

from probe.models.reports import (
    AssessedClaim,
    ClaimFinding,
    FailureWindow,
    Incident,
    Report,
    WindowKind,
)
from probe.models.results import Verdict

if TYPE_CHECKING:  # rich is imported inside print_report only
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

MAX_LANES = 60
MAX_COLUMNS = 400
MAX_CLAIM_ROWS = 12

# Okabe–Ito based, colour-blind aware; blocked, throttled and service_down also carry a pattern.
VERDICT_COLOURS: dict[str, str] = {
    Verdict.ACCESSIBLE: "#009E73",
    Verdict.BLOCKED: "#D55E00",
    Verdict.THROTTLED: "#E69F00",
    Verdict.NETWORK_OUTAGE: "#3A3A3A",
    Verdict.SERVICE_DOWN: "#882E72",
    Verdict.INCONCLUSIVE: "#D9D9D9",
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
            Verdict.THROTTLED,
            Verdict.NETWORK_OUTAGE,
            Verdict.SERVICE_DOWN,
            Verdict.INCONCLUSIVE,
            Verdict.ACCESSIBLE,
        )
    )
}
_AFFECTED = (Verdict.BLOCKED.value, Verdict.THROTTLED.value)
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_HEAT_STOPS = ((255, 247, 236), (253, 212, 158), (252, 141, 89), (215, 48, 31), (127, 0, 0))

_LEFT, _PLOT_W, _RIGHT = 210.0, 920.0, 20.0
_LANE_H, _CLAIM_H, _AXIS_H, _ROW_H = 24.0, 14.0, 30.0, 18.0
_DAY = 86_400
_TICK_STEPS_S: tuple[int, ...] = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
_TICK_STEPS_S += (_DAY, 2 * _DAY, 7 * _DAY, 14 * _DAY)
_MAX_TICKS = 8

CSV_COLUMNS = (
    "record", "network", "network_name", "platform", "start", "end", "onset_after",
    "ended_before", "verdict", "blocking", "methods", "endpoints", "measurements", "probes",
    "confidence", "finding", "statement", "source", "summary",
)  # fmt: skip


# ── time and text helpers ──────────────────────────────────────────────────────────────────


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:  # models promise UTC-aware datetimes; a naive one is UTC
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _when(moment: datetime | None, missing: str = "—") -> str:
    return missing if moment is None else _at(_epoch(moment)).strftime("%Y-%m-%d %H:%M:%S")


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else _at(_epoch(moment)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(seconds: int) -> str:
    for unit, size in (("d", _DAY), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _methods(methods: Mapping[str, int], sep: str = ";", fmt: str = "{}:{}") -> str:
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
class _Lane:
    network: str
    platform: str
    columns: _Columns = field(default_factory=dict)
    incidents: list[Incident] = field(default_factory=list)

    def rank(self) -> tuple[int, int, int]:
        total = sum(c.total() for c in self.columns.values())
        return (len(self.incidents), _affected(self.columns), total)


@dataclass
class _Layout:
    start: int
    end: int
    origin: int  # where column 0 begins
    column_s: int
    merged: int  # buckets per column
    lanes: list[_Lane]  # the lanes drawn, at most MAX_LANES
    left_out: list[_Lane]
    rows: dict[str, _Columns]  # heat-map rows, at most MAX_LANES platforms
    rows_total: int
    names: dict[str, str]

    def x(self, moment: datetime | int) -> float:
        t = moment if isinstance(moment, int) else _epoch(moment)
        t = min(max(t, self.start), self.end)
        return _LEFT + (t - self.start) / (self.end - self.start) * _PLOT_W

    def column_start(self, column: int) -> int:
        return self.origin + column * self.column_s


def _span(report: Report, bucket_s: int) -> tuple[int, int]:
    scope = report.scope
    starts = [_epoch(c.start) for c in report.timeline]
    ends = [s + bucket_s for s in starts]
    windows: list[Incident | FailureWindow] = [*report.incidents, *report.outages]
    for window in [*windows, *report.platform_down]:
        starts.append(_epoch(window.start))
        ends.append(_epoch(window.end))
    first = scope.since or scope.first_measurement
    last = scope.until or scope.last_measurement
    starts += [_epoch(first)] if first else []
    ends += [_epoch(last)] if last else []
    start = min(starts, default=0)
    end = max(ends, default=start)
    return start, max(end, start + bucket_s)


def _network_key(network: str) -> tuple[int, str]:
    digits = network.removeprefix("AS")
    return (int(digits), "") if digits.isdigit() else (-1, network)


def _heat_rows(lanes: Iterable[_Lane]) -> tuple[dict[str, _Columns], int]:
    rows: dict[str, _Columns] = {}
    for lane in lanes:
        row = rows.setdefault(lane.platform, {})
        for column, counts in lane.columns.items():
            row.setdefault(column, Counter()).update(counts)
    ranked = sorted(rows, key=lambda p: _affected(rows[p]), reverse=True)[:MAX_LANES]
    return {p: rows[p] for p in sorted(ranked)}, len(rows)


def _layout(report: Report) -> _Layout:
    bucket_s = max(report.bucket_seconds, 1)
    start, end = _span(report, bucket_s)
    merged = max(1, math.ceil((end - start) / bucket_s / MAX_COLUMNS))
    origin = min((_epoch(c.start) for c in report.timeline), default=start)
    lanes: dict[tuple[str, str], _Lane] = {}
    for cell in report.timeline:
        lane = lanes.setdefault((cell.platform, cell.network), _Lane(cell.network, cell.platform))
        column = (_epoch(cell.start) - origin) // (bucket_s * merged)
        lane.columns.setdefault(column, Counter()).update(cell.counts)
    names = dict(report.scope.network_names)
    for incident in report.incidents:
        key = (incident.platform, incident.network)
        lanes.setdefault(key, _Lane(incident.network, incident.platform)).incidents.append(incident)
        if incident.network_name:
            names[incident.network] = incident.network_name
    ranked = sorted(lanes.values(), key=_Lane.rank, reverse=True)
    kept = sorted(ranked[:MAX_LANES], key=lambda lane: (lane.platform, _network_key(lane.network)))
    rows, rows_total = _heat_rows(lanes.values())
    column_s = bucket_s * merged
    return _Layout(
        start, end, origin, column_s, merged, kept, ranked[MAX_LANES:], rows, rows_total, names
    )


# ── SVG ────────────────────────────────────────────────────────────────────────────────────


def _rect(x: float, y: float, w: float, h: float, attrs: str, tip: str = "") -> str:
    title = f"<title>{escape(tip)}</title>" if tip else ""
    body = f'x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.8):.1f}" height="{h:.1f}" {attrs}'
    return f"<rect {body}>{title}</rect>" if title else f"<rect {body}/>"


def _fill(verdict: str) -> str:
    if verdict in (Verdict.BLOCKED, Verdict.THROTTLED, Verdict.SERVICE_DOWN):
        return f"url(#pat-{verdict})"
    return VERDICT_COLOURS.get(verdict, "#999999")


def _month_ticks(start: int, end: int) -> list[tuple[int, str]]:
    months = next((m for m in (1, 2, 3, 6) if (end - start) / (m * 30.44 * _DAY) <= _MAX_TICKS), 0)
    months = months or 12 * math.ceil((end - start) / (365.25 * _DAY * _MAX_TICKS))
    first = _at(start)
    index = first.year * 12 + first.month - 1 + 1  # the first month boundary after `start`
    index += -index % months
    ticks = []
    while (t := _epoch(datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC))) <= end:
        ticks.append((t, _at(t).strftime("%b %Y")))
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
        moment = _at(t)
        if step < _DAY:
            new_day = previous is None or previous.date() != moment.date()
            label = moment.strftime("%d %b %H:%M" if new_day else "%H:%M")
        else:
            new_year = previous is None or previous.year != moment.year
            label = moment.strftime("%d %b %Y" if new_year else "%d %b")
        ticks.append((t, label))
        previous = moment
    return ticks


def _axis_svg(layout: _Layout, top: float, bottom: float) -> str:
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


def _window_overlay(window: FailureWindow, layout: _Layout, y: float) -> str:
    x0, x1 = layout.x(window.start), layout.x(window.end)
    what = "network outage" if window.kind == WindowKind.NETWORK_OUTAGE else "platform down"
    tip = (
        f"{what}: {_when(window.start)} – {_when(window.end)} UTC; {window.measurements} "
        f"measurements, {window.probes} probes; confidence {window.confidence.value}"
    )
    return _rect(x0, y, x1 - x0, _LANE_H - 2, f'class="{window.kind.value}"', tip)


def _incident_overlay(incident: Incident, layout: _Layout, y: float) -> str:
    x0, x1 = layout.x(incident.start), layout.x(incident.end)
    before = layout.x(incident.onset_after) if incident.onset_after else x0
    after = layout.x(incident.ended_before) if incident.ended_before else x1
    tip = (
        f"incident: {incident.platform} {incident.verdict.value} on {incident.network} "
        f"{incident.network_name}: {_when(incident.start)} – {_when(incident.end)} UTC "
        f"(began after {_when(incident.onset_after)}, ended before "
        f"{_when(incident.ended_before)}); {incident.measurements} measurements, "
        f"{incident.probes} probes; {_methods(incident.methods, ', ', '{} ({})')}; "
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


def _lane_svg(lane: _Lane, layout: _Layout, report: Report, y: float) -> str:
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
        tip = f"{_when(_at(t))} UTC, {_duration(layout.column_s)}: {_counts_text(counts)}"
        attrs = f'class="cell" fill="{_fill(_dominant(counts))}"'
        parts.append(_rect(x0, y + 7, x1 - x0, _LANE_H - 9, attrs, tip))
    for window in report.outages:
        if _covers(window.network, window.networks, lane.network):
            parts.append(_window_overlay(window, layout, y))
    for window in report.platform_down:
        if _covers(window.platform, window.platforms, lane.platform):
            parts.append(_window_overlay(window, layout, y))
    parts += [_incident_overlay(incident, layout, y) for incident in lane.incidents]
    parts.append("</g>")
    return "".join(parts)


def _claim_marks(claims: Sequence[tuple[int, AssessedClaim]], layout: _Layout, top: float) -> str:
    parts = []
    for row, (number, assessed) in enumerate(claims[:MAX_CLAIM_ROWS]):
        claim, y = assessed.claim, top + row * _CLAIM_H
        x0, x1 = layout.x(claim.start), layout.x(claim.end)
        tip = (
            f"C{number}: {claim.statement} ({claim.said_by or 'unattributed'}), "
            f"{_when(claim.start)} – {_when(claim.end)} UTC: {assessed.finding.value}"
        )
        colour = FINDING_COLOURS[assessed.finding]
        parts.append(
            f'<g class="claim-mark"><title>{escape(tip)}</title>'
            + "".join(
                f'<line class="claim-edge" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{y:.1f}"/>'
                for x, t in ((x0, claim.start), (x1, claim.end))
                if layout.start <= _epoch(t) <= layout.end
            )
            + _rect(x0, y + 2, x1 - x0, _CLAIM_H - 4, f'fill="{colour}"')
            + f'<text class="label" x="{_LEFT - 8}" y="{y + 11:.1f}">C{number}</text></g>'
        )
    return "".join(parts)


def _timeline_svg(
    platform: str,
    lanes: list[_Lane],
    layout: _Layout,
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


def _heat_colour(share: float) -> str:
    position = min(max(share, 0.0), 1.0) * (len(_HEAT_STOPS) - 1)
    index = min(int(position), len(_HEAT_STOPS) - 2)
    fraction = position - index
    low, high = _HEAT_STOPS[index], _HEAT_STOPS[index + 1]
    red, green, blue = (round(a + (b - a) * fraction) for a, b in zip(low, high, strict=True))
    return f"#{red:02x}{green:02x}{blue:02x}"


def _heatmap_svg(layout: _Layout) -> str:
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
                f"{platform}, {_when(_at(t))} UTC, {_duration(layout.column_s)}: {affected} of "
                f"{total} measurements blocked or throttled ({share:.0%})"
            )
            x0, x1 = layout.x(t), layout.x(t + layout.column_s)
            attrs = f'class="cell" fill="{_heat_colour(share)}"'
            body.append(_rect(x0, y, x1 - x0, _ROW_H - 2, attrs, tip))
        body.append("</g>")
    body.append(_axis_svg(layout, 4, 4 + len(rows) * _ROW_H + 2))
    height = 4 + len(rows) * _ROW_H + 2 + _AXIS_H
    return _svg("heatmap", height, body, "share blocked or throttled per platform over time")


# ── HTML ───────────────────────────────────────────────────────────────────────────────────

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;
 margin:0 auto;padding:1em 1.5em;max-width:1220px}
h1{font-size:1.5em;margin:.2em 0}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
h3{margin:1em 0 .2em;font-size:1.05em}
dl.scope{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:.5em 0}
dl.scope dt{font-weight:600}dl.scope dd{margin:0}
.legend{display:flex;flex-wrap:wrap;gap:.4em 1.2em;margin:.6em 0;padding:0;list-style:none}
.legend li{display:flex;align-items:center;gap:.35em}.legend svg{border:1px solid #777}
.note{background:#fff8e1;border-left:4px solid #E69F00;padding:.4em .8em}
.empty{font-size:1.3em;padding:2em;text-align:center;background:#f4f4f4}
.plot{overflow-x:auto}.plot svg{max-width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:#222}
svg .label,svg .utc{text-anchor:end}svg .tick{text-anchor:middle;fill:#444}
svg .axis{stroke:#444}svg .grid{stroke:#000;stroke-opacity:.12}
svg .nodata{fill:url(#pat-nodata)}
svg .network_outage{fill:#000;fill-opacity:.16;stroke:#000;stroke-dasharray:4 2}
svg .platform_down{fill:#882E72;fill-opacity:.16;stroke:#882E72;stroke-dasharray:4 2}
svg .claim-edge{stroke:#555;stroke-dasharray:1 3}
table{border-collapse:collapse;width:100%;margin:.4em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:.25em .45em;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.n{text-align:right}
.badge{display:inline-block;border-radius:.8em;padding:0 .6em;font-weight:600;white-space:nowrap}
.light{color:#111}.dark{color:#fff}
ul.reasons{margin:0;padding-left:1.1em}footer{margin-top:2em;color:#555;font-size:12px}
"""

_PATTERNS = (
    # blocked: diagonal stripes; throttled: dots; service_down: horizontal lines
    '<pattern id="pat-blocked" width="5" height="5" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="5" height="5" fill="#D55E00"/>'
    '<rect width="1.4" height="5" fill="#fff" fill-opacity=".55"/></pattern>'
    '<pattern id="pat-throttled" width="5" height="5" patternUnits="userSpaceOnUse">'
    '<rect width="5" height="5" fill="#E69F00"/><circle cx="2.5" cy="2.5" r="1" fill="#000" '
    'fill-opacity=".45"/></pattern>'
    '<pattern id="pat-service_down" width="4" height="4" patternUnits="userSpaceOnUse">'
    '<rect width="4" height="4" fill="#882E72"/><rect width="4" height="1" fill="#fff" '
    'fill-opacity=".5"/></pattern>'
    '<pattern id="pat-nodata" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
    '<rect width="1" height="6" fill="#ddd"/></pattern>'
)
# One hidden SVG holds the patterns every plot refers to (not display:none: browsers would
# then not paint them).
_DEFS = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true" '
    f'xmlns="http://www.w3.org/2000/svg"><defs>{_PATTERNS}</defs></svg>'
)
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _swatch(fill: str, extra: str = "", y: int = 0, height: int = 14) -> str:
    return (
        '<svg width="28" height="14" xmlns="http://www.w3.org/2000/svg">'
        f'<rect y="{y}" width="28" height="{height}" fill="{fill}" {extra}/></svg>'
    )


def _legend() -> str:
    items = [(_swatch(_fill(v)), v.value) for v in Verdict]
    items += [
        (_swatch("#fff", 'class="nodata"'), "no measurement"),
        (_swatch("#000", 'class="network_outage"'), "network-outage window"),
        (_swatch("#882E72", 'class="platform_down"'), "platform-down window"),
        (_swatch(VERDICT_COLOURS[Verdict.BLOCKED], y=4, height=6), "incident (bar above a lane)"),
        (
            _swatch(FINDING_COLOURS[ClaimFinding.CONTRADICTED_BY_BLOCKING], y=3, height=8),
            "claim window (C1…, coloured by finding)",
        ),
    ]
    rows = "".join(f"<li>{svg}<span>{escape(text)}</span></li>" for svg, text in items)
    return f'<ul class="legend" aria-label="legend">{rows}</ul>'


def _period(report: Report) -> str:
    scope = report.scope
    start = scope.since or scope.first_measurement
    end = scope.until or scope.last_measurement
    return f"{_when(start, 'open')} – {_when(end, 'open')} UTC"


def _header(report: Report, layout: _Layout | None) -> str:
    scope = report.scope
    rows = [
        ("Period", _period(report)),
        ("Source", scope.source),
        ("Measurements", f"{scope.measurements} from {scope.probes} probe(s)"),
        ("Networks", ", ".join(scope.networks) or "—"),
        ("Platforms", ", ".join(scope.platforms) or "—"),
        ("Time bucket", _duration(max(report.bucket_seconds, 1))),
    ]
    if layout and layout.merged > 1:
        rows.append(("Plot column", f"{_duration(layout.column_s)} ({layout.merged} buckets)"))
    if scope.skipped_records:
        reasons = "; ".join(scope.skipped_reasons[:10])
        skipped = f"{scope.skipped_records}: {reasons}" if reasons else f"{scope.skipped_records}"
        rows.append(("Skipped records", skipped))
    cells = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return f'<header><h1>Censorship measurement report</h1><dl class="scope">{cells}</dl></header>'


def _luminance(colour: str) -> float:
    """Return the WCAG relative luminance of "#rrggbb"."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _badge(value: str, colour: str) -> str:
    # Black or white text, whichever contrasts more with the badge (WCAG): 0.179 is the crossover.
    tone = "light" if _luminance(colour) > 0.179 else "dark"
    label = escape(value.replace("_", " "))
    return (
        f'<span class="badge {tone}" style="background:{colour}" '
        f'data-value="{escape(value)}">{label}</span>'
    )


def _reasons(level: str, reasons: Sequence[str]) -> str:
    items = "".join(f"<li>{escape(r)}</li>" for r in reasons)
    return escape(level) + (f'<ul class="reasons">{items}</ul>' if items else "")


def _table(cls: str, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _td(text: object, cls: str = "") -> str:
    return f'<td class="{cls}">{escape(str(text))}</td>' if cls else f"<td>{escape(str(text))}</td>"


def _incident_row(incident: Incident) -> list[str]:
    methods = _methods(incident.methods, ", ", "{} ({})")
    blocking = incident.blocking.value if incident.blocking else "—"
    return [
        _td(incident.platform),
        _td(f"{incident.network} {incident.network_name}".strip()),
        _td(_when(incident.start)),
        _td(_when(incident.end)),
        _td(_when(incident.onset_after)),
        _td(_when(incident.ended_before)),
        f"<td>{_badge(incident.verdict.value, VERDICT_COLOURS[incident.verdict])}</td>",
        f"<td>{escape(blocking)}<br><small>{escape(methods)}</small></td>",
        "<td>" + "<br>".join(escape(e) for e in incident.endpoints) + "</td>",
        _td(incident.measurements, "n"),
        _td(incident.probes, "n"),
        f"<td>{_reasons(incident.confidence.value, incident.confidence_reasons)}</td>",
    ]


def _incidents_html(report: Report) -> str:
    if not report.incidents:
        return "<p>No platform was found blocked or throttled in this period.</p>"
    headers = ["Platform", "Network", "Start (UTC)", "End (UTC)", "Began after", "Ended before"]
    headers += ["Verdict", "Blocking (methods)", "Endpoints", "Measurements", "Probes"]
    incidents = sorted(report.incidents, key=lambda i: (i.start, i.platform, i.network))
    return _table("incidents", [*headers, "Confidence"], map(_incident_row, incidents))


def _windows_html(windows: Sequence[FailureWindow], cls: str, empty: str) -> str:
    if not windows:
        return f"<p>{escape(empty)}</p>"
    rows = [
        [
            _td(", ".join(w.networks) or w.network),
            _td(", ".join(w.platforms) or w.platform),
            _td(_when(w.start)),
            _td(_when(w.end)),
            _td(_when(w.onset_after)),
            _td(_when(w.ended_before)),
            _td(w.measurements, "n"),
            _td(w.probes, "n"),
            f"<td>{_reasons(w.confidence.value, w.confidence_reasons)}</td>",
        ]
        for w in sorted(windows, key=lambda w: w.start)
    ]
    headers = ["Network(s)", "Platform(s)", "Start (UTC)", "End (UTC)", "Began after"]
    headers += ["Ended before", "Measurements", "Probes", "Confidence"]
    return _table(cls, headers, rows)


def _link(source: str | None) -> str:
    if not source:
        return ""
    if source.lower().startswith(("https://", "http://")):  # never javascript: or data:
        return f'<a href="{escape(source)}" rel="noopener noreferrer nofollow">{escape(source)}</a>'
    return escape(source)


def _claim_row(number: int, assessed: AssessedClaim) -> list[str]:
    claim = assessed.claim
    return [
        _td(f"C{number}"),
        _td(f"{_when(claim.start)} – {_when(claim.end)}"),
        _td(claim.network or "all networks"),
        _td(", ".join(claim.platforms) or "all platforms"),
        _td(claim.statement),
        _td(claim.said_by or "—"),
        f"<td>{_link(claim.source)}</td>",
        f'<td class="finding">{_badge(assessed.finding.value, FINDING_COLOURS[assessed.finding])}'
        "</td>",
        _td(assessed.summary),
    ]


def _claims_html(report: Report) -> str:
    if not report.claims:
        return "<p>No claims were given.</p>"
    headers = ["#", "Period (UTC)", "Network", "Platforms", "Statement", "Said by", "Source"]
    rows = (_claim_row(i, c) for i, c in enumerate(report.claims, 1))
    return _table("claims", [*headers, "Finding", "Summary"], rows)


def _plotted_claims(report: Report, layout: _Layout) -> list[tuple[int, AssessedClaim]]:
    return [
        (number, c)
        for number, c in enumerate(report.claims, 1)
        if _epoch(c.claim.end) >= layout.start and _epoch(c.claim.start) <= layout.end
    ]


def _notes(report: Report, layout: _Layout) -> list[str]:
    notes = []
    if layout.left_out:
        shown, total = len(layout.lanes), len(layout.lanes) + len(layout.left_out)
        names = ", ".join(f"{lane.network} · {lane.platform}" for lane in layout.left_out[:10])
        more = " …" if len(layout.left_out) > 10 else ""
        notes.append(
            f"Showing {shown} of {total} network × platform lanes; {total - shown} with the"
            f" fewest incidents and blocked or throttled measurements were left out ({names}"
            f"{more}). The tables list every incident."
        )
    if layout.rows_total > len(layout.rows):
        notes.append(f"The heat map shows {len(layout.rows)} of {layout.rows_total} platforms.")
    if layout.merged > 1:
        notes.append(
            f"Each plot column merges {layout.merged} buckets ({_duration(layout.column_s)})."
        )
    plotted = len(_plotted_claims(report, layout))
    if plotted < len(report.claims):
        notes.append(f"{len(report.claims) - plotted} claim(s) lie outside the plotted period.")
    if plotted > MAX_CLAIM_ROWS:
        notes.append(f"At most {MAX_CLAIM_ROWS} claims are marked on each timeline.")
    return notes


def _plots_html(report: Report, layout: _Layout) -> str:
    parts = [f'<p class="note">{escape(n)}</p>' for n in _notes(report, layout)]
    parts.append('<section id="timeline"><h2>Timeline</h2>')
    if not layout.lanes:
        parts.append("<p>The report holds no timeline.</p>")
    claims = _plotted_claims(report, layout)
    for platform in dict.fromkeys(lane.platform for lane in layout.lanes):
        lanes = [lane for lane in layout.lanes if lane.platform == platform]
        marked = [(n, c) for n, c in claims if _claim_covers(c, platform)]
        svg = _timeline_svg(platform, lanes, layout, report, marked)
        parts.append(f'<h3>{escape(platform)}</h3><div class="plot">{svg}</div>')
    parts.append('</section><section id="heatmap"><h2>Blocked or throttled, by platform</h2>')
    parts.append(
        "<p>Colour: the share of each column's measurements (all networks) that were blocked"
        ' or throttled, from <span class="badge light" style="background:#fff7ec">0%</span> to '
        '<span class="badge dark" style="background:#7f0000">100%</span>.</p>'
    )
    if layout.rows:
        parts.append(f'<div class="plot">{_heatmap_svg(layout)}</div>')
    parts.append("</section>")
    return "".join(parts)


def html_report(report: Report) -> str:
    """Return the report as one self-contained HTML page (inline CSS and SVG, no script)."""
    empty = report.scope.measurements == 0 and not report.timeline
    layout = None if empty else _layout(report)
    parts = [_header(report, layout), _legend()]
    if layout is None:
        parts.append('<p class="empty">No measurements in this period.</p>')
    else:
        parts.append(_plots_html(report, layout))
        parts.append(f'<section id="incidents"><h2>Incidents</h2>{_incidents_html(report)}')
        outages = _windows_html(report.outages, "outages", "No network outage was seen.")
        parts.append(f'</section><section id="outages"><h2>Network outages</h2>{outages}')
        down = _windows_html(report.platform_down, "platform-down", "No platform was down.")
        parts.append(f'</section><section id="platform-down"><h2>Platforms down</h2>{down}')
        parts.append("</section>")
    parts.append(f'<section id="claims"><h2>Claims</h2>{_claims_html(report)}</section>')
    footer = (
        f"Generated {_when(report.generated_at)} UTC by probe {report.software_version} "
        f"({report.engine})."
    )
    title = escape(f"probe report: {_period(report)}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_CSS}</style></head><body>{_DEFS}"
        f"{''.join(parts)}<footer>{escape(footer)}</footer></body></html>\n"
    )


# ── CSV ────────────────────────────────────────────────────────────────────────────────────


def _csv_cell(value: object) -> str:
    # A spreadsheet runs a cell that begins with = + - @ as a formula: claims come from users.
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _incident_record(incident: Incident) -> dict[str, object]:
    return {
        "record": "incident",
        "network": incident.network,
        "network_name": incident.network_name,
        "platform": incident.platform,
        "start": _iso(incident.start),
        "end": _iso(incident.end),
        "onset_after": _iso(incident.onset_after),
        "ended_before": _iso(incident.ended_before),
        "verdict": incident.verdict.value,
        "blocking": incident.blocking.value if incident.blocking else "",
        "methods": _methods(incident.methods),
        "endpoints": ";".join(incident.endpoints),
        "measurements": incident.measurements,
        "probes": incident.probes,
        "confidence": incident.confidence.value,
        "summary": "; ".join(incident.confidence_reasons),
    }


def _window_record(window: FailureWindow) -> dict[str, object]:
    outage = window.kind == WindowKind.NETWORK_OUTAGE
    return {
        "record": window.kind.value,
        "network": ";".join(window.networks) or window.network,
        "platform": ";".join(window.platforms) or window.platform,
        "start": _iso(window.start),
        "end": _iso(window.end),
        "onset_after": _iso(window.onset_after),
        "ended_before": _iso(window.ended_before),
        "verdict": (Verdict.NETWORK_OUTAGE if outage else Verdict.SERVICE_DOWN).value,
        "measurements": window.measurements,
        "probes": window.probes,
        "confidence": window.confidence.value,
        "summary": "; ".join(window.confidence_reasons),
    }


def _claim_record(assessed: AssessedClaim) -> dict[str, object]:
    claim, evidence = assessed.claim, assessed.evidence
    methods: Counter[str] = Counter()
    for blocked in evidence.blocked:
        methods.update(blocked.methods)
    return {
        "record": "claim",
        "network": claim.network or "",
        "platform": ";".join(claim.platforms),
        "start": _iso(claim.start),
        "end": _iso(claim.end),
        "methods": _methods(methods),
        "measurements": evidence.measurements,
        "probes": evidence.probes,
        "finding": assessed.finding.value,
        "statement": claim.statement,
        "source": claim.source or "",
        "summary": assessed.summary,
    }


def csv_report(report: Report) -> str:
    """Return incidents, outage and platform-down windows and claims as one CSV with a header.

    Times are ISO 8601 UTC ("…Z"); lists are ";"-joined; an empty network or platform on a
    claim row means all of them. A cell that would start a spreadsheet formula gets a "'".
    """
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    records = [_incident_record(i) for i in report.incidents]
    records += [_window_record(w) for w in [*report.outages, *report.platform_down]]
    records += [_claim_record(c) for c in report.claims]
    for record in records:
        writer.writerow({key: _csv_cell(value) for key, value in record.items()})
    return out.getvalue()


# ── terminal ───────────────────────────────────────────────────────────────────────────────

_VERDICT_STYLE = {
    "accessible": "green",
    "blocked": "bold red",
    "throttled": "dark_orange",
    "network_outage": "yellow",
    "service_down": "magenta",
    "inconclusive": "dim",
}  # the same colours as probe check's table
_FINDING_STYLE = {
    ClaimFinding.CONSISTENT_WITH_OUTAGE: "bold white on grey35",
    ClaimFinding.CONTRADICTED_BY_BLOCKING: "bold white on red3",
    ClaimFinding.PLATFORM_OUTAGE: "bold white on purple4",
    ClaimFinding.INSUFFICIENT_DATA: "black on grey78",
}


def _minute(moment: datetime | None) -> str:
    return "open" if moment is None else _at(_epoch(moment)).strftime("%Y-%m-%d %H:%M")


def _scope_line(report: Report) -> Text:
    from rich.text import Text

    scope = report.scope
    line = Text.assemble(
        ("Report ", "bold"),
        f"{_minute(scope.since or scope.first_measurement)} – "
        f"{_minute(scope.until or scope.last_measurement)} UTC · ",
        scope.source,
        f" · {scope.measurements} measurements, {scope.probes} probe(s), "
        f"{len(scope.networks)} network(s), {len(scope.platforms)} platform(s)",
    )
    if scope.skipped_records:
        line.append(f" · {scope.skipped_records} record(s) skipped", "yellow")
    return line


def _span_text(start: datetime, end: datetime) -> str:
    return f"{_minute(start)}\n→ {_minute(end)}"


def _windows_table(title: str, windows: Sequence[FailureWindow]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("Networks", overflow="fold", max_width=30)
    table.add_column("Platforms", overflow="fold", max_width=24)
    table.add_column("Start → end (UTC)", no_wrap=True)
    table.add_column("Meas.", justify="right")
    table.add_column("Probes", justify="right")
    table.add_column("Conf.")
    for w in sorted(windows, key=lambda w: w.start, reverse=True):
        table.add_row(
            Text(", ".join(w.networks) or w.network),
            Text(", ".join(w.platforms) or w.platform),
            _span_text(w.start, w.end),
            str(w.measurements),
            str(w.probes),
            w.confidence.value,
        )
    return table


def _incidents_table(incidents: Sequence[Incident]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Incidents (most recent first)", title_justify="left", header_style="bold")
    table.add_column("Platform", overflow="fold", max_width=20)
    table.add_column("Network", overflow="fold", max_width=22)
    table.add_column("Start → end (UTC)", no_wrap=True)
    table.add_column("Verdict", no_wrap=True)
    table.add_column("Method", overflow="fold")
    table.add_column("Meas.", justify="right")
    table.add_column("Conf.")
    for i in sorted(incidents, key=lambda i: (i.start, i.end), reverse=True):
        table.add_row(
            Text(i.platform),
            Text(f"{i.network} {i.network_name}".strip()),
            _span_text(i.start, i.end),
            Text(i.verdict.value, _VERDICT_STYLE.get(i.verdict.value, "")),
            i.blocking.value if i.blocking else "–",
            str(i.measurements),
            i.confidence.value,
        )
    return table


def _claims_table(claims: Sequence[AssessedClaim]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Claims", title_justify="left", header_style="bold")
    table.add_column("#", no_wrap=True)
    table.add_column("Period (UTC)", no_wrap=True)
    table.add_column("Network", overflow="fold", max_width=14)
    table.add_column("Statement", overflow="fold", ratio=1)
    table.add_column("Said by", overflow="fold", max_width=14)
    table.add_column("Finding", no_wrap=True)
    for number, c in enumerate(claims, 1):
        table.add_row(
            f"C{number}",
            _span_text(c.claim.start, c.claim.end),
            Text(c.claim.network or "all"),
            Text(c.claim.statement),
            Text(c.claim.said_by or "–"),
            Text(c.finding.value, _FINDING_STYLE[c.finding]),
        )
    return table


def print_report(report: Report, console: Console) -> None:
    """Print a summary of `report`: scope, incidents, windows and claims with their findings."""
    from rich.text import Text

    console.print(_scope_line(report))
    if report.scope.measurements == 0 and not report.timeline:
        console.print("No measurements in this period.", style="bold yellow")
    elif report.incidents:
        console.print(_incidents_table(report.incidents))
    else:
        console.print("No platform was found blocked or throttled.", style="green")
    if report.outages:
        console.print(_windows_table("Network outages", report.outages))
    if report.platform_down:
        console.print(_windows_table("Platforms down", report.platform_down))
    if not report.claims:
        return
    console.print(_claims_table(report.claims))
    for number, c in enumerate(report.claims, 1):
        finding = (c.finding.value, _FINDING_STYLE[c.finding])
        console.print(Text.assemble((f"C{number} ", "bold"), finding, ": ", c.summary))
