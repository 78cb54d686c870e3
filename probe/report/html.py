"""The HTML report: one self-contained page with the scope, a legend, the plots and the tables.

Pure: a `Report` in, text out. The page opens offline: inline CSS and the inline SVG of
plots.py, no script, no external resource, and a Content-Security-Policy that forbids loading
any. Claims and inputs come from users, so every string is escaped, and only http(s) sources
become links.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from html import escape

from probe.models.reports import AssessedClaim, ClaimFinding, FailureWindow, Incident, Report
from probe.models.results import Verdict
from probe.report.formats import utc_at
from probe.report.palette import swatch_class, swatch_css, text_tone
from probe.report.plots import (
    FINDING_COLOURS,
    MAX_CLAIM_ROWS,
    SVG_DEFS,
    VERDICT_COLOURS,
    WHITELISTING,
    Layout,
    duration_text,
    heatmap_svg,
    methods_text,
    plot_layout,
    plotted_claims,
    timeline_svgs,
    verdict_fill,
    when_text,
)
from probe.report.svg import COLOUR_RULE

__all__ = ["html_report"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;
 margin:0 auto;padding:1em 1.5em;max-width:1220px}
h1{font-size:1.5em;margin:.2em 0}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
h3{margin:1em 0 .2em;font-size:1.05em}
dl.scope{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:.5em 0}
dl.scope dt{font-weight:600}dl.scope dd{margin:0}
.legend{display:flex;flex-wrap:wrap;gap:.4em 1.2em;margin:.6em 0;padding:0;list-style:none}
.legend li{display:flex;align-items:center;gap:.35em}.legend svg{border:1px solid #777}
.note{background:#fff8e1;border-left:4px solid #c98a00;padding:.4em .8em}
.empty{font-size:1.3em;padding:2em;text-align:center;background:#f4f4f4}
.plot{overflow-x:auto}.plot svg{max-width:100%;height:auto}.svg-defs{position:absolute}
p.rule{margin:.2em 0 .8em;color:#333}
table{border-collapse:collapse;width:100%;margin:.4em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:.25em .45em;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.n{text-align:right}td a{overflow-wrap:anywhere}
.badge{display:inline-block;border-radius:.8em;padding:0 .6em;font-weight:600;white-space:nowrap}
.light{color:#111}.dark{color:#fff}
ul.reasons{margin:0;padding-left:1.1em}footer{margin-top:2em;color:#555;font-size:12px}
@media (max-width:900px){body{padding:.6em .8em}.badge{white-space:normal}
 table{font-size:12px}th,td{padding:.2em .3em}}
"""
_CSS += swatch_css()


def style_source(css: str) -> str:
    """Return the CSP source that allows exactly the stylesheet `css` inline (its SHA-256)."""
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return f"'sha256-{digest}'"


# Nothing runs and nothing loads; the one stylesheet is allowed by its hash, and colours are set
# by class (palette.swatch_class), never by a style attribute.
_CSP = f"default-src 'none'; style-src {style_source(_CSS)}; img-src data:"


def _swatch(fill: str, extra: str = "", y: int = 0, height: int = 14) -> str:
    return (
        '<svg width="28" height="14" xmlns="http://www.w3.org/2000/svg">'
        f'<rect y="{y}" width="28" height="{height}" fill="{fill}" {extra}/></svg>'
    )


def _overlay(colour: str, dashes: str) -> str:
    return f'fill-opacity=".16" stroke="{colour}" stroke-dasharray="{dashes}"'


def _legend() -> str:
    items = [(_swatch(verdict_fill(v)), v.value) for v in Verdict]
    outage, down = VERDICT_COLOURS[Verdict.NETWORK_OUTAGE], VERDICT_COLOURS[Verdict.SERVICE_DOWN]
    whitelisting = VERDICT_COLOURS[WHITELISTING]
    items += [
        (_swatch(verdict_fill(WHITELISTING)), "blocked by whitelisting"),
        (_swatch("url(#pat-nodata)"), "no measurement"),
        (_swatch("#000", _overlay(outage, "4 2")), "network-outage window"),
        (_swatch(down, _overlay(down, "4 2")), "platform-down window"),
        (_swatch(whitelisting, _overlay(whitelisting, "6 2")), "whitelisting window"),
        (_swatch(VERDICT_COLOURS[Verdict.BLOCKED], y=4, height=6), "incident (bar above a lane)"),
        (
            _swatch(FINDING_COLOURS[ClaimFinding.CONTRADICTED_BY_BLOCKING], y=3, height=8),
            "claim window (C1…, coloured by finding)",
        ),
    ]
    rows = "".join(f"<li>{svg}<span>{escape(text)}</span></li>" for svg, text in items)
    rule = f'<p class="rule">{escape(COLOUR_RULE)}</p>'
    return f'<ul class="legend" aria-label="legend">{rows}</ul>{rule}'


def _period(report: Report) -> str:
    scope = report.scope
    start = scope.since or scope.first_measurement
    end = scope.until or scope.last_measurement
    return f"{when_text(start, 'open')} – {when_text(end, 'open')} UTC"


def _header(report: Report, layout: Layout | None) -> str:
    scope = report.scope
    rows = [
        ("Period", _period(report)),
        ("Source", scope.source),
        ("Measurements", f"{scope.measurements} from {scope.probes} probe(s)"),
        ("Networks", ", ".join(scope.networks) or "—"),
        ("Platforms", ", ".join(scope.platforms) or "—"),
        ("Time bucket", duration_text(max(report.bucket_seconds, 1))),
    ]
    if layout:
        plotted = f"{when_text(utc_at(layout.start))} – {when_text(utc_at(layout.end))} UTC"
        rows.append(("Plotted", plotted))
    if layout and layout.merged > 1:
        rows.append(("Plot column", f"{duration_text(layout.column_s)} ({layout.merged} buckets)"))
    if scope.skipped_records:
        reasons = "; ".join(scope.skipped_reasons[:10])
        skipped = f"{scope.skipped_records}: {reasons}" if reasons else f"{scope.skipped_records}"
        rows.append(("Skipped records", skipped))
    cells = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return f'<header><h1>Censorship measurement report</h1><dl class="scope">{cells}</dl></header>'


def _badge(value: str, colour: str) -> str:
    # Black or white text, whichever contrasts more with the badge (palette.text_tone).
    label = escape(value.replace("_", " "))
    return (
        f'<span class="badge {text_tone(colour)} {swatch_class(colour)}" '
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
    methods = methods_text(incident.methods, ", ", "{} ({})")
    blocking = incident.blocking.value if incident.blocking else "—"
    return [
        _td(incident.platform),
        _td(f"{incident.network} {incident.network_name}".strip()),
        _td(when_text(incident.start)),
        _td(when_text(incident.end)),
        _td(when_text(incident.onset_after)),
        _td(when_text(incident.ended_before)),
        f"<td>{_badge(incident.verdict.value, VERDICT_COLOURS[incident.verdict])}</td>",
        f"<td>{escape(blocking)}<br><small>{escape(methods)}</small></td>",
        "<td>" + "<br>".join(escape(e) for e in incident.endpoints) + "</td>",
        _td(incident.measurements, "n"),
        _td(incident.probes, "n"),
        f"<td>{_reasons(incident.confidence.value, incident.confidence_reasons)}</td>",
    ]


def _incidents_html(report: Report) -> str:
    if not report.incidents and report.whitelisting:
        return (
            "<p>No platform was found blocked or throttled by a method of its own in this"
            ' period; platforms cut by whitelisting are under <a href="#whitelisting">'
            "Whitelisting</a>.</p>"
        )
    if not report.incidents:
        return "<p>No platform was found blocked or throttled in this period.</p>"
    headers = ["Platform", "Network", "Start (UTC)", "End (UTC)", "Began after", "Ended before"]
    headers += ["Verdict", "Blocking (methods)", "Endpoints", "Measurements", "Probes"]
    incidents = sorted(report.incidents, key=lambda i: (i.start, i.platform, i.network))
    return _table("incidents", [*headers, "Confidence"], map(_incident_row, incidents))


def _window_row(window: FailureWindow, sites: bool) -> list[str]:
    row = [
        _td(", ".join(window.networks) or window.network),
        _td(", ".join(window.platforms) or window.platform),
    ]
    if sites:
        row.append("<td>" + "<br>".join(escape(s) for s in window.sites_loaded) + "</td>")
    return [
        *row,
        _td(when_text(window.start)),
        _td(when_text(window.end)),
        _td(when_text(window.onset_after)),
        _td(when_text(window.ended_before)),
        _td(window.measurements, "n"),
        _td(window.probes, "n"),
        f"<td>{_reasons(window.confidence.value, window.confidence_reasons)}</td>",
    ]


def _windows_html(
    windows: Sequence[FailureWindow], cls: str, empty: str, *, sites: bool = False
) -> str:
    if not windows:
        return f"<p>{escape(empty)}</p>"
    rows = [_window_row(w, sites) for w in sorted(windows, key=lambda w: w.start)]
    headers = ["Network(s)", "Platform(s) cut" if sites else "Platform(s)"]
    headers += ["Loaded meanwhile (control sites)"] if sites else []
    headers += ["Start (UTC)", "End (UTC)", "Began after", "Ended before", "Measurements"]
    return _table(cls, [*headers, "Probes", "Confidence"], rows)


_WHITELISTING_NOTE = (
    "<p>The network admitted only allow-listed destinations: targets failed as every control"
    " site abroad did, while domestic sites or other targets loaded. A deliberate cut, never an"
    " outage (docs/methodology.md).</p>"
)


def _windows_sections(report: Report) -> str:
    outages = _windows_html(report.outages, "outages", "No network outage was seen.")
    whitelisting = _windows_html(
        report.whitelisting, "whitelisting", "No whitelisting was seen.", sites=True
    )
    note = _WHITELISTING_NOTE if report.whitelisting else ""
    down = _windows_html(report.platform_down, "platform-down", "No platform was down.")
    return (
        f'<section id="whitelisting"><h2>Whitelisting</h2>{note}{whitelisting}</section>'
        f'<section id="outages"><h2>Network outages</h2>{outages}</section>'
        f'<section id="platform-down"><h2>Platforms down</h2>{down}</section>'
    )


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
        _td(f"{when_text(claim.start)} – {when_text(claim.end)}"),
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


def _notes(report: Report, layout: Layout) -> list[str]:
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
            f"Each plot column merges {layout.merged} buckets ({duration_text(layout.column_s)})."
        )
    plotted = len(plotted_claims(report, layout))
    if plotted < len(report.claims):
        notes.append(f"{len(report.claims) - plotted} claim(s) lie outside the plotted period.")
    if plotted > MAX_CLAIM_ROWS:
        notes.append(f"At most {MAX_CLAIM_ROWS} claims are marked on each timeline.")
    return notes


def _plots_html(report: Report, layout: Layout) -> str:
    parts = [f'<p class="note">{escape(n)}</p>' for n in _notes(report, layout)]
    parts.append('<section id="timeline"><h2>Timeline</h2>')
    if not layout.lanes:
        parts.append("<p>The report holds no timeline.</p>")
    for platform, svg in timeline_svgs(report, layout).items():
        parts.append(f'<h3>{escape(platform)}</h3><div class="plot">{svg}</div>')
    parts.append('</section><section id="heatmap"><h2>Blocked or throttled, by platform</h2>')
    parts.append(
        "<p>Colour: the share of each column's measurements (all networks) that were blocked"
        " (whitelisting included) or throttled, from"
        ' <span class="badge light sw-fff7ec">0%</span> to '
        '<span class="badge dark sw-7f0000">100%</span>.</p>'
    )
    if layout.rows:
        parts.append(f'<div class="plot">{heatmap_svg(layout)}</div>')
    parts.append("</section>")
    return "".join(parts)


def html_report(report: Report) -> str:
    """Return the report as one self-contained HTML page (inline CSS and SVG, no script)."""
    empty = report.scope.measurements == 0 and not report.timeline
    layout = None if empty else plot_layout(report)
    parts = [_header(report, layout), _legend()]
    if layout is None:
        parts.append('<p class="empty">No measurements in this period.</p>')
    else:
        parts.append(_plots_html(report, layout))
        parts.append(f'<section id="incidents"><h2>Incidents</h2>{_incidents_html(report)}')
        parts.append(f"</section>{_windows_sections(report)}")
    parts.append(f'<section id="claims"><h2>Claims</h2>{_claims_html(report)}</section>')
    footer = (
        f"Generated {when_text(report.generated_at)} UTC by probe {report.software_version} "
        f"({report.engine})."
    )
    title = escape(f"probe report: {_period(report)}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_CSS}</style></head><body>{SVG_DEFS}"
        f"{''.join(parts)}<footer>{escape(footer)}</footer></body></html>\n"
    )
