"""The collector's public pages: server-rendered HTML and SVG, no script.

Pure: models in, text out. The plots, colours, window tables and claim tables are the HTML
report's (report/plots.py, report/html.py); this module adds the "now" matrix, the page shell
with its navigation, and the incident's evidence. Every string is escaped; probe identities
appear nowhere (counts only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape
from urllib.parse import quote

from probe.collector.views import Evidence, incident_id
from probe.models.live import LiveCell, LiveNow
from probe.models.reports import AssessedClaim, Incident, Report
from probe.report.html import _CSS, _badge, _claims_html, _legend, _windows_sections, style_source
from probe.report.palette import LIVE_STATES
from probe.report.plots import (
    FINDING_COLOURS,
    SVG_DEFS,
    VERDICT_COLOURS,
    methods_text,
    plot_layout,
    timeline_svgs,
    when_text,
)

STATE_COLOURS: dict[str, str] = {state: swatch.colour for state, swatch in LIVE_STATES.items()}
_LIVE_CSS = """
nav{display:flex;gap:1.2em;padding:.4em 0;border-bottom:1px solid #ccc;margin-bottom:.6em}
nav a{font-weight:600}a{color:#0b5394}
table.now td{min-width:9em}table.now th[scope=row]{white-space:nowrap}
.state{display:block}.meta{font-size:12px;color:#333}
"""
_STYLESHEET = _CSS + _LIVE_CSS
# Served with every page (web.py): nothing runs and nothing loads but the page itself; its one
# stylesheet is allowed by its hash, colours are set by class (palette.swatch_class).
CSP = (
    f"default-src 'none'; style-src {style_source(_STYLESHEET)}; img-src 'self' data:;"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _page(title: str, body: str, generated: str) -> str:
    nav = (
        '<nav aria-label="pages"><a href="/">Now</a><a href="/claims">Claims</a>'
        '<a href="/api/v1/now">JSON: now</a><a href="/api/v1/incidents">JSON: incidents</a></nav>'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLESHEET}</style></head><body>"
        f"{SVG_DEFS}<header>{nav}<h1>{escape(title)}</h1></header><main>{body}</main>"
        f"<footer>Generated {escape(generated)} UTC by the probe collector. Times are UTC."
        " Probes are counted, never named.</footer></body></html>\n"
    )


def _cell(cell: LiveCell | None) -> str:
    if cell is None:
        return '<td class="none">not measured</td>'
    badge = _badge(cell.state.value, STATE_COLOURS[cell.state])
    label = f"by {escape(cell.blocking)}" if cell.blocking else ""
    state = f'<span class="state">{badge}{" " + label if label else ""}</span>'
    probes = f"{cell.probes} probe{'s' * (cell.probes != 1)}"
    meta = (
        f'<span class="meta">since {escape(when_text(cell.since))}<br>'
        f"last {escape(when_text(cell.last_measured))} · {probes}</span>"
    )
    link = f'<br><a href="{escape(cell.incident)}">incident</a>' if cell.incident else ""
    return (
        f'<td data-network="{escape(cell.network)}" data-platform="{escape(cell.platform)}"'
        f' data-state="{escape(cell.state.value)}">{state}{meta}{link}</td>'
    )


def now_page(now: LiveNow) -> str:
    """The matrix of networks × platforms: the latest state of each, since when, how many probes."""
    if not now.cells:
        body = '<p class="empty">No measurements yet.</p>'
        return _page("Now: no measurements yet", body, when_text(now.generated_at))
    by_key = {(c.network, c.platform): c for c in now.cells}
    names = {c.network: c.network_name for c in now.cells}
    head = "".join(
        f'<th scope="col"><a href="/platform/{quote(p, safe="")}">{escape(p)}</a></th>'
        for p in now.platforms
    )
    rows = []
    for network in now.networks:
        label = f"{network} {names.get(network, '')}".strip()
        cells = "".join(_cell(by_key.get((network, p))) for p in now.platforms)
        rows.append(
            f'<tr><th scope="row"><a href="/network/{quote(network, safe="")}">'
            f"{escape(label)}</a></th>{cells}</tr>"
        )
    hours = now.stale_after_s / 3600
    body = (
        f"<p>The latest measurement of each platform on each network. A cell with nothing newer"
        f" than {hours:g} h shows <em>no recent data</em>. Pick a network or a platform for its"
        " timeline.</p>"
        '<table class="now"><caption>Networks × platforms, latest state</caption>'
        f'<thead><tr><th scope="col">Network</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return _page("Now: is it blocked?", body, when_text(now.generated_at))


def _incident_rows(incidents: Iterable[Incident]) -> str:
    rows = []
    for i in sorted(incidents, key=lambda i: i.start, reverse=True):
        methods = methods_text(i.methods, ", ", "{} ({})")
        rows.append(
            f'<tr><td><a href="/incident/{escape(incident_id(i))}">{escape(i.platform)} on'
            f" {escape(i.network)}</a></td><td>{escape(when_text(i.start))}</td>"
            f"<td>{escape(when_text(i.end))}</td><td>{escape(when_text(i.ended_before, 'still'))}"
            f"</td><td>{_badge(i.verdict.value, VERDICT_COLOURS[i.verdict])}</td>"
            f'<td>{escape(methods or "—")}</td><td class="n">{i.measurements}</td>'
            f'<td class="n">{i.probes}</td><td>{escape(i.confidence.value)}</td></tr>'
        )
    if not rows:
        return "<p>No incident in this period.</p>"
    head = "".join(f'<th scope="col">{h}</th>' for h in (
        "Incident", "Start (UTC)", "End (UTC)", "Ended before", "Verdict", "Methods",
        "Measurements", "Probes", "Confidence"))  # fmt: skip
    body = "".join(rows)
    return f'<table class="incidents"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def timeline_page(report: Report, title: str, days: int) -> str:
    """A platform's or a network's last days: timelines, incidents, windows and claims."""
    parts = [f"<p>The last {days} days, hour by hour.</p>", _legend()]
    if report.timeline or report.incidents:
        layout = plot_layout(report)
        parts.append('<section id="timeline"><h2>Timeline</h2>')
        for platform, svg in timeline_svgs(report, layout).items():
            parts.append(f'<h3>{escape(platform)}</h3><div class="plot">{svg}</div>')
        parts.append("</section>")
    else:
        parts.append('<p class="empty">No measurements in this period.</p>')
    parts.append(f'<section id="incidents"><h2>Incidents</h2>{_incident_rows(report.incidents)}')
    parts.append(f"</section>{_windows_sections(report)}")
    parts.append(f'<section id="claims"><h2>Claims</h2>{_claims_html(report)}</section>')
    return _page(title, "".join(parts), when_text(report.generated_at))


def incident_page(incident: Incident, found: Sequence[Evidence], total: int, at: str) -> str:
    """One incident and the measurements behind it, each linked to its JSON."""
    i = incident
    facts = [
        ("Platform", f'<a href="/platform/{quote(i.platform, safe="")}">{escape(i.platform)}</a>'),
        ("Network", f'<a href="/network/{quote(i.network, safe="")}">'
                    f"{escape(f'{i.network} {i.network_name}'.strip())}</a>"),
        ("Verdict", _badge(i.verdict.value, VERDICT_COLOURS[i.verdict])),
        ("Technique", escape(i.blocking.value if i.blocking else "—")),
        ("Methods", escape(methods_text(i.methods, ", ", "{} ({})") or "—")),
        ("First measurement", escape(when_text(i.start))),
        ("Last measurement", escape(when_text(i.end))),
        ("Began after", escape(when_text(i.onset_after, "unknown (nothing accessible before)"))),
        ("Ended before", escape(when_text(i.ended_before, "not yet: may still be going on"))),
        ("Measurements", f"{i.measurements} from {i.probes} probe{'s' * (i.probes != 1)}"),
        ("Endpoints", "<br>".join(escape(e) for e in i.endpoints) or "—"),
        ("Confidence", escape(i.confidence.value)
         + "".join(f"<br>· {escape(r)}" for r in i.confidence_reasons)),
    ]  # fmt: skip
    cells = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    rows = "".join(
        f"<tr><td>{escape(when_text(e.measured_at))}</td><td>{escape(e.input)}</td>"
        f"<td>{escape(e.verdict)}</td><td>{escape(e.blocking or '—')}</td>"
        f"<td>{escape(', '.join(e.rule_ids) or '—')}</td>"
        f"<td>{'<br>'.join(escape(r) for r in e.reasons) or '—'}</td>"
        f'<td><a href="/measurements/{e.seq}.json">measurement {e.seq}</a></td></tr>'
        for e in found
    )
    more = f"<p>The first {len(found)} of {total} are listed.</p>" if total > len(found) else ""
    columns = ("Measured (UTC)", "Input", "Verdict", "Technique", "Rule ids", "Reasons", "JSON")
    head = "".join(f'<th scope="col">{h}</th>' for h in columns)
    body = (
        f'<dl class="scope">{cells}</dl><section id="evidence"><h2>Evidence</h2>{more}'
        f'<table class="evidence"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        "</section>"
    )
    title = f"{i.platform} {i.verdict.value} on {i.network}"
    return _page(title, body, at)


def claims_page(assessed: Sequence[AssessedClaim], at: str) -> str:
    """Every operator statement with its finding and the evidence."""
    parts = ["<p>Operators' statements, each judged against the measurements in its window"
             " (docs/reports.md, Claims).</p>"]  # fmt: skip
    rows = []
    for number, a in enumerate(assessed, 1):
        e = a.evidence
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(e.verdicts.items())) or "none"
        blocked = ", ".join(f"{b.platform} ({b.measurements})" for b in e.blocked) or "none"
        colour = FINDING_COLOURS[a.finding]
        rows.append(
            f'<section class="claim" id="c{number}"><h2>C{number}: {escape(a.claim.statement)}'
            f"</h2>{_claim_facts(a)}<p>{_badge(a.finding.value, colour)} {escape(a.summary)}</p>"
            f"<ul><li>Measurements: {e.measurements} from {e.probes} probe(s)</li>"
            f"<li>Verdicts: {escape(verdicts)}</li><li>Blocked: {escape(blocked)}</li></ul>"
            "</section>"
        )
    if not rows:
        parts.append("<p>No claims have been added.</p>")
    return _page("Claims", "".join(parts + rows), at)


def _claim_facts(assessed: AssessedClaim) -> str:
    """Who said it, for which period, network and platforms (linked to their timelines), and
    its source (a link only when it is an http(s) address)."""
    claim = assessed.claim
    network = claim.network or "all networks"
    if claim.network and _ASN.fullmatch(claim.network):
        network = f'<a href="/network/{quote(claim.network, safe="")}">{escape(claim.network)}</a>'
    else:
        network = escape(network)
    platforms = ", ".join(
        f'<a href="/platform/{quote(p, safe="")}">{escape(p)}</a>' for p in claim.platforms
    )
    source = escape(claim.source or "—")
    if claim.source and claim.source.startswith(("https://", "http://")):
        source = f'<a href="{escape(claim.source)}" rel="nofollow noopener">{source}</a>'
    facts = [
        ("Said by", escape(claim.said_by or "—")),
        ("Period", escape(f"{when_text(claim.start)} – {when_text(claim.end)}")),
        ("Network", network),
        ("Platforms", platforms or "all platforms"),
        ("Source", source),
    ]
    return '<dl class="scope">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"


_ASN = re.compile(r"AS\d{1,10}")


__all__ = ["CSP", "STATE_COLOURS", "claims_page", "incident_page", "now_page", "timeline_page"]
